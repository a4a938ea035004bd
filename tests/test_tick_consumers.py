"""Tick consumers are isolated: one that fails is logged and the ones after it still run."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from graphql_api.engine.ticks import Marks, TickConsumers


async def test_a_failing_tick_consumer_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, Marks]] = []
    consumers = TickConsumers()

    async def first(marks: Marks) -> None:
        seen.append(("first", marks))

    async def broken(marks: Marks) -> None:
        raise RuntimeError("alert rule exploded")

    async def last(marks: Marks) -> None:
        seen.append(("last", marks))

    consumers.register("first", first)
    consumers.register("broken", broken)
    consumers.register("last", last)
    marks = {"BTC": (Decimal("65000.5"), 7)}
    with caplog.at_level(logging.ERROR, logger="graphql_api.engine.ticks"):
        await consumers(marks)
    assert seen == [("first", marks), ("last", marks)]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == ["tick consumer broken failed"]
    assert failures[0].exc_info is not None and str(failures[0].exc_info[1]) == "alert rule exploded"


def test_a_consumer_name_is_registered_once() -> None:
    consumers = TickConsumers()

    async def noop(marks: Marks) -> None:
        return None

    consumers.register("matching", noop)
    with pytest.raises(ValueError, match="matching"):
        consumers.register("matching", noop)
    assert consumers.names == ["matching"]
