"""Top-level GraphQL errors with an ``extensions.code`` that Apollo clients switch on.

Refusals the caller can act on (bad input, authentication, permission, rate limits) raise ``ApiError``;
anything else is a bug: masked as INTERNAL_SERVER_ERROR in the response and logged once, in full.
Every error a client receives carries a code: the document's own (GRAPHQL_PARSE_FAILED,
GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT for variables), the transport's (BAD_REQUEST, ...; see
``error_response``) or SERVICE_UNAVAILABLE while the database cannot be reached.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import asyncpg
import strawberry
from graphql import GraphQLError, GraphQLSyntaxError, Node, OperationDefinitionNode, OperationType, ValidationRule
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext
from tortoise.exceptions import DBConnectionError

log = logging.getLogger("graphql_api.errors")

# Seconds a client is asked to wait (Retry-After) when the database cannot be reached.
RETRY_AFTER = 5


class ApiError(GraphQLError):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(
        self, message: str, *, field: str | None = None, nodes: Sequence[Node] | None = None, **extensions: Any
    ) -> None:
        ext: dict[str, Any] = {"code": self.code, **extensions}
        if field is not None:
            ext["field"] = field
        super().__init__(message, nodes=nodes, extensions=ext)


class BadUserInput(ApiError):
    code = "BAD_USER_INPUT"


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class RateLimited(ApiError):
    code = "RATE_LIMITED"


class ServiceUnavailable(ApiError):
    code = "SERVICE_UNAVAILABLE"


# What a PostgreSQL outage raises (refused or dropped connections, a pool that cannot connect); a
# statement's own failure (a constraint, a syntax error) is none of these.
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    DBConnectionError,
)


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says the database could not be reached."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, _UNAVAILABLE):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def error_body(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    """A GraphQL response carrying one top-level error, as every non-GraphQL refusal is answered."""
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


def error_response(
    message: str, code: str, status_code: int, headers: Mapping[str, str] | None = None, **extensions: Any
) -> JSONResponse:
    """A transport-level refusal (bad body, wrong method, outage, limits) in the GraphQL error format."""
    return JSONResponse(error_body(message, code, **extensions), status_code=status_code, headers=headers)


def unavailable_response() -> JSONResponse:
    return error_response(
        "the database is unavailable; retry later",
        ServiceUnavailable.code,
        503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )


# What strawberry raises for an operation the transport does not carry (a query on a multipart subscription
# stream, a mutation on an event stream opened by GET): the caller's request is wrong, not the server.
_TRANSPORT_REFUSALS = (InvalidOperationTypeError, CannotGetOperationTypeError)


def _is_bug(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, *_TRANSPORT_REFUSALS))


# How graphql-core words every suggestion (fields, arguments, types, input fields, enum values); the names
# it lists are quoted and never contain a question mark.
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def _set_code(error: GraphQLError, code: str) -> None:
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code}


class MaskInternalErrors(MaskErrors):
    """Masks unexpected exceptions; gives every other error its code; strips schema-name suggestions
    when ``suggestions`` is off (FIELD_SUGGESTIONS), whichever part of the schema they would name."""

    def __init__(self, suggestions: bool = True) -> None:
        super().__init__(should_mask_error=_is_bug, error_message="Internal server error.")
        self.suggestions = suggestions

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            _set_code(error, "GRAPHQL_VALIDATION_FAILED")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        if database_unavailable(error.original_error):
            masked.message = "The database is unavailable; retry later."
            masked.extensions = {"code": ServiceUnavailable.code}
        else:
            masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            if isinstance(error.original_error, _TRANSPORT_REFUSALS):
                _set_code(error, "BAD_REQUEST")
            if error.path is None:
                # Before any field ran: the variables did not coerce (graphql-core's own messages).
                _set_code(error, "BAD_USER_INPUT")
            if not self.suggestions:
                error.message = _SUGGESTION.sub("", error.message)
        return processed


class ApiSchema(strawberry.Schema):
    """Logs each unexpected error once, with its traceback; refusals of the caller's input are not
    logged (they are the client's answer, and may carry whatever it sent)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            if isinstance(error, GraphQLSyntaxError):
                # Raised by the extension that parses (ParserCache), so it reaches the client without passing
                # through MaskInternalErrors: this is the one place every error goes through.
                _set_code(error, "GRAPHQL_PARSE_FAILED")
            if not _is_bug(error):
                continue
            if database_unavailable(error.original_error):
                log.warning("database unavailable at %s: %r", error.path, error.original_error)
            else:
                log.error("unexpected error at %s", error.path, exc_info=error.original_error)


class _NoSubscriptionOverHTTP(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> None:
        if node.operation == OperationType.SUBSCRIPTION:
            self.report_error(
                GraphQLError(
                    "subscriptions are served on streams at /graphql: WebSocket (graphql-transport-ws), "
                    "Server-Sent Events (graphql-sse, Accept: text/event-stream) or multipart "
                    "(Accept: multipart/mixed;subscriptionSpec=1.0)",
                    nodes=[node],
                    extensions={"code": "BAD_REQUEST"},
                )
            )


class SubscriptionsOverStreamsOnly(SchemaExtension):
    """Strawberry would run a subscription sent by a plain HTTP request once and answer null; refuse it
    instead. A WebSocket or an HTTP event stream (``Context.streaming``) runs it."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context.context
        if not (isinstance(getattr(context, "request", None), WebSocket) or getattr(context, "streaming", False)):
            rules = self.execution_context.validation_rules
            self.execution_context.validation_rules = (*rules, _NoSubscriptionOverHTTP)
        yield
