"""Alert delivery: the notification channels per category, webhooks signed with HMAC-SHA256 and retried with
back-off, email over SMTP, and the outbox drained by dispatchers that never send a row twice.

The receivers are real: an HTTP server (http.server in a thread) and an SMTP server (aiosmtpd), each on a free
loopback port. The in-process API server runs no dispatcher (DELIVERY_INTERVAL=0): each test runs the real
dispatcher's passes itself, at the times it chooses."""

from __future__ import annotations

import asyncio
import email
import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller

from graphql_api.client import GraphQLClient
from graphql_api.pagination import to_global_id
from graphql_api.services.alerts.delivery import Dispatcher
from models.alerts import AlertDelivery, DeliveryAttempt
from models.audit import AuditEntry

from .accounts import Account, as_user
from .compliance_support import pk
from .support import ServerHandle, free_port

pytestmark = pytest.mark.usefixtures("admin")

CREATE = """mutation($u: String!, $s: String) { createWebhook(url: $u, secret: $s) { __typename
  ... on WebhookCreated { secret webhook { id url active } } ... on UserError { code field } } }"""
DELETE = """mutation($id: ID!) { deleteWebhook(id: $id) { __typename ... on WebhookDeleted { deletedId }
  ... on UserError { code field } } }"""
TEST_ALERT = """mutation($s: AlertSeverity!, $m: String) { sendTestAlert(severity: $s, message: $m) {
  ... on AlertChanged { alert { id title read } } } }"""
PREFS = """mutation($i: NotificationPreferencesInput!) { updateNotificationPreferences(input: $i) {
  ... on UserUpdated { user { notificationPreferences { email channels { category inApp webhook email } } } } } }"""
DELIVERIES = """{ alertDeliveries(first: 20) { totalCount edges { node { alertId alertTitle channel target status
  attempts deliveredAt attemptLog { attempt ok statusCode error } } } } }"""


@dataclass
class Posted:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver answering each POST with the next status of ``statuses`` (then 200)."""

    statuses: list[int] = field(default_factory=list)
    posts: list[Posted] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.posts.append(Posted({k.lower(): v for k, v in self.headers.items()}, body))
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks/alerts"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def dispatcher(server: ServerHandle, smtp_port: int | None = None) -> Dispatcher:
    settings = replace(server.settings, delivery_backoff=2.0, webhook_timeout=5.0)
    if smtp_port is not None:
        settings = replace(settings, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_from="alerts@platform.test")
    return Dispatcher(settings)


async def _test_alert(client: GraphQLClient, message: str, severity: str = "LOW") -> dict[str, Any]:
    alert: dict[str, Any] = (await client.query(TEST_ALERT, {"s": severity, "m": message}))["sendTestAlert"]["alert"]
    return alert


async def _deliveries(client: GraphQLClient) -> list[dict[str, Any]]:
    return [e["node"] for e in (await client.query(DELIVERIES))["alertDeliveries"]["edges"]]


def _posts_to(receiver: Receiver, user_alert_ids: set[str]) -> list[Posted]:
    return [p for p in receiver.posts if orjson.loads(p.body)["alert"]["id"] in user_alert_ids]


async def test_webhook_is_signed_and_email_carries_the_title(
    server: ServerHandle, api: GraphQLClient, trader: Account, receiver: Receiver, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    secret = "s3cret-for-the-receiver-only"
    async with as_user(api.base_url, trader) as client:
        made = (await client.query(CREATE, {"u": receiver.url, "s": secret}))["createWebhook"]
        assert (made["__typename"], made["secret"], made["webhook"]["url"]) == ("WebhookCreated", secret, receiver.url)
        listed = (await client.query("{ webhooks { id url active } }"))["webhooks"]
        assert listed == [made["webhook"]]
        alert = await _test_alert(client, "checking the channels")
        before = datetime.now(UTC)
        await dispatcher(server, port).run_once()
        after = datetime.now(UTC)

        [post] = receiver.posts
        timestamp = post.headers["x-alert-timestamp"]
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + post.body, hashlib.sha256).hexdigest()
        assert post.headers["x-alert-signature"] == "sha256=" + expected
        assert int(before.timestamp()) <= int(timestamp) <= int(after.timestamp())
        assert post.headers["content-type"] == "application/json"
        payload = orjson.loads(post.body)
        assert (payload["alert"]["title"], payload["alert"]["message"]) == ("Test alert", "checking the channels")
        assert payload["alert"]["severity"] == "LOW"
        assert payload["deliveryId"] == post.headers["x-alert-delivery"]
        forged = hmac.new(b"another secret", timestamp.encode() + b"." + post.body, hashlib.sha256).hexdigest()
        assert post.headers["x-alert-signature"] != "sha256=" + forged

        [mail] = mailbox.to(trader.email)
        assert (mail["Subject"], mail["To"], mail["From"]) == ("Test alert", trader.email, "alerts@platform.test")
        assert "checking the channels" in mail.get_payload()

        log = await _deliveries(client)
        assert sorted((d["channel"], d["target"], d["status"], d["attempts"]) for d in log) == [
            ("EMAIL", trader.email, "DELIVERED", 1),
            ("WEBHOOK", receiver.url, "DELIVERED", 1),
        ]
        assert {d["alertId"] for d in log} == {alert["id"]}
        assert {d["alertTitle"] for d in log} == {"Test alert"}
        webhook_log = next(d for d in log if d["channel"] == "WEBHOOK")
        assert webhook_log["attemptLog"] == [{"attempt": 1, "ok": True, "statusCode": 200, "error": ""}]

        # Delivered rows are never sent again.
        await dispatcher(server, port).run_once()
        assert (len(receiver.posts), len(mailbox.to(trader.email))) == (1, 1)

        gone = (await client.query(DELETE, {"id": made["webhook"]["id"]}))["deleteWebhook"]
        assert gone == {"__typename": "WebhookDeleted", "deletedId": made["webhook"]["id"]}
        assert (await client.query("{ webhooks { id } }"))["webhooks"] == []
        await _test_alert(client, "after the webhook went")
        await dispatcher(server, port).run_once()
        assert (len(receiver.posts), len(mailbox.to(trader.email))) == (1, 2)
    user = pk(trader.user_id)
    audited = await AuditEntry.filter(actor_id=user, action__in=["webhook.create", "webhook.delete"]).count()
    assert audited == 2


async def test_channels_per_category_decide_where_alerts_go(
    server: ServerHandle, api: GraphQLClient, trader: Account, receiver: Receiver, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    async with as_user(api.base_url, trader) as client:
        await client.query(CREATE, {"u": receiver.url, "s": None})
        changed = await client.query(
            PREFS, {"i": {"channels": [{"category": "SYSTEM", "email": False, "inApp": False}]}}
        )
        rows = changed["updateNotificationPreferences"]["user"]["notificationPreferences"]["channels"]
        system = next(r for r in rows if r["category"] == "SYSTEM")
        assert system == {"category": "SYSTEM", "inApp": False, "webhook": True, "email": False}
        assert all(r["inApp"] and r["webhook"] and r["email"] for r in rows if r["category"] != "SYSTEM")
        # A later change of another cell keeps this one.
        await client.query(PREFS, {"i": {"channels": [{"category": "SYSTEM", "webhook": True}]}})

        quiet = await _test_alert(client, "webhook only")
        assert quiet["read"] is True  # IN_APP off: kept, written read
        assert (await client.query("{ unreadAlertCount }"))["unreadAlertCount"] == 0
        critical = await _test_alert(client, "an emergency", severity="CRITICAL")
        assert critical["read"] is False  # CRITICAL ignores the matrix
        await dispatcher(server, port).run_once()

        titles = [orjson.loads(p.body)["alert"]["message"] for p in receiver.posts]
        assert sorted(titles) == ["an emergency", "webhook only"]
        assert [m.get_payload().splitlines()[0] for m in mailbox.to(trader.email)] == ["an emergency"]

        await client.query(PREFS, {"i": {"email": False}})
        await _test_alert(client, "critical, email off", severity="CRITICAL")
        await dispatcher(server, port).run_once()
        assert len(mailbox.to(trader.email)) == 1
        assert len(receiver.posts) == 3

        refused = await client.execute(
            "mutation($i: NotificationPreferencesInput!) { updateNotificationPreferences(input: $i) { __typename } }",
            {"i": {"channels": [{"category": "NOPE", "email": False}]}},
        )
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_failing_receiver_is_retried_with_back_off_until_one_success(
    server: ServerHandle, api: GraphQLClient, trader: Account, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    async with as_user(api.base_url, trader) as client:
        made = (await client.query(CREATE, {"u": receiver.url, "s": None}))["createWebhook"]
        secret = made["secret"]
        assert secret.startswith("whsec_") and len(secret) > 30
        await client.query(PREFS, {"i": {"channels": [{"category": "SYSTEM", "email": False}]}})
        alert = await _test_alert(client, "retry me")
        [row] = await AlertDelivery.filter(user_id=pk(trader.user_id))
        assert row.channel == "WEBHOOK"
        worker = dispatcher(server)
        t0 = datetime.now(UTC)

        await worker.run_once(t0)
        assert len(receiver.posts) == 1
        await row.refresh_from_db()
        assert (row.status, row.attempts, row.next_attempt_at) == ("PENDING", 1, t0 + timedelta(seconds=2))
        await worker.run_once(t0 + timedelta(seconds=1.9))  # still backing off
        assert len(receiver.posts) == 1

        t1 = t0 + timedelta(seconds=2)
        await worker.run_once(t1)
        assert len(receiver.posts) == 2
        await row.refresh_from_db()
        assert (row.status, row.attempts, row.next_attempt_at) == ("PENDING", 2, t1 + timedelta(seconds=4))
        await worker.run_once(t1 + timedelta(seconds=3.9))
        assert len(receiver.posts) == 2

        await worker.run_once(t1 + timedelta(seconds=4))
        await worker.run_once(t1 + timedelta(seconds=60))
        assert len(receiver.posts) == 3
        for post in receiver.posts:
            signed = post.headers["x-alert-timestamp"].encode() + b"." + post.body
            assert (
                post.headers["x-alert-signature"]
                == "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
            )
        assert {orjson.loads(p.body)["alert"]["id"] for p in receiver.posts} == {pk(alert["id"])}
        [logged] = await _deliveries(client)
        assert (logged["status"], logged["attempts"]) == ("DELIVERED", 3)
        assert logged["attemptLog"] == [
            {"attempt": 1, "ok": False, "statusCode": 500, "error": "HTTP 500"},
            {"attempt": 2, "ok": False, "statusCode": 503, "error": "HTTP 503"},
            {"attempt": 3, "ok": True, "statusCode": 200, "error": ""},
        ]
    assert await DeliveryAttempt.filter(delivery_id=row.id, ok=True).count() == 1


async def test_a_dispatcher_dying_after_its_claim_loses_nothing_and_racing_ones_send_once(
    server: ServerHandle, api: GraphQLClient, trader: Account, receiver: Receiver
) -> None:
    async with as_user(api.base_url, trader) as client:
        await client.query(CREATE, {"u": receiver.url, "s": "another receiver secret"})
        await client.query(PREFS, {"i": {"channels": [{"category": "SYSTEM", "email": False}]}})
        first = await _test_alert(client, "survives a crash")
        dying, survivor = dispatcher(server), dispatcher(server)
        t0 = datetime.now(UTC)
        claimed = [r for r in await dying.claim(t0) if str(r.user_id) == pk(trader.user_id)]
        assert len(claimed) == 1  # ... and the process dies before sending it
        await survivor.run_once(t0)
        assert receiver.posts == []  # the claim still holds
        lapsed = t0 + dying.claim_for + timedelta(seconds=1)
        await survivor.run_once(lapsed)
        await survivor.run_once(lapsed + timedelta(seconds=60))
        assert [orjson.loads(p.body)["alert"]["message"] for p in receiver.posts] == ["survives a crash"]
        assert orjson.loads(receiver.posts[0].body)["alert"]["id"] == pk(first["id"])

        raised = {pk((await _test_alert(client, f"race {n}"))["id"]) for n in range(8)}
        racers = [dispatcher(server) for _ in range(4)]
        await asyncio.gather(*(r.run_once() for r in racers))
        sent = _posts_to(receiver, raised)
        assert sorted(orjson.loads(p.body)["alert"]["id"] for p in sent) == sorted(raised)
    rows = await AlertDelivery.filter(user_id=pk(trader.user_id))
    assert [(r.status, r.attempts) for r in rows] == [("DELIVERED", 1)] * 9


async def test_webhook_input_is_checked(api: GraphQLClient, trader: Account) -> None:
    async with as_user(api.base_url, trader) as client:
        for url, secret, field_name in [
            ("ftp://example.com/x", None, "url"),
            ("not a url", None, "url"),
            ("https://example.com/hook", "short", "secret"),
        ]:
            refused = (await client.query(CREATE, {"u": url, "s": secret}))["createWebhook"]
            assert (refused["__typename"], refused["field"]) == ("InvalidInput", field_name)
        assert (await client.query("{ webhooks { id } }"))["webhooks"] == []
        missing = await client.query(DELETE, {"id": to_global_id("Webhook", "00000000-0000-0000-0000-000000000000")})
        assert (missing["deleteWebhook"]["__typename"], missing["deleteWebhook"]["field"]) == ("NotFound", "id")
