"""Leaderboard: every user's trading results per period, kept by the fill path, and how each user appears."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from .fields import money


class StandingPeriod(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    ALL = "ALL"


class Metric(StrEnum):
    PNL = "PNL"
    ROI = "ROI"
    WIN_RATE = "WIN_RATE"
    VOLUME = "VOLUME"


# The integer rank key of each metric (see graphql_api/engine/standings.py for why keys are integers).
RANK_KEYS: dict[Metric, str] = {
    Metric.PNL: "pnl_key",
    Metric.ROI: "roi_key",
    Metric.WIN_RATE: "win_rate_key",
    Metric.VOLUME: "volume_key",
}


def _ranked(key: str) -> Index:
    # Read backwards (key and user id both descending), one index serves the page, the cursor and the rank.
    return Index(fields=["period", "period_start", key, "user_id"])


class Standing(Model):
    """One user over one period (a UTC day, week or month, or all time): exact sums updated by each fill,
    and integer rank keys of the metrics derived from them."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.UUIDField()
    period = fields.CharEnumField(StandingPeriod, max_length=8)
    period_start = fields.DatetimeField()
    volume = money(default=0)
    realized_pnl = money(default=0)
    fees = money(default=0)
    closed_cost = money(default=0)
    trades = fields.IntField(default=0)
    closes = fields.IntField(default=0)
    wins = fields.IntField(default=0)
    pnl_key = fields.BigIntField(default=0)
    roi_key = fields.BigIntField(default=0)
    win_rate_key = fields.BigIntField(default=0)
    volume_key = fields.BigIntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "leaderboard_standings"
        unique_together = (("user_id", "period", "period_start"),)
        indexes = [_ranked(key) for key in RANK_KEYS.values()]


class LeaderboardProfile(Model):
    """How a user appears on the leaderboard: a display name, or not at all (hidden)."""

    user_id = fields.UUIDField(primary_key=True)
    display_name = fields.CharField(max_length=32, null=True)
    hidden = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "leaderboard_profiles"
