"""Calendar periods in UTC (weeks start on Monday): where the day, week or month holding an instant begins,
and where the next one does. Income reports and leaderboard standings cut time the same way."""

from __future__ import annotations

from datetime import datetime, timedelta


def day_start(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def period_start(at: datetime, period: str) -> datetime:
    """Start of the DAY, WEEK or MONTH holding ``at``."""
    day = day_start(at)
    if period == "DAY":
        return day
    if period == "WEEK":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_start(at: datetime, period: str) -> datetime:
    """Start of the period after the one starting at ``at``."""
    if period == "DAY":
        return at + timedelta(days=1)
    if period == "WEEK":
        return at + timedelta(days=7)
    return (at.replace(day=28) + timedelta(days=4)).replace(day=1)
