"""Top-level GraphQL errors with an ``extensions.code`` that Apollo clients switch on.

Refusals the caller can act on (bad input, authentication, permission, rate limits) raise ``ApiError``;
anything else is a bug: masked as INTERNAL_SERVER_ERROR in the response and logged in full.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, ValidationRule
from starlette.websockets import WebSocket
from strawberry.extensions import MaskErrors, SchemaExtension

log = logging.getLogger("graphql_api.errors")


class ApiError(GraphQLError):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, field: str | None = None, **extensions: Any) -> None:
        ext: dict[str, Any] = {"code": self.code, **extensions}
        if field is not None:
            ext["field"] = field
        super().__init__(message, extensions=ext)


class BadUserInput(ApiError):
    code = "BAD_USER_INPUT"


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class RateLimited(ApiError):
    code = "RATE_LIMITED"


def _is_bug(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    log.error("unexpected error at %s", error.path, exc_info=original)
    return True


class MaskInternalErrors(MaskErrors):
    """Masks unexpected exceptions; keeps ApiError and GraphQL validation errors as they are."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_bug, error_message="Internal server error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        return masked


class _NoSubscriptionOverHTTP(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: object) -> None:
        if node.operation == OperationType.SUBSCRIPTION:
            self.report_error(
                GraphQLError(
                    "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql",
                    nodes=[node],
                    extensions={"code": "BAD_REQUEST"},
                )
            )


class SubscriptionsOverWebSocketOnly(SchemaExtension):
    """Strawberry would run a subscription sent by plain HTTP once and answer null; refuse it instead."""

    def on_validate(self) -> Iterator[None]:
        if not isinstance(getattr(self.execution_context.context, "request", None), WebSocket):
            rules = self.execution_context.validation_rules
            self.execution_context.validation_rules = (*rules, _NoSubscriptionOverHTTP)
        yield
