"""Subscriptions over HTTP: graphql-sse (distinct connections) and Apollo's multipart subscriptions, against the
real server, with the WebSocket's authentication, snapshot-then-delta and sequence numbers."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import orjson
import pytest

from graphql_api.client import GraphQLClient

from .accounts import LOGIN, Account, as_user
from .streams import MULTIPART_ACCEPT, multipart, sse
from .support import ServerHandle, metric_value, scrape_metrics, wait_until
from .trading import paper_account, placed

pytestmark = pytest.mark.usefixtures("admin")

TICKS = 'subscription { priceTicks(symbols: ["BTC"]) { symbol sequence snapshot } }'
ORDERS = "subscription($a: ID) { orderUpdates(venueAccountId: $a) { sequence snapshot order { id status } } }"
KILL_SWITCH = "subscription { killSwitchChanged { sequence snapshot } }"


def _address() -> dict[str, str]:
    """A client address of its own (trusted from loopback), so per-address caps of one test stay in it."""
    return {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"}


async def test_a_query_streams_in_graphql_sse_event_format(server: ServerHandle) -> None:
    body = {"query": '{ instrument(symbol: "BTC") { symbol } }'}
    async with (
        httpx.AsyncClient(base_url=server.url) as http,
        http.stream("POST", "/graphql", json=body, headers={"Accept": "text/event-stream"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = (await response.aread()).decode()
    blocks = [block for block in text.split("\r\n\r\n") if block]
    assert blocks[0] == ":"  # the comment that flushes the headers
    event, data = blocks[1].split("\r\n")
    assert event == "event: next"
    assert data.startswith("data: ")
    assert orjson.loads(data.removeprefix("data: "))["data"] == {"instrument": {"symbol": "BTC"}}
    assert blocks[2:] == ["event: complete\r\ndata: "]


async def test_price_ticks_over_sse_snapshot_then_ticks_in_sequence(server: ServerHandle) -> None:
    async with sse(server, TICKS, method="GET") as stream:
        assert stream.response.status_code == 200
        ticks = [(await stream.next_data())["data"]["priceTicks"] for _ in range(3)]
    assert [(t["symbol"], t["sequence"], t["snapshot"]) for t in ticks] == [
        ("BTC", 1, True),
        ("BTC", 2, False),
        ("BTC", 3, False),
    ]


async def test_order_stream_over_sse_with_a_bearer_token(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        resting = await placed(client, account, type="LIMIT", quantity="0.01", price="1000")
        async with sse(server, ORDERS, {"a": account}, headers=trader.headers) as stream:
            first = (await stream.next_data())["data"]["orderUpdates"]
            assert first == {"sequence": 1, "snapshot": True, "order": {"id": resting["id"], "status": "OPEN"}}
            filled = await placed(client, account, quantity="0.02")
            second = (await stream.next_data())["data"]["orderUpdates"]
            assert second == {"sequence": 2, "snapshot": False, "order": {"id": filled["id"], "status": "FILLED"}}


async def test_sse_authenticates_by_cookie_and_refuses_anonymous_callers(server: ServerHandle, trader: Account) -> None:
    async with GraphQLClient(server.url, keep_cookies=True) as browser:
        signed_in = await browser.query(LOGIN, {"input": {"email": trader.email, "password": trader.password}})
        assert signed_in["login"]["__typename"] == "AuthPayload"
        cookies = dict(browser.http.cookies)
    async with sse(server, KILL_SWITCH, method="GET", cookies=cookies) as stream:
        assert (await stream.next_data())["data"]["killSwitchChanged"] == {"sequence": 1, "snapshot": True}
    async with sse(server, KILL_SWITCH) as anonymous:
        refused = await anonymous.next_data()
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await anonymous.next_event()).event == "complete"
        assert await anonymous.ended()


async def test_an_invalid_document_is_reported_inside_the_stream(server: ServerHandle) -> None:
    async with sse(server, "subscription { noSuchField }") as stream:
        assert stream.response.status_code == 200
        refused = await stream.next_data()
        assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert (await stream.next_event()).event == "complete"


async def test_order_stream_over_multipart_snapshot_then_delta_then_heartbeat(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    async with as_user(api.base_url, trader) as client:
        account = await paper_account(client)
        async with multipart(server, ORDERS, {"a": account}, headers=trader.headers) as stream:
            assert stream.response.status_code == 200
            assert stream.response.headers["content-type"].startswith('multipart/mixed;boundary="graphql"')
            filled = await placed(client, account, quantity="0.01")
            update = (await stream.next_payload())["data"]["orderUpdates"]
            # The order may be in the opening snapshot or arrive as the first delta; either way it is FILLED.
            while update["order"]["id"] != filled["id"]:
                update = (await stream.next_payload())["data"]["orderUpdates"]
            assert update["order"]["status"] == "FILLED"
            # Nothing more happens on this account: the next part is the protocol's heartbeat.
            assert await stream.next_part(timeout=10) == {}


async def test_multipart_refuses_anything_but_a_subscription(server: ServerHandle) -> None:
    async with multipart(server, "{ instruments { symbol } }", headers={}) as stream:
        refused = await stream.next_payload()
        assert refused["data"] is None
        assert refused["errors"][0]["message"] == "queries are not allowed"
        assert refused["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_revoked_session_ends_sse_and_multipart_streams(
    server: ServerHandle, api: GraphQLClient, trader: Account
) -> None:
    async with (
        sse(server, TICKS, headers=trader.headers) as events,
        multipart(server, TICKS, headers=trader.headers) as parts,
    ):
        assert (await events.next_data())["data"]["priceTicks"]["sequence"] == 1
        assert (await parts.next_payload())["data"]["priceTicks"]["sequence"] == 1
        async with as_user(api.base_url, trader) as client:
            assert (await client.query("mutation { logout }"))["logout"] is True

        while "errors" not in (last := await events.next_data()):
            pass
        assert last["errors"] == [
            {"message": "the stream ended: session revoked", "extensions": {"code": "UNAUTHENTICATED"}}
        ]
        assert (await events.next_event()).event == "complete"
        assert await events.ended()

        while (part := await parts.next_part()).get("payload") is not None or not part:
            pass
        assert part == {
            "payload": None,
            "errors": [{"message": "the stream ended: session revoked", "extensions": {"code": "UNAUTHENTICATED"}}],
        }


async def test_leaving_clients_release_every_subscription(server: ServerHandle, trader: Account) -> None:
    before = await scrape_metrics(server.url)
    baseline = metric_value(before, "live_subscriptions")
    sse_baseline = metric_value(before, "live_connections", transport="sse")
    async with (
        sse(server, TICKS) as a,
        sse(server, TICKS, method="GET") as b,
        sse(server, TICKS, headers=trader.headers) as c,
        multipart(server, TICKS, headers=trader.headers) as d,
    ):
        for stream in (a, b, c):
            assert (await stream.next_data())["data"]["priceTicks"]["sequence"] == 1
        assert (await d.next_payload())["data"]["priceTicks"]["sequence"] == 1
        live = await scrape_metrics(server.url)
        # Four tick streams of one document are one group (graphql_api/fanout.py) with one bus subscription; the
        # session watches of the two signed-in ones hold none (the process's credentials listener wakes them).
        assert metric_value(live, "live_subscriptions") == baseline + 1
        assert metric_value(live, "live_connections", transport="sse") == sse_baseline + 3
        assert metric_value(live, "live_connections", transport="multipart") >= 1

    async def released() -> bool:
        now = await scrape_metrics(server.url)
        return (
            metric_value(now, "live_subscriptions") == baseline
            and metric_value(now, "live_connections", transport="sse") == sse_baseline
        )

    await wait_until(released, timeout=10)


async def test_streams_per_user_are_capped_under_a_storm(server: ServerHandle, trader: Account) -> None:
    cap = server.settings.max_sockets_per_user
    headers = {"Accept": "text/event-stream", **trader.headers, **_address()}
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:

        async def open_stream() -> httpx.Response:
            request = http.build_request("POST", "/graphql", json={"query": TICKS}, headers=headers)
            return await http.send(request, stream=True)

        responses = await asyncio.gather(*(open_stream() for _ in range(cap + 3)))
        try:
            statuses = sorted(response.status_code for response in responses)
            assert statuses == [200] * cap + [429] * 3
            refused = next(response for response in responses if response.status_code == 429)
            body: dict[str, Any] = orjson.loads(await refused.aread())
            assert body["errors"][0]["extensions"]["code"] == "CONNECTION_LIMIT_EXCEEDED"
        finally:
            for response in responses:
                await response.aclose()


async def test_plain_requests_still_reach_the_graphql_view(server: ServerHandle) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/graphql", json={"query": "{ instruments { symbol } }"}, headers={"Accept": MULTIPART_ACCEPT.split(",")[1]}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert {"symbol": "BTC"} in response.json()["data"]["instruments"]
