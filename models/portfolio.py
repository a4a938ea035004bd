"""Portfolio history: account equity over time."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from .fields import money


class EquitySnapshot(Model):
    """Account value at a moment (cash plus positions at mark), for performance and risk."""

    id = fields.BigIntField(primary_key=True)
    account_id = fields.UUIDField()
    ts = fields.DatetimeField()
    equity = money()
    cash = money()
    # BTC mark at the same instant: the benchmark for beta, sampled on exactly the same timestamps.
    benchmark_price = money(null=True)

    class Meta:
        table = "equity_snapshots"
        indexes = (("account_id", "ts"),)
