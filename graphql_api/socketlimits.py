"""WebSocket limits: how many sockets an address or a user may hold, how large and how frequent their
messages may be, and how many subscriptions one socket may run — enforced on the raw ASGI messages before
any GraphQL work, in this process (a socket lives in one process)."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import Settings

USER_SCOPE_KEY = "graphql_api.user_id"  # set on the socket's scope once connection_init authenticated it
_CLOSE_TOO_BIG = 1009
_CLOSE_TOO_MANY = 4429


class SocketRegistry:
    """Open sockets per client address and per user, in this process (a socket lives in one process)."""

    def __init__(self) -> None:
        self.by_address: dict[str, int] = {}
        self.by_user: dict[str, int] = {}

    def admit(self, settings: Settings, address: str, user: str | None) -> str | None:
        """Take one place for a streaming connection that is not a socket (an HTTP event stream), under the
        same caps as sockets; None when admitted, else why not (``release`` gives an admitted place back)."""
        if not self._take(self.by_address, address, settings.max_sockets_per_ip):
            return f"at most {settings.max_sockets_per_ip} streaming connections per client address"
        if user is not None and not self._take(self.by_user, user, settings.max_sockets_per_user):
            self._give(self.by_address, address)
            return f"at most {settings.max_sockets_per_user} streaming connections per user"
        return None

    def release(self, address: str, user: str | None) -> None:
        self._give(self.by_address, address)
        if user is not None:
            self._give(self.by_user, user)

    @staticmethod
    def _take(counts: dict[str, int], key: str, cap: int) -> bool:
        if counts.get(key, 0) >= cap:
            return False
        counts[key] = counts.get(key, 0) + 1
        return True

    @staticmethod
    def _give(counts: dict[str, int], key: str) -> None:
        left = counts.get(key, 0) - 1
        if left > 0:
            counts[key] = left
        else:
            counts.pop(key, None)


class _Bucket:
    """A token bucket: ``rate`` tokens a second, holding at most ``rate``."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.tokens = float(rate)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _message_type(text: str) -> tuple[str | None, str | None]:
    try:
        message = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(message, dict):
        return None, None
    kind, op_id = message.get("type"), message.get("id")
    return (kind if isinstance(kind, str) else None), (op_id if isinstance(op_id, str) else None)


class SocketLimits:
    """Bounds what one WebSocket may do, before strawberry reads a message.

    A message over MAX_BODY_BYTES closes the socket with 1009, more than WS_MESSAGES_PER_SECOND closes it
    with 4429, a subscription beyond MAX_SUBSCRIPTIONS_PER_SOCKET is answered with an ``error`` message for
    its id (code SUBSCRIPTION_LIMIT_EXCEEDED) and never started, and a socket beyond MAX_SOCKETS_PER_IP (at
    the handshake) or MAX_SOCKETS_PER_USER (at connection_init) is closed with 4429.
    """

    def __init__(self, app: ASGIApp, settings: Settings, registry: SocketRegistry) -> None:
        self.app = app
        self.settings = settings
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        settings, registry = self.settings, self.registry
        client = scope.get("client")
        address = client[0] if client else ""
        if not registry._take(registry.by_address, address, settings.max_sockets_per_ip):
            await _refuse(scope, receive, send, f"at most {settings.max_sockets_per_ip} sockets per client address")
            return
        bucket = _Bucket(settings.ws_messages_per_second)
        active: set[str] = set()
        user: str | None = None
        closed = False

        async def close(code: int, reason: str) -> Message:
            nonlocal closed
            if not closed:
                closed = True
                with contextlib.suppress(RuntimeError, OSError):
                    await send({"type": "websocket.close", "code": code, "reason": reason})
            return {"type": "websocket.disconnect", "code": code}

        async def limited_receive() -> Message:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return message
                text, data = message.get("text"), message.get("bytes")
                size = len(text.encode()) if text is not None else len(data or b"")
                if size > settings.max_body_bytes:
                    return await close(_CLOSE_TOO_BIG, f"message exceeds {settings.max_body_bytes} bytes")
                if not bucket.take():
                    return await close(
                        _CLOSE_TOO_MANY, f"more than {settings.ws_messages_per_second} messages a second"
                    )
                if text is None or ('"subscribe"' not in text and '"complete"' not in text):
                    return message
                kind, op_id = _message_type(text)
                if kind == "complete" and op_id is not None:
                    active.discard(op_id)
                elif kind == "subscribe" and op_id is not None and op_id not in active:
                    if len(active) >= settings.max_subscriptions_per_socket:
                        await send_text(
                            {
                                "type": "error",
                                "id": op_id,
                                "payload": [
                                    {
                                        "message": f"at most {settings.max_subscriptions_per_socket} operations "
                                        "may run at once on one socket",
                                        "extensions": {
                                            "code": "SUBSCRIPTION_LIMIT_EXCEEDED",
                                            "limit": settings.max_subscriptions_per_socket,
                                        },
                                    }
                                ],
                            }
                        )
                        continue
                    active.add(op_id)
                return message

        async def send_text(payload: dict[str, Any]) -> None:
            await send({"type": "websocket.send", "text": json.dumps(payload)})

        async def tracking_send(message: Message) -> None:
            nonlocal user
            text = message.get("text") if message["type"] == "websocket.send" else None
            if text is not None and len(text) < 65536 and ('"complete"' in text or '"error"' in text or "ack" in text):
                kind, op_id = _message_type(text)
                if kind in ("complete", "error") and op_id is not None:
                    active.discard(op_id)
                elif kind == "connection_ack" and user is None and scope.get(USER_SCOPE_KEY):
                    user = str(scope[USER_SCOPE_KEY])
                    if not registry._take(registry.by_user, user, settings.max_sockets_per_user):
                        user = None
                        await close(_CLOSE_TOO_MANY, f"at most {settings.max_sockets_per_user} sockets per user")
                        return
            if closed and message["type"] in ("websocket.send", "websocket.close"):
                return  # the socket was closed here; the app learns it from the disconnect it receives
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        finally:
            registry._give(registry.by_address, address)
            if user is not None:
                registry._give(registry.by_user, user)


async def _refuse(scope: Scope, receive: Receive, send: Send, reason: str) -> None:
    """Accept, then close with 4429 and a reason: a close before accepting reaches the client as a bare 403."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    protocols = scope.get("subprotocols") or []
    accept: dict[str, Any] = {"type": "websocket.accept"}
    if protocols:
        accept["subprotocol"] = protocols[0]
    await send(accept)
    await send({"type": "websocket.close", "code": _CLOSE_TOO_MANY, "reason": reason})
