"""Market data: the instruments the platform trades and the latest price of each."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Instrument(Model):
    """A tradable instrument. asset_index follows the Hyperliquid perp numbering (BTC 0, ETH 1, ...)."""

    id = fields.IntField(primary_key=True)
    symbol = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    asset_index = fields.IntField(unique=True)
    base = fields.CharField(max_length=16)
    quote = fields.CharField(max_length=16)
    tick_size = fields.DecimalField(max_digits=30, decimal_places=12)
    lot_size = fields.DecimalField(max_digits=30, decimal_places=12)
    # Where the built-in feed starts its walk and how far one step moves (standard deviation, as a fraction).
    initial_price = fields.DecimalField(max_digits=30, decimal_places=12)
    volatility = fields.DecimalField(max_digits=12, decimal_places=8)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "instruments"
        ordering = ["asset_index"]


class LastPrice(Model):
    """The latest feed tick of one instrument: step counts the feed steps for it (monotonic)."""

    instrument: fields.OneToOneRelation[Instrument] = fields.OneToOneField(
        "trading.Instrument", related_name="last_price", primary_key=True, on_delete=fields.CASCADE
    )
    instrument_id: int
    price = fields.DecimalField(max_digits=30, decimal_places=12)
    step = fields.BigIntField()
    ts = fields.DatetimeField()

    class Meta:
        table = "last_prices"


class Candle(Model):
    """OHLCV of one instrument over one interval, built from feed ticks (open_time is the interval start)."""

    id = fields.BigIntField(primary_key=True)
    instrument: fields.ForeignKeyRelation[Instrument] = fields.ForeignKeyField(
        "trading.Instrument", related_name="candles", on_delete=fields.CASCADE
    )
    instrument_id: int
    interval = fields.CharField(max_length=4)
    open_time = fields.DatetimeField()
    open = fields.DecimalField(max_digits=30, decimal_places=12)
    high = fields.DecimalField(max_digits=30, decimal_places=12)
    low = fields.DecimalField(max_digits=30, decimal_places=12)
    close = fields.DecimalField(max_digits=30, decimal_places=12)
    volume = fields.DecimalField(max_digits=30, decimal_places=12)
    # Sum of price times quantity over the ticks: exact, so bars of different intervals add up alike.
    quote_volume = fields.DecimalField(max_digits=30, decimal_places=12, default=0)

    class Meta:
        table = "candles"
        unique_together = (("instrument", "interval", "open_time"),)
