"""Per-request DataLoaders, owned by their domains (Saleor's <Thing>By<Key>Loader naming).

A domain defines its loader class next to its types (``schema/orders.py`` has ``FillsByOrderLoader``);
``info.context.loaders.get(FillsByOrderLoader)`` creates it on first use in a request and returns the same
instance after, so related rows load in one query per request and no central class lists every loader.

A socket's context lives as long as the socket, so its loaders batch without caching
(``Loaders(cache=False)``): a cache would serve each order's first fills to every later event.
"""

from __future__ import annotations

from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

L = TypeVar("L", bound=DataLoader[Any, Any])


class Loaders:
    def __init__(self, *, cache: bool = True) -> None:
        self.cache = cache
        self._made: dict[type[DataLoader[Any, Any]], DataLoader[Any, Any]] = {}

    def get(self, loader: type[L]) -> L:
        made = self._made.get(loader)
        if made is None:
            made = self._made[loader] = loader(cache=self.cache)  # type: ignore[call-overload]
        return made  # type: ignore[return-value]
