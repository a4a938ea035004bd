"""Scalars: exact Decimal strings in and out (never floats), and DateTime always in UTC.

A value that does not parse is the caller's mistake, never a bug: parse_value (variables) and
parse_literal (inline) raise the same BadUserInput, which the argument check (inputs.py) names.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import IntValueNode, StringValueNode, ValueNode
from strawberry.schema.types.base_scalars import DateDefinition
from strawberry.types.scalar import ScalarDefinition, scalar

from .errors import BadUserInput

# Longer than any price or quantity the platform holds; keeps a huge string from reaching Decimal().
MAX_DECIMAL_CHARS = 64
# The range a DateTime may take: from the Unix epoch to well past any horizon the platform computes
# with, so that date arithmetic on an accepted value (a candle window, an expiry) cannot overflow.
MIN_DATETIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DATETIME = datetime(3000, 1, 1, tzinfo=UTC)


def _excerpt(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def serialize_decimal(value: Decimal) -> str:
    """Plain notation without trailing zeros: 96170.7, 0.00001, 100 (never 1E+2)."""
    return format(value.normalize(), "f") if value else "0"


def parse_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadUserInput('a Decimal is sent as a string (or an integer), e.g. "0.25"')
    text = str(value)
    if len(text) > MAX_DECIMAL_CHARS:
        raise BadUserInput(f"a Decimal has at most {MAX_DECIMAL_CHARS} characters")
    try:
        parsed = Decimal(text)
    except InvalidOperation:
        raise BadUserInput(f"{_excerpt(text)} is not a decimal number") from None
    if not parsed.is_finite():
        raise BadUserInput("a Decimal must be finite")
    return parsed


_OTHER = object()  # a literal of another kind (a float, a list, ...)


def _literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> object:
    """The JSON value a literal stands for, for the types the scalars accept; anything else is refused by
    parse_value with the same message a variable of that kind gets."""
    if isinstance(node, StringValueNode):
        return node.value
    if isinstance(node, IntValueNode):
        return int(node.value)
    return _OTHER


def parse_decimal_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Decimal:
    return parse_decimal(_literal(node, variables))


DecimalScalar: ScalarDefinition = scalar(
    name="Decimal",
    description='An exact decimal number, sent and received as a string (e.g. "96250.5"). '
    "Prices, quantities, balances and PnL all use it; never a float.",
    serialize=serialize_decimal,
    parse_value=parse_decimal,
    parse_literal=parse_decimal_literal,
)


def serialize_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime reached the API boundary; every stored time is UTC-aware")
    return value.astimezone(UTC).isoformat()


def parse_datetime(value: object) -> datetime:
    hint = 'a DateTime is an ISO-8601 string with an offset, e.g. "2026-01-31T12:00:00Z"'
    if not isinstance(value, str):
        raise BadUserInput(hint)
    if len(value) > 40:
        raise BadUserInput(hint)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadUserInput(f"{_excerpt(value)} is not an ISO-8601 date-time; {hint}") from None
    if parsed.tzinfo is None:
        raise BadUserInput(f'{_excerpt(value)} has no UTC offset; send e.g. "{value}Z"')
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        parsed = MAX_DATETIME if parsed.year > 1970 else MIN_DATETIME  # out of range either way, said below
    if not MIN_DATETIME <= parsed < MAX_DATETIME:
        raise BadUserInput(f"{_excerpt(value)} is out of range: a DateTime lies in the years 1970 to 2999")
    return parsed


def parse_datetime_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> datetime:
    return parse_datetime(_literal(node, variables))


DateTimeScalar: ScalarDefinition = scalar(
    name="DateTime",
    description="An RFC 3339 (ISO-8601) date-time with a UTC offset, sent as a string, e.g. "
    '"2026-01-31T12:00:00+00:00"; the API always answers in UTC (+00:00) and accepts any offset (Z included).',
    specified_by_url="https://scalars.graphql.org/andimarek/date-time",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
    parse_literal=parse_datetime_literal,
)

# strawberry's own Date parsing and serialization, with its wire format said and its specification named.
DateScalar: ScalarDefinition = dataclasses.replace(
    DateDefinition,
    description='A calendar date, RFC 3339 full-date (ISO-8601), sent as a string "YYYY-MM-DD", e.g. "2026-01-31".',
    specified_by_url="https://scalars.graphql.org/andimarek/local-date",
)

SCALAR_MAP: dict[object, ScalarDefinition] = {Decimal: DecimalScalar, datetime: DateTimeScalar, date: DateScalar}
