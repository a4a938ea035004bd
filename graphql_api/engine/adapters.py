"""Live venue adapters: the seam where real exchanges (ccxt, the Hyperliquid SDK) plug in.

None ships yet: no exchange is reachable from here, so connecting a LIVE account answers VenueUnavailable
instead of pretending. An adapter verifies credentials and reports balances; registering one (per venue id)
makes LIVE accounts on that venue connectable.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str
    passphrase: str | None = None


class AdapterError(Exception):
    """The venue refused or could not be reached; the message is safe to show (never contains secrets)."""


class VenueAdapter(Protocol):
    async def verify(self, credentials: Credentials) -> None: ...

    async def balances(self, credentials: Credentials) -> dict[str, Decimal]: ...


class AdapterRegistry:
    def __init__(self) -> None:
        self._adapters: dict[str, VenueAdapter] = {}

    def register(self, venue_id: str, adapter: VenueAdapter) -> None:
        self._adapters[venue_id] = adapter

    def unregister(self, venue_id: str) -> None:
        self._adapters.pop(venue_id, None)

    def get(self, venue_id: str) -> VenueAdapter | None:
        return self._adapters.get(venue_id)
