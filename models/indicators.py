"""Indicators and signals: the signal history (a row each time a signal's action changes)."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class SignalRecord(Model):
    """A signal of one instrument and interval, stored by the feed leader when its action changed."""

    id = fields.BigIntField(primary_key=True)
    instrument: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "trading.Instrument", related_name="signals", on_delete=fields.CASCADE
    )
    instrument_id: int
    interval = fields.CharField(max_length=4)
    action = fields.CharField(max_length=4)
    previous_action = fields.CharField(max_length=4, null=True)
    strength = fields.IntField()
    confidence = fields.DecimalField(max_digits=6, decimal_places=4)
    entry = fields.DecimalField(max_digits=30, decimal_places=12)
    stop_loss = fields.DecimalField(max_digits=30, decimal_places=12, null=True)
    take_profit = fields.DecimalField(max_digits=30, decimal_places=12, null=True)
    # Indicator label -> value (Decimal as string): the readings the rule voted on.
    readings: Any = fields.JSONField(default=dict)
    # Open time of the last closed candle the signal was computed on.
    candle_time = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "signals"
        indexes = [Index(fields=["instrument_id", "interval", "id"])]
