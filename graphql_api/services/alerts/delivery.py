"""Webhooks, and the dispatcher that drains the outbox (``alert_deliveries``) to webhooks and email.

Exactly one sender per row: any process may run a dispatcher; each pass reads the due PENDING rows and
claims each one with a conditional UPDATE (``claimed_until`` unset or lapsed), so of two dispatchers only one
changes the row and sends it. A claim lasts longer than a send may take (``webhook_timeout`` plus a margin);
a process that dies holding one leaves the row PENDING, and the first pass after the claim lapses sends it.
The outbox row itself was written in the alert's transaction, so a crash anywhere loses nothing.

A send is at-least-once only across a crash between the channel's answer and recording it (nothing can
make an HTTP POST and a database commit atomic); every webhook carries the delivery's id so a receiver can
drop such a repeat.

Webhooks: ``POST`` of a JSON body with ``X-Alert-Timestamp`` (Unix seconds) and ``X-Alert-Signature:
sha256=<hex>``, the HMAC-SHA256 under the webhook's secret of ``<timestamp>.<body>`` (the exact bytes sent).
A 2xx answer delivers; anything else, or no answer within ``webhook_timeout``, is retried after
``delivery_backoff × 2^(attempt − 1)`` seconds until ``delivery_max_attempts`` attempts, then FAILED.
Email: one message over SMTP (aiosmtplib) from SMTP_FROM, its subject the alert's title.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import httpx
import orjson
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.alerts import (
    Alert,
    AlertDelivery,
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryStatus,
    WebhookEndpoint,
)
from models.audit import Outcome

from ... import audit
from ...audit import Action
from ...auth import utcnow
from ...crypto import Cipher
from ...ownership import Actor
from ...rejections import Invalid, Missing
from ...settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Alert-Signature"
TIMESTAMP_HEADER = "X-Alert-Timestamp"
DELIVERY_HEADER = "X-Alert-Delivery"
MAX_WEBHOOKS = 10
# How much longer than a send may take a claim lasts.
CLAIM_MARGIN = 30.0


def cipher(settings: Settings) -> Cipher:
    return Cipher(str(settings.secret_key), "webhook-secrets")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


# -- webhooks, the user's own ---------------------------------------------------------------------------------


@dataclass
class CreatedWebhook:
    endpoint: WebhookEndpoint
    secret: str


def _check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("url must be an absolute http or https URL", field="url")
    if len(url) > 2000:
        raise Invalid("url must be at most 2000 characters", field="url")
    return url


async def create_webhook(
    settings: Settings, actor: Actor, url: str, secret: str | None, description: str
) -> CreatedWebhook:
    """Add a webhook; its signing secret (given, or made here) is stored encrypted and returned this once."""
    async with audit.refusals(actor, Action.WEBHOOK_CREATE, target_type="Webhook"):
        url = _check_url(url)
        if secret is not None and not 16 <= len(secret) <= 200:
            raise Invalid("secret must be 16 to 200 characters", field="secret")
        description = description.strip()
        if len(description) > 200:
            raise Invalid("description must be at most 200 characters", field="description")
        secret = secret if secret is not None else "whsec_" + secrets.token_urlsafe(32)
        async with in_transaction() as conn:
            if await WebhookEndpoint.filter(user_id=actor.user.id).using_db(conn).count() >= MAX_WEBHOOKS:
                raise Invalid(f"at most {MAX_WEBHOOKS} webhooks per user", field="url")
            row = await WebhookEndpoint.create(
                user_id=actor.user.id,
                url=url,
                description=description,
                secret_encrypted=cipher(settings).encrypt(secret),
                using_db=conn,
            )
            await audit.by(
                actor,
                Action.WEBHOOK_CREATE,
                Outcome.SUCCESS,
                target_type="Webhook",
                target_id=row.id,
                detail={"url": url},
                conn=conn,
            )
        return CreatedWebhook(row, secret)


async def delete_webhook(actor: Actor, webhook_id: str) -> str:
    """Remove a webhook; its pending deliveries are dropped as FAILED."""
    async with audit.refusals(actor, Action.WEBHOOK_DELETE, target_type="Webhook", target_id=webhook_id):
        async with in_transaction() as conn:
            row = await WebhookEndpoint.filter(id=webhook_id, user_id=actor.user.id).using_db(conn).first()
            if row is None:
                raise Missing("no such webhook", field="id")
            await row.delete(using_db=conn)
            await (
                AlertDelivery.filter(endpoint_id=row.id, status=DeliveryStatus.PENDING)
                .using_db(conn)
                .update(status=DeliveryStatus.FAILED, last_error="webhook deleted")
            )
            await audit.by(
                actor, Action.WEBHOOK_DELETE, Outcome.SUCCESS, target_type="Webhook", target_id=row.id, conn=conn
            )
        return webhook_id


# -- the dispatcher -------------------------------------------------------------------------------------------


class SendFailed(Exception):
    def __init__(self, error: str, status_code: int | None = None) -> None:
        super().__init__(error)
        self.status_code = status_code


def webhook_body(alert: Alert, delivery_id: int) -> bytes:
    return orjson.dumps(
        {
            "deliveryId": str(delivery_id),
            "alert": {
                "id": str(alert.id),
                "type": str(alert.type),
                "category": str(alert.category),
                "severity": str(alert.severity),
                "title": alert.title,
                "message": alert.message,
                "source": alert.source,
                "venue": alert.venue,
                "botId": alert.bot_id,
                "metadata": alert.metadata or {},
                "createdAt": alert.created_at.isoformat(),
            },
        }
    )


def email_message(settings: Settings, alert: Alert, address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = address
    message["Subject"] = alert.title
    message.set_content(
        f"{alert.message}\n\nSeverity: {alert.severity}\nCategory: {alert.category}\n"
        f"Raised at: {alert.created_at.isoformat()}\nAlert: {alert.id}\n"
    )
    return message


class Dispatcher:
    """Sends due outbox rows; ``run_once`` is one pass, ``run_forever`` the loop every process may run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.claim_for = timedelta(seconds=settings.webhook_timeout + CLAIM_MARGIN)
        self._cipher = cipher(settings)

    async def claim(self, now: datetime | None = None, batch: int = 100) -> list[AlertDelivery]:
        """Claim the due rows nobody holds: a conditional UPDATE per row, so each goes to one dispatcher."""
        now = now or utcnow()
        free = Q(claimed_until=None) | Q(claimed_until__lt=now)
        due = (
            await AlertDelivery.filter(free, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .limit(batch)
        )
        claimed = []
        for row in due:
            until = now + self.claim_for
            taken = await AlertDelivery.filter(free, id=row.id, status=DeliveryStatus.PENDING).update(
                claimed_until=until
            )
            if taken:
                row.claimed_until = until
                claimed.append(row)
        return claimed

    async def run_once(self, now: datetime | None = None, batch: int = 100) -> int:
        """One pass: claim and send batches until nothing is due; returns how many were delivered. (A failed
        row is due again only after its back-off, so a pass ends.)"""
        now = now or utcnow()
        delivered = 0
        while rows := await self.claim(now, batch):
            delivered += sum(await asyncio.gather(*(self.send(row, now) for row in rows)))
        return delivered

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("alert delivery pass failed; trying again")
            await asyncio.sleep(self.settings.delivery_interval)

    async def send(self, row: AlertDelivery, now: datetime) -> bool:
        """Send one claimed row and record the attempt; True when it was delivered."""
        alert = await Alert.get_or_none(id=row.alert_id)
        status_code: int | None = None
        final = False
        try:
            if alert is None:
                final = True
                raise SendFailed("the alert no longer exists")
            if row.channel == DeliveryChannel.WEBHOOK:
                status_code = await self._post(row, alert)
            else:
                if not self.settings.smtp_host:
                    final = True
                    raise SendFailed("email is not configured (SMTP_HOST)")
                await self._mail(row, alert)
        except SendFailed as failure:
            await self._record(row, now, ok=False, status_code=failure.status_code, error=str(failure), final=final)
            return False
        await self._record(row, now, ok=True, status_code=status_code, error="")
        return True

    async def _post(self, row: AlertDelivery, alert: Alert) -> int:
        endpoint = await WebhookEndpoint.get_or_none(id=row.endpoint_id)
        if endpoint is None or not endpoint.active:
            raise SendFailed("webhook removed")
        body = webhook_body(alert, row.id)
        timestamp = str(int(utcnow().timestamp()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._cipher.decrypt(endpoint.secret_encrypted), timestamp, body),
            DELIVERY_HEADER: str(row.id),
        }
        try:
            async with httpx.AsyncClient(timeout=self.settings.webhook_timeout) as client:
                response = await client.post(endpoint.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from None
        if not 200 <= response.status_code < 300:
            raise SendFailed(f"HTTP {response.status_code}", response.status_code)
        return response.status_code

    async def _mail(self, row: AlertDelivery, alert: Alert) -> None:
        s = self.settings
        password = str(s.smtp_password)
        try:
            await aiosmtplib.send(
                email_message(s, alert, row.address),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user or None,
                password=password or None,
                start_tls=s.smtp_starttls,
                timeout=s.webhook_timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}"[:500]) from None

    async def _record(
        self, row: AlertDelivery, now: datetime, *, ok: bool, status_code: int | None, error: str, final: bool = False
    ) -> None:
        attempts = row.attempts + 1
        changes: dict[str, Any] = {"attempts": attempts, "claimed_until": None, "last_error": error}
        if ok:
            changes |= {"status": DeliveryStatus.DELIVERED, "delivered_at": utcnow()}
        elif final or attempts >= self.settings.delivery_max_attempts:
            changes["status"] = DeliveryStatus.FAILED
        else:
            changes["next_attempt_at"] = now + timedelta(seconds=self.settings.delivery_backoff * 2 ** (attempts - 1))
        async with in_transaction() as conn:
            await DeliveryAttempt.create(
                delivery_id=row.id, attempt=attempts, ok=ok, status_code=status_code, error=error, using_db=conn
            )
            await AlertDelivery.filter(id=row.id).using_db(conn).update(**changes)
