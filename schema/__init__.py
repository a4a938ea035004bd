"""The composition root: Query and Subscription assembled from each domain's resolvers."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from functools import partial
from typing import TYPE_CHECKING

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, ParserCache, SchemaExtension
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig

from graphql_api.errors import ApiSchema, MaskInternalErrors, SubscriptionsOverWebSocketOnly
from graphql_api.inputs import CheckArgumentValues
from graphql_api.limits import DocumentLimits
from graphql_api.permissions import IsAdmin, IsAuthenticated, IsTrader
from graphql_api.ratelimit import AUTH, MARKET_DATA, TRADING, RateLimit, default_category
from graphql_api.scalars import SCALAR_MAP
from resolvers import account, auth, market
from resolvers import killswitch as killswitch_ops
from resolvers import node as nodes
from resolvers import orders as order_ops
from resolvers import portfolio as portfolio_ops
from resolvers import users as admin
from resolvers import venues as venue_ops

from . import identity as idt
from . import trading as tr
from .common import Connection, Node
from .market import Candle, CandleUpdate, Instrument, MarketStats, OrderBook, Price, PriceTick, Ticker

if TYPE_CHECKING:
    from graphql_api.settings import Settings

_AUTH: list[type[BasePermission]] = [IsAuthenticated]
_ADMIN: list[type[BasePermission]] = [IsAdmin]
_TRADER: list[type[BasePermission]] = [IsTrader]


@strawberry.type(description="Read-only entry points.")
class Query:
    instruments: list[Instrument] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=market.instruments,
        description="Every listed instrument, ordered by asset index.",
    )
    instrument: Instrument = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=market.instrument,
        description="One instrument by symbol (case-insensitive).",
    )
    price: Price = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=market.price,
        description="The latest feed price of one instrument.",
    )
    prices: list[Price] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=market.prices,
        description="The latest feed prices of several instruments, in the order asked.",
    )
    candles: list[Candle] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=market.candles,
        description="OHLCV candles of one instrument, ascending by openTime; the last may still be open. "
        "With `from`, the first `limit` from there on; otherwise the latest `limit` up to `to` (or now).",
    )
    ticker: Ticker = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=market.ticker,
        description="Rolling 24-hour statistics of one instrument.",
    )
    order_book: OrderBook = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=market.order_book,
        description="The paper venue's order book around the current price: what an order placed now fills against.",
    )
    market_stats: MarketStats = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=market.market_stats,
        description="Platform-wide 24-hour statistics: turnover, top gainers and losers.",
    )
    node: Node | None = strawberry.field(
        resolver=nodes.node, description="Any object by global ID, if it exists and is visible to the caller."
    )
    me: idt.User = strawberry.field(resolver=account.me, permission_classes=_AUTH, description="The signed-in user.")
    my_sessions: Connection[idt.Session] = strawberry.field(
        resolver=account.my_sessions, permission_classes=_AUTH, description="The signed-in user's live sessions."
    )
    users: Connection[idt.User] = strawberry.field(
        resolver=admin.users, permission_classes=_ADMIN, description="Admin: all users, newest first."
    )
    user: idt.User | None = strawberry.field(
        resolver=admin.user, permission_classes=_ADMIN, description="Admin: one user by ID."
    )
    admin_stats: idt.AdminStats = strawberry.field(
        resolver=admin.admin_stats, permission_classes=_ADMIN, description="Admin: user and session counts."
    )
    venues: list[tr.Venue] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=venue_ops.venues,
        description="The venue catalog: crypto exchanges and tokenized-securities venues.",
    )
    venue: tr.Venue | None = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)], resolver=venue_ops.venue, description="One venue by key."
    )
    venue_instruments: list[Instrument] = strawberry.field(
        extensions=[RateLimit(MARKET_DATA)],
        resolver=venue_ops.venue_instruments,
        description="Instruments tradable on a venue.",
    )
    my_venue_accounts: list[tr.VenueAccount] = strawberry.field(
        resolver=venue_ops.my_venue_accounts, permission_classes=_AUTH, description="The caller's venue accounts."
    )
    balances: list[tr.Balance] = strawberry.field(
        resolver=venue_ops.balances, permission_classes=_AUTH, description="Cash balances of a venue account."
    )
    order: tr.Order | None = strawberry.field(
        resolver=order_ops.order, permission_classes=_AUTH, description="One order by ID (own, or any for admins)."
    )
    orders: Connection[tr.Order] = strawberry.field(
        resolver=order_ops.orders, permission_classes=_AUTH, description="Order history, newest first, filtered."
    )
    positions: list[tr.Position] = strawberry.field(
        resolver=portfolio_ops.positions,
        permission_classes=_AUTH,
        description="Positions with live marks and PnL (open ones unless includeClosed).",
    )
    portfolio: tr.Portfolio = strawberry.field(
        resolver=portfolio_ops.portfolio, permission_classes=_AUTH, description="Value, cash, PnL and allocation."
    )
    kill_switch: tr.KillSwitchStatus = strawberry.field(
        resolver=killswitch_ops.kill_switch, permission_classes=_AUTH, description="The switches that apply to you."
    )
    kill_switch_history: Connection[tr.KillSwitchEvent] = strawberry.field(
        resolver=killswitch_ops.kill_switch_history,
        permission_classes=_AUTH,
        description="Activations and deactivations (global ones and your own; admins see all).",
    )


@strawberry.type(description="State-changing entry points. Expected failures are members of each result union.")
class Mutation:
    register: idt.RegisterResult = strawberry.mutation(
        extensions=[RateLimit(AUTH)],
        resolver=auth.register,
        description="Create an account. The first becomes ADMIN; later ones TRADER, signed in at once in open "
        "registration mode or PENDING approval in approval mode.",
    )
    login: idt.LoginResult = strawberry.mutation(
        extensions=[RateLimit(AUTH)],
        resolver=auth.login,
        description="Sign in with email, password and (when enabled) a TOTP code.",
    )
    wallet_challenge: idt.WalletChallenge = strawberry.mutation(
        extensions=[RateLimit(AUTH)],
        resolver=auth.wallet_challenge,
        description="Start Sign-In with Ethereum: a single-use EIP-4361 message for the wallet to sign.",
    )
    wallet_verify: idt.WalletVerifyResult = strawberry.mutation(
        extensions=[RateLimit(AUTH)],
        resolver=auth.wallet_verify,
        description="Finish Sign-In with Ethereum; creates the account on first sign-in.",
    )
    refresh_token: idt.AuthPayload = strawberry.mutation(
        extensions=[RateLimit(AUTH)],
        resolver=auth.refresh_token,
        description="Exchange a refresh token for new tokens. Each refresh token works once; reusing one ends "
        "its session. Failures are UNAUTHENTICATED errors.",
    )
    logout: bool = strawberry.mutation(
        resolver=auth.logout, permission_classes=_AUTH, description="End the current session."
    )
    update_profile: idt.UpdateUserResult = strawberry.mutation(
        resolver=account.update_profile, permission_classes=_AUTH, description="Change name, time zone, language."
    )
    update_notification_preferences: idt.UpdateUserResult = strawberry.mutation(
        resolver=account.update_notification_preferences,
        permission_classes=_AUTH,
        description="Change notification choices.",
    )
    change_password: idt.ChangePasswordResult = strawberry.mutation(
        resolver=account.change_password,
        permission_classes=_AUTH,
        description="Change the password; ends every other session.",
    )
    enable_two_factor: idt.TwoFactorSetupResult = strawberry.mutation(
        resolver=account.enable_two_factor,
        permission_classes=_AUTH,
        description="Begin two-factor setup: a new TOTP secret, active once confirmed.",
    )
    confirm_two_factor: idt.TwoFactorChangeResult = strawberry.mutation(
        resolver=account.confirm_two_factor,
        permission_classes=_AUTH,
        description="Turn two-factor on with a code from the new secret.",
    )
    disable_two_factor: idt.TwoFactorChangeResult = strawberry.mutation(
        resolver=account.disable_two_factor,
        permission_classes=_AUTH,
        description="Turn two-factor off with a current code.",
    )
    revoke_session: idt.RevokeSessionResult = strawberry.mutation(
        resolver=account.revoke_session, permission_classes=_AUTH, description="End one of your sessions."
    )
    approve_user: idt.AdminUserResult = strawberry.mutation(
        resolver=admin.approve_user,
        permission_classes=_ADMIN,
        description="Admin: make a PENDING or SUSPENDED account ACTIVE.",
    )
    suspend_user: idt.AdminUserResult = strawberry.mutation(
        resolver=admin.suspend_user,
        permission_classes=_ADMIN,
        description="Admin: block an account and end its sessions (its open sockets close within seconds).",
    )
    set_user_role: idt.AdminUserResult = strawberry.mutation(
        resolver=admin.set_user_role, permission_classes=_ADMIN, description="Admin: change a user's role."
    )
    delete_user: idt.DeleteUserResult = strawberry.mutation(
        resolver=admin.delete_user,
        permission_classes=_ADMIN,
        description="Admin: delete an account (never the last active admin).",
    )
    connect_venue: tr.ConnectVenueResult = strawberry.mutation(
        resolver=venue_ops.connect_venue,
        permission_classes=_TRADER,
        description="Connect a venue account: PAPER with a starting balance, or LIVE with credentials.",
    )
    disconnect_venue: tr.VenueAccountResult = strawberry.mutation(
        resolver=venue_ops.disconnect_venue,
        permission_classes=_TRADER,
        description="Disconnect: cancels working orders and forgets credentials; history stays.",
    )
    sync_venue: tr.VenueAccountResult = strawberry.mutation(
        resolver=venue_ops.sync_venue, permission_classes=_TRADER, description="Synchronise balances with the venue."
    )
    send_test_order: tr.PlaceOrderResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=order_ops.send_test_order,
        permission_classes=_TRADER,
        description="Paper only: an order that cannot fill, to check the path end to end.",
    )
    place_order: tr.PlaceOrderResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=order_ops.place_order,
        permission_classes=_TRADER,
        description="Place an order on a paper account. Idempotent on clientOrderId.",
    )
    cancel_order: tr.CancelOrderResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=order_ops.cancel_order,
        permission_classes=_TRADER,
        description="Cancel a working order.",
    )
    cancel_all_orders: tr.CancelAllResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=order_ops.cancel_all_orders,
        permission_classes=_TRADER,
        description="Cancel every working order of an account.",
    )
    close_position: tr.ClosePositionResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=portfolio_ops.close_position,
        permission_classes=_TRADER,
        description="Sell a whole position at market (cancelling its working sells first).",
    )
    close_all_positions: tr.CloseAllResult = strawberry.mutation(
        extensions=[RateLimit(TRADING)],
        resolver=portfolio_ops.close_all_positions,
        permission_classes=_TRADER,
        description="Close every open position of an account.",
    )
    activate_kill_switch: tr.KillSwitchResult = strawberry.mutation(
        resolver=killswitch_ops.activate_kill_switch,
        permission_classes=_TRADER,
        description="Stop trading (ACCOUNT: yours; GLOBAL: everyone, admins only): cancels working orders, "
        "refuses new ones except risk-reducing sells, raises a critical alert.",
    )
    deactivate_kill_switch: tr.KillSwitchResult = strawberry.mutation(
        resolver=killswitch_ops.deactivate_kill_switch, permission_classes=_TRADER, description="Resume trading."
    )


@strawberry.type(description="Live streams over graphql-transport-ws.")
class Subscription:
    order_updates: AsyncGenerator[tr.OrderUpdate, None] = strawberry.subscription(
        resolver=order_ops.order_updates,
        permission_classes=_AUTH,
        description="Your working orders, then every change to your orders.",
    )
    position_updates: AsyncGenerator[tr.PositionUpdate, None] = strawberry.subscription(
        resolver=portfolio_ops.position_updates,
        permission_classes=_AUTH,
        description="Your open positions, then each one again when a fill changes it or its mark moves.",
    )
    portfolio_updates: AsyncGenerator[tr.PortfolioUpdate, None] = strawberry.subscription(
        resolver=portfolio_ops.portfolio_updates,
        permission_classes=_AUTH,
        description="Your portfolio, then again after each change of your trading or of a held asset's price.",
    )
    kill_switch_changed: AsyncGenerator[tr.KillSwitchUpdate, None] = strawberry.subscription(
        resolver=killswitch_ops.kill_switch_changed,
        permission_classes=_AUTH,
        description="The kill switches that apply to you, then every change.",
    )
    price_ticks: AsyncGenerator[PriceTick, None] = strawberry.subscription(
        resolver=market.price_ticks,
        description="Price ticks for the given symbols: first a snapshot of each current price, then every "
        "tick the feed produces, each with a per-stream sequence number.",
    )
    candles: AsyncGenerator[CandleUpdate, None] = strawberry.subscription(
        resolver=market.candle_updates,
        description="One instrument's open candle of one interval: first its current state, then the candle "
        "again after every tick, a new one when the interval rolls over.",
    )


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the document limits of ``settings``; with none, the limits do not apply (SDL export)."""
    # Factories, not instances: strawberry builds extensions per operation and some keep per-operation state.
    suggestions = settings is None or settings.field_suggestions
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        partial(MaskInternalErrors, suggestions=suggestions),
        SubscriptionsOverWebSocketOnly,
        partial(CheckArgumentValues, suggestions=suggestions),
    ]
    if settings is None:
        extensions.append(partial(ParserCache, maxsize=1024))
    else:
        # Parses (cached) and refuses documents over the token, alias, depth or cost limits in one linear
        # pass, before validation; validation is not cached because a rule depends on the transport.
        extensions.append(partial(DocumentLimits, settings))
        if not settings.introspection:
            extensions.append(partial(AddValidationRules, [NoSchemaIntrospectionCustomRule]))
    default_category(Query, Mutation)
    return ApiSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[idt.User, idt.Session, tr.VenueAccount, tr.Order, tr.Position],
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not suggestions, scalar_map=SCALAR_MAP),
    )


__all__ = ["Mutation", "Query", "Subscription", "build_schema"]
