"""The per-request (or per-socket) context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from .auth import ClientInfo, Principal, client_info
from .loaders import Loaders

if TYPE_CHECKING:
    from .cachecontrol import Policy
    from .engine.adapters import AdapterRegistry
    from .engine.feed import MarketFeed
    from .engine.matching import PaperEngine
    from .fanout import Fanout
    from .pubsub import Bus
    from .ratelimit import WindowCounters
    from .settings import Settings


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    settings: Settings
    bus: Bus
    feed: MarketFeed | None
    counters: WindowCounters
    engine: PaperEngine
    adapters: AdapterRegistry
    principal: Principal | None = None
    # Why a presented credential was refused; shown when a field then requires authentication.
    auth_error: str | None = None
    # Set by strawberry from the graphql-transport-ws connection_init payload.
    connection_params: dict[str, object] | None = None
    loaders: Loaders = field(default_factory=Loaders)
    # An HTTP request answered by an event stream (graphql_api/httpstreams.py): subscriptions may run on it.
    streaming: bool = False
    # The cost of the operations a batch has run so far (graphql_api/limits.py); None outside a batch.
    batch_cost: int | None = None
    # The operation's HTTP cache policy (graphql_api/cachecontrol.py), set once its document is validated.
    cache_policy: Policy | None = None
    # The process's subscription groups (graphql_api/fanout.py); None outside the app (SDL export, scripts).
    fanout: Fanout | None = None

    @property
    def client(self) -> ClientInfo:
        return client_info(self.request)

    @property
    def http_response(self) -> Response | None:
        """The response to set cookies on (None on a websocket)."""
        return self.response if isinstance(self.response, Response) else None


Info = StrawberryInfo[Context, None]
