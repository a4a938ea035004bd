"""Scalars: exact Decimal strings in and out (never floats), and DateTime always in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from strawberry.types.scalar import ScalarDefinition, scalar


def serialize_decimal(value: Decimal) -> str:
    """Plain notation without trailing zeros: 96170.7, 0.00001, 100 (never 1E+2)."""
    return format(value.normalize(), "f") if value else "0"


def parse_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError('a Decimal is sent as a string (or an integer), e.g. "0.25"')
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not parsed.is_finite():
        raise ValueError("a Decimal must be finite")
    return parsed


DecimalScalar: ScalarDefinition = scalar(
    name="Decimal",
    description='An exact decimal number, sent and received as a string (e.g. "96250.5"). '
    "Prices, quantities, balances and PnL all use it; never a float.",
    serialize=serialize_decimal,
    parse_value=parse_decimal,
)


def serialize_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime reached the API boundary; every stored time is UTC-aware")
    return value.astimezone(UTC).isoformat()


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError('a DateTime is an ISO-8601 string with an offset, e.g. "2026-01-31T12:00:00Z"')
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError(f'{value!r} has no UTC offset; send e.g. "{value}Z"')
    return parsed.astimezone(UTC)


DateTimeScalar: ScalarDefinition = scalar(
    name="DateTime",
    description="An ISO-8601 date-time with offset. The API always answers in UTC (+00:00).",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {Decimal: DecimalScalar, datetime: DateTimeScalar}
