"""Column kinds every domain's models share."""

from __future__ import annotations

from typing import Any

from tortoise import fields


def money(**options: Any) -> Any:
    """Every amount, price and quantity: exact decimal with 12 places."""
    return fields.DecimalField(max_digits=30, decimal_places=12, **options)
