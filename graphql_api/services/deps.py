"""What a domain action needs from the running process (a request context or the app's resources have it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..engine.adapters import AdapterRegistry
    from ..engine.matching import PaperEngine
    from ..pubsub import Bus
    from ..ratelimit import WindowCounters
    from ..settings import Settings


class Deps(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def bus(self) -> Bus: ...
    @property
    def engine(self) -> PaperEngine: ...
    @property
    def adapters(self) -> AdapterRegistry: ...
    @property
    def counters(self) -> WindowCounters: ...
