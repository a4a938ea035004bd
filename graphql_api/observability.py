"""Request ids and structured logs.

Every HTTP request and WebSocket connection gets a request id: the client's ``X-Request-ID`` when it is a
sane token (letters, digits, ``._-``, at most 128 characters), a new one otherwise. It is returned in the
response's ``X-Request-ID`` header, carried by every log line written while the request runs and stored on
the audit rows the request writes, so one id finds a request in the proxy's log, ours and the audit log.

Logs are one JSON object per line (``LOG_FORMAT=json``, the default in production) or text for a terminal
(``LOG_FORMAT=text``, the default in development): ``ts`` (UTC, ISO-8601), ``level``, ``logger``,
``message``, ``request_id`` when there is one, and ``exc`` with the traceback.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from datetime import UTC, datetime

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics
from .logbounds import BoundedRecords

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request (or WebSocket connection) this code runs for, if any."""
    return _request_id.get()


def _request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            if _SANE_ID.fullmatch(value):
                return value.decode()
            break  # a header we will not echo or log: replaced by one of ours
    return uuid.uuid4().hex


class RequestId:
    """Outermost middleware: sets the request id for the request's task and echoes it in the response;
    counts live WebSocket connections."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id_of(scope)
        token = _request_id.set(request_id)
        try:
            if scope["type"] == "websocket":
                with metrics.LIVE_CONNECTIONS.labels("websocket").track_inprogress():
                    await self.app(scope, receive, send)
                return
            header = (REQUEST_ID_HEADER, request_id.encode())

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), header]
                await send(message)

            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


class _WithRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record (orjson: one C call, no intermediate text)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return orjson.dumps(entry).decode()


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{text} [request {request_id}]" if request_id else text


def configure_logging(log_format: str, level: str = "info") -> None:
    """One handler on the root logger, JSON or text; uvicorn's loggers propagate to it (see __main__)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # The request id first, then the size bound (which may replace the message and traceback).
    handler.addFilter(_WithRequestId())
    handler.addFilter(BoundedRecords())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
