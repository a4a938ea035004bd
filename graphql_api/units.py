"""Names for plain numbers that are not money: money, prices and quantities are always Decimal."""

from typing import TypeAlias

Seconds: TypeAlias = float
"""A duration or timeout in seconds (asyncio's unit), never an amount."""
