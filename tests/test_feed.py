"""The market feed's walk and its leader leases."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from graphql_api.engine.feed import next_price, round_to_tick, standard_normal, walk
from graphql_api.engine.lease import FileLease, PostgresLease

from .support import LegConfig

BTC = {"symbol": "BTC", "start": Decimal("96250.0"), "tick": Decimal("0.1"), "volatility": Decimal("0.0006")}


def test_walk_is_reproducible_and_seed_dependent() -> None:
    a = walk(7, **BTC, steps=200)  # type: ignore[arg-type]
    b = walk(7, **BTC, steps=200)  # type: ignore[arg-type]
    c = walk(8, **BTC, steps=200)  # type: ignore[arg-type]
    assert a == b
    assert a != c
    assert all(isinstance(p, Decimal) for p in a)


def test_walk_continues_identically_from_any_step() -> None:
    """What a new leader computes from the stored step equals what the old one would have."""
    full = walk(7, **BTC, steps=50)  # type: ignore[arg-type]
    price = full[19]  # step 20
    resumed = [price := next_price(7, "BTC", step, price, BTC["tick"], BTC["volatility"]) for step in range(21, 51)]
    assert resumed == full[20:]


def test_prices_sit_on_the_tick_grid_and_stay_positive() -> None:
    prices = walk(1, "DOGE", Decimal("0.00010"), Decimal("0.00001"), Decimal("0.05"), 2000)
    assert all(p >= Decimal("0.00001") and p % Decimal("0.00001") == 0 for p in prices)
    assert round_to_tick(Decimal("0.000001"), Decimal("0.00001")) == Decimal("0.00001")
    assert round_to_tick(Decimal("96250.04"), Decimal("0.1")) == Decimal("96250.0")


def test_steps_move_like_a_random_walk() -> None:
    prices = walk(3, **BTC, steps=3000)  # type: ignore[arg-type]
    moves = [b / a - 1 for a, b in zip([BTC["start"], *prices], prices, strict=False)]
    mean = sum(moves, Decimal(0)) / len(moves)
    variance = sum(((m - mean) ** 2 for m in moves), Decimal(0)) / len(moves)
    sigma = variance.sqrt()
    assert abs(mean) < Decimal("0.0001")
    assert Decimal("0.0005") < sigma < Decimal("0.0007")  # volatility 0.0006 per step, within sampling error
    assert len(set(prices)) > 1000


def test_standard_normal_has_unit_variance() -> None:
    rng = random.Random(42)
    draws = [standard_normal(rng) for _ in range(5000)]
    mean = sum(draws, Decimal(0)) / len(draws)
    variance = sum(((d - mean) ** 2 for d in draws), Decimal(0)) / len(draws)
    assert abs(mean) < Decimal("0.05")
    assert Decimal("0.93") < variance < Decimal("1.07")


async def test_file_lease_is_exclusive_until_released(tmp_path: Path) -> None:
    first, second = FileLease(tmp_path / "feed.lock"), FileLease(tmp_path / "feed.lock")
    assert await first.acquire()
    assert not await second.acquire()
    await first.release()
    assert await second.acquire()
    assert await second.check()
    await second.release()


@pytest.mark.legs("postgres")
async def test_postgres_lease_is_exclusive_and_released_with_its_connection(leg: LegConfig) -> None:
    first = PostgresLease(leg.database_url, "test-lease")
    second = PostgresLease(leg.database_url, "test-lease")
    other = PostgresLease(leg.database_url, "other-lease")
    try:
        assert await first.acquire()
        assert not await second.acquire()
        assert await other.acquire()  # another name is another lock
        assert await first.check()
        await first._drop()  # the holder's connection dies: the lock goes with it
        assert not await first.check()
        assert await second.acquire()
    finally:
        for lease in (first, second, other):
            await lease.release()
