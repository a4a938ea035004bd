"""graphql-transport-ws with grouped fan-out: strawberry's handler, every message of an operation sent through
the socket's one bounded outbox (graphql_api/fanout.py), so a grouped operation's snapshot, its group's frames
and its completion go out in order, and a socket that falls behind is closed with 4499."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from strawberry.schema.schema import StreamResult
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError

from . import fanout
from .context import Context


class GroupedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = self.context.settings
        self.outbox = fanout.Outbox(settings.stream_send_queue, self._behind)
        self._writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None

    def _send_text(self) -> Any:
        return self.websocket.ws.send_text  # type: ignore[attr-defined]

    def _ensure_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self.outbox.write(self._send_text()), name="ws-writer")

    def _behind(self, reason: str) -> None:
        self._closing = asyncio.ensure_future(self._close_behind(reason))

    async def _close_behind(self, reason: str) -> None:
        if self._writer is not None:
            self._writer.cancel()
        with contextlib.suppress(Exception):
            await self.websocket.close(code=fanout.SLOW_CONSUMER_CODE, reason=reason)

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
        finally:
            if self._writer is not None:
                self._writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._writer

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        hub = self.context.fanout
        assert hub is not None
        op_id = orjson.dumps(operation.id).decode()
        head = '{"id":' + op_id + ',"type":"next","payload":'
        grouped = fanout.Operation(
            hub, operation.query, operation.variables, operation.operation_name, self.outbox, lambda p: head + p + "}"
        )
        fanout.set_operation(grouped)
        self._ensure_writer()
        first = True

        async def emit(result: object) -> None:
            nonlocal first
            if first and isinstance(result, PreExecutionError):
                await self._handle_pre_execution_error(operation, result)
                raise _Refused
            first = False
            if not isinstance(result, ExecutionResult):
                await self._reject_incremental_delivery(operation)
                raise _Refused
            await self.outbox.put(head + orjson.dumps(fanout.result_payload(result)).decode() + "}")

        try:
            source: StreamResult = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            try:
                finished = await fanout.run_grouped(grouped, source, emit)
            except _Refused:
                return
            if finished and not operation.completed:
                operation.completed = True
                self.forget_id(operation.id)
                await self.outbox.put('{"id":' + op_id + ',"type":"complete"}', sent=True)
        except _OperationStreamClosed:
            return
        except Exception as error:  # pragma: no cover
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise
        finally:
            hub.leave(grouped)


class _Refused(Exception):
    """The operation was answered with an error message (or the socket closed) before it ran."""
