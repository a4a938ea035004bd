"""Per-request DataLoaders (Saleor's <Thing>By<Key> naming): related rows load in one query per request.

A socket's context lives as long as the socket, so its loaders batch without caching
(``Loaders(cache=False)``): a cache would serve each order's first fills to every later event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from models.orders import Fill


async def _fills_by_order(keys: Sequence[str]) -> list[list[Fill]]:
    grouped: dict[str, list[Fill]] = defaultdict(list)
    for row in await Fill.filter(order_id__in=list(keys)).order_by("id"):
        grouped[str(row.order_id)].append(row)
    return [grouped.get(key, []) for key in keys]


class Loaders:
    def __init__(self, *, cache: bool = True) -> None:
        self.fills_by_order: DataLoader[str, list[Fill]] = DataLoader(load_fn=_fills_by_order, cache=cache)
