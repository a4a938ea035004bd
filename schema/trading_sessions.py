"""Trading sessions (Alura): quick and advanced sessions, their trades and positions, the decision log, and
the EIP-712 close signature. Actions: graphql_api/services/trading_sessions.py; the engine that trades them:
graphql_api/engine/trading_sessions.py."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import trading_sessions as m

from .common import Conflict, InvalidInput, Node, NotFound, enum_from
from .identity import InvalidSignature
from .killswitch import KillSwitchActive
from .orders import ComplianceRejected, InsufficientFunds

if TYPE_CHECKING:
    from models.trading_sessions import (
        EndReason,
        ExecutionStrategy,
        LogKind,
        LotStatus,
        SessionKind,
        SessionStatus,
        StrategyDuration,
        TradeSide,
    )
else:
    SessionKind = enum_from(
        m.SessionKind,
        "Which of Alura's forms started the session.",
        {
            "QUICK": "Quick trade: budget, target and threshold set by hand.",
            "ADVANCED": "Advanced trade: an "
            "execution strategy and a duration set leverage, positions, target and threshold.",
        },
        name="TradingSessionKind",
    )
    ExecutionStrategy = enum_from(
        m.ExecutionStrategy,
        "How boldly an advanced session trades: leverage (capped by the instrument's maximum), positions held "
        "at once, profit target and loss threshold in percent of the budget.",
        {
            "CONSERVATIVE": "2x, 1 position, target 5 %, threshold 3 % (quick sessions trade at 2x too).",
            "AGGRESSIVE": "5x, 2 positions, target 15 %, threshold 8 %.",
            "DEGEN": "10x, 3 positions, target 40 %, threshold 20 %.",
        },
    )
    StrategyDuration = enum_from(
        m.StrategyDuration,
        "How long an advanced session runs before it ends on its own.",
        {
            "D1": "One day.",
            "D3": "Three days.",
            "D7": "Seven days.",
            "D30": "Thirty days.",
            "D90": "Ninety days.",
            "D365": "A year.",
        },
    )
    SessionStatus = enum_from(
        m.SessionStatus,
        "Whether a session still trades.",
        {"ACTIVE": "The engine trades it.", "ENDED": "Over: endReason says why; its positions are closed."},
        name="TradingSessionStatus",
    )
    EndReason = enum_from(
        m.EndReason,
        "Why a session ended.",
        {
            "PROFIT_TARGET": "Its PnL reached +profitTarget % of the budget.",
            "LOSS_THRESHOLD": "Its PnL fell to −lossThreshold % of the budget.",
            "DURATION": "Its strategy duration ran out.",
            "CLOSED_BY_USER": "Its owner closed its trade or its asset's position.",
        },
        name="TradingSessionEndReason",
    )
    TradeSide = enum_from(
        m.TradeSide,
        "Which way a session's trade faces.",
        {"LONG": "Bought: gains when the mark rises.", "SHORT": "Sold: gains when the mark falls."},
        name="SessionTradeSide",
    )
    LotStatus = enum_from(
        m.LotStatus,
        "Whether a session's trade or position is still open.",
        {"OPEN": "Held.", "CLOSED": "Closed by a reduce-only order."},
        name="SessionPositionStatus",
    )
    LogKind = enum_from(
        m.LogKind,
        "What a session log entry records.",
        {
            "SESSION_STARTED": "The session was created.",
            "SIGNAL": "The engine read a new signal and decided what to do with it.",
            "POSITION_OPENED": "A position was opened (its order and fill prices in the detail).",
            "POSITION_CLOSED": "A position was closed, by the engine or its owner.",
            "SKIPPED": "The engine would have opened a position and did not, for the reason given.",
            "TRADE_CLOSED": "The trade's last position closed.",
            "SESSION_ENDED": "The session ended (target, threshold, duration or its owner).",
        },
        name="SessionLogKind",
    )


@strawberry.type(
    description="A trading session: trades one asset of a Hyperliquid paper account within a budget until its "
    "profit target, its loss threshold or its duration ends it. Figures come from its orders' fills: "
    "pnl = realizedPnl + unrealizedPnl − fees."
)
class TradingSession(Node):
    venue_account_id: strawberry.ID = strawberry.field(description="Global ID of the perp account it trades.")
    kind: SessionKind = strawberry.field(description="QUICK or ADVANCED.")
    asset_index: int = strawberry.field(description="Hyperliquid asset index traded.")
    symbol: str = strawberry.field(description="Instrument symbol traded.")
    budget: Decimal = strawberry.field(description="USDC the session may put up as margin across its positions.")
    profit_target: Decimal = strawberry.field(description="Percent of the budget at which it ends in profit.")
    loss_threshold: Decimal = strawberry.field(description="Percent of the budget at which it ends in loss.")
    max_positions: int = strawberry.field(description="Positions it may hold at once.")
    execution_strategy: ExecutionStrategy = strawberry.field(description="Strategy (quick: CONSERVATIVE).")
    strategy_duration: StrategyDuration | None = strawberry.field(description="Duration (advanced only).")
    max_wallet_budget: bool = strawberry.field(description="The budget was the account's whole free balance.")
    leverage: int = strawberry.field(description="Leverage its positions are opened at.")
    status: SessionStatus = strawberry.field(description="ACTIVE or ENDED.")
    end_reason: EndReason | None = strawberry.field(description="Why it ended (null while active).")
    ends_at: datetime | None = strawberry.field(description="When its duration runs out (advanced only).")
    ended_at: datetime | None = strawberry.field(description="When it ended.")
    created_at: datetime = strawberry.field(description="When it started.")
    realized_pnl: Decimal = strawberry.field(
        description="Σ over closed positions of side × (exit notional − entry notional), side +1 long −1 short."
    )
    unrealized_pnl: Decimal = strawberry.field(
        description="Σ over open positions of side × (size × mark − entry notional)."
    )
    fees: Decimal = strawberry.field(description="Σ fees of its orders' fills.")
    pnl: Decimal = strawberry.field(description="realizedPnl + unrealizedPnl − fees.")
    pnl_percent: Decimal = strawberry.field(description="100 × pnl / budget.")
    volume: Decimal = strawberry.field(description="Σ price × quantity of its orders' fills.")
    fills: int = strawberry.field(description="Number of fills of its orders.")
    open_positions: int = strawberry.field(description="Positions it holds now.")


@strawberry.type(description="A position a session opened with one market order and closes with one reduce-only order.")
class SessionPosition(Node):
    session_id: strawberry.ID = strawberry.field(description="Global ID of its session.")
    trade_id: strawberry.ID = strawberry.field(description="Global ID of its trade.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    asset_index: int = strawberry.field(description="Hyperliquid asset index.")
    side: TradeSide = strawberry.field(description="LONG or SHORT.")
    size: Decimal = strawberry.field(description="Quantity opened (positive).")
    entry_price: Decimal = strawberry.field(description="Average price of its opening fills.")
    exit_price: Decimal | None = strawberry.field(description="Average price of its closing fills.")
    status: LotStatus = strawberry.field(description="OPEN or CLOSED.")
    realized_pnl: Decimal = strawberry.field(description="side × size × (exitPrice − entryPrice) once closed.")
    fees: Decimal = strawberry.field(description="Fees of its opening and closing fills.")
    open_order_id: strawberry.ID = strawberry.field(description="Global ID of the order that opened it.")
    close_order_id: strawberry.ID | None = strawberry.field(description="Global ID of the order that closed it.")
    close_reason: str | None = strawberry.field(description="Why it was closed.")
    opened_at: datetime = strawberry.field(description="When it was opened.")
    closed_at: datetime | None = strawberry.field(description="When it was closed.")


@strawberry.type(description="A session's run in the market: from its first position until it is flat again.")
class SessionTrade(Node):
    session_id: strawberry.ID = strawberry.field(description="Global ID of its session.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    side: TradeSide = strawberry.field(description="LONG or SHORT.")
    status: LotStatus = strawberry.field(description="OPEN while a position is held.")
    close_reason: str | None = strawberry.field(description="Why it closed.")
    opened_at: datetime = strawberry.field(description="When its first position opened.")
    closed_at: datetime | None = strawberry.field(description="When its last position closed.")
    positions: list[SessionPosition] = strawberry.field(description="Its positions, oldest first.")


@strawberry.type(description="One named value a log entry carries (prices, sizes, order IDs, the signal).")
class SessionLogValue:
    name: str = strawberry.field(description="What it is.")
    value: str = strawberry.field(description="Its value, as text (decimals exact).")


@strawberry.type(description="One decision of a session, with its reason.")
class SessionLogEntry:
    id: strawberry.ID = strawberry.field(description="Stable identifier of the entry.")
    session_id: strawberry.ID = strawberry.field(description="Global ID of its session.")
    trade_id: strawberry.ID | None = strawberry.field(description="Global ID of the trade it concerns, if any.")
    kind: LogKind = strawberry.field(description="What it records.")
    message: str = strawberry.field(description="The decision and its reason, for people.")
    detail: list[SessionLogValue] = strawberry.field(description="The figures behind it.")
    created_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="The session was started.")
class TradingSessionCreated:
    session: TradingSession = strawberry.field(description="The new session.")


@strawberry.input(description="Alura's quick trade.")
class CreateQuickTradingSessionInput:
    budget: Decimal = strawberry.field(description="USDC, at least 10, at most the account's free balance.")
    profit_target: Decimal = strawberry.field(description="Percent of the budget, above 0 and at most 500.")
    asset_index: int = strawberry.field(description="Hyperliquid perp asset index (BTC 0, ETH 1, SOL 2, …).")
    loss_threshold: Decimal | None = strawberry.field(
        default=None, description="Percent of the budget, above 0 and at most 100; default 10."
    )
    max_positions: int | None = strawberry.field(default=None, description="1 to 10; default 1.")
    venue_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="A Hyperliquid paper account of yours; default your first."
    )


@strawberry.input(description="Alura's advanced trade.")
class CreateAdvancedTradingSessionInput:
    amount: Decimal = strawberry.field(description="USDC budget, at least 10 (ignored when maxWalletBudget).")
    execution_strategy: ExecutionStrategy = strawberry.field(description="CONSERVATIVE, AGGRESSIVE or DEGEN.")
    strategy_duration: StrategyDuration = strawberry.field(description="D1, D3, D7, D30, D90 or D365.")
    asset_index: int = strawberry.field(description="Hyperliquid perp asset index (BTC 0, ETH 1, SOL 2, …).")
    max_wallet_budget: bool = strawberry.field(
        default=False, description="Budget the account's whole free balance instead of amount."
    )
    venue_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="A Hyperliquid paper account of yours; default your first."
    )


CreateTradingSessionResult = Annotated[
    TradingSessionCreated | Conflict | InsufficientFunds | InvalidInput | NotFound,
    strawberry.union(
        "CreateTradingSessionResult",
        description="The session, or why not: Conflict when the asset already has an active session of yours.",
    ),
]


@strawberry.type(description="Positions of a session closed by reduce-only market orders, and the session after.")
class SessionPositionsClosed:
    session: TradingSession = strawberry.field(description="The session now (ENDED when its trade or asset closed).")
    positions: list[SessionPosition] = strawberry.field(description="The positions this closed, oldest first.")


CloseSessionResult = Annotated[
    SessionPositionsClosed
    | NotFound
    | Conflict
    | InvalidInput
    | InvalidSignature
    | KillSwitchActive
    | ComplianceRejected
    | InsufficientFunds,
    strawberry.union(
        "CloseSessionResult",
        description="The positions closed, or why not: NotFound (not yours), Conflict (already closed), "
        "InvalidSignature (closePositionWithSignature), or a refusal of the closing order.",
    ),
]


@strawberry.type(description="The EIP-712 domain of a close signature.")
class Eip712Domain:
    name: str = strawberry.field(description="Signing domain name (the platform).")
    version: str = strawberry.field(description="Signing domain version.")
    chain_id: int = strawberry.field(description="Chain ID (the wallet sign-in's).")


@strawberry.type(description="One member of an EIP-712 struct type.")
class Eip712Field:
    name: str = strawberry.field(description="Member name.")
    type: str = strawberry.field(description="Solidity type (string, bytes32, uint256).")


@strawberry.type(description="One EIP-712 struct type and its members, in order.")
class Eip712Type:
    name: str = strawberry.field(description="Type name (EIP712Domain, ClosePosition).")
    fields: list[Eip712Field] = strawberry.field(description="Its members, in encoding order.")


@strawberry.type(description="What the wallet signs to authorise closing a position.")
class ClosePositionMessage:
    position_id: strawberry.ID = strawberry.field(description="Global ID of the session position.")
    symbol: str = strawberry.field(description="Instrument symbol.")
    side: str = strawberry.field(description="LONG or SHORT.")
    size: str = strawberry.field(description="Size to close, as a decimal string.")
    nonce: str = strawberry.field(description="Single-use nonce (bytes32, 0x-hex); a newer request replaces it.")
    expiry: int = strawberry.field(description="Unix time after which the signature is refused.")


@strawberry.type(
    description="EIP-712 typed data authorising the close of one session position: sign it with the wallet "
    "linked to your account (eth_signTypedData_v4 of typedData) and pass the signature to "
    "closePositionWithSignature before expiry."
)
class ClosePositionTypedData:
    domain: Eip712Domain = strawberry.field(description="The signing domain.")
    types: list[Eip712Type] = strawberry.field(description="The struct types, EIP712Domain included.")
    primary_type: str = strawberry.field(description="The signed struct type: ClosePosition.")
    signed_message: ClosePositionMessage = strawberry.field(
        description="The signed values: typedData's message (named apart from UserError.message)."
    )
    typed_data: str = strawberry.field(description="The whole typed data as JSON, as eth_signTypedData_v4 takes it.")


ClosePositionSignatureResult = Annotated[
    ClosePositionTypedData | NotFound | Conflict | InvalidInput,
    strawberry.union(
        "ClosePositionSignatureResult",
        description="The typed data to sign, or why not: NotFound, Conflict (already closed), InvalidInput "
        "(NO_WALLET: no wallet is linked to your account).",
    ),
]


@strawberry.type(description="What one engine pass over the active sessions did.")
class SessionEnginePass:
    sessions: int = strawberry.field(description="Sessions stepped.")
    skipped: int = strawberry.field(description="Sessions skipped because another process was stepping them.")
    opened: int = strawberry.field(description="Positions opened.")
    closed: int = strawberry.field(description="Positions closed.")
    ended: int = strawberry.field(description="Sessions ended (target, threshold or duration).")


RunSessionEngineResult = Annotated[
    SessionEnginePass | NotFound | Conflict,
    strawberry.union(
        "RunSessionEngineResult", description="The pass, or why not: NotFound or Conflict (the session has ended)."
    ),
]


@strawberry.type(description="A change of one of your sessions: its state now and the decisions since the last one.")
class TradingSessionUpdate:
    sequence: int = strawberry.field(description="Per-stream sequence number, from 1 (the snapshot's first).")
    session: TradingSession = strawberry.field(description="The session now, with its PnL.")
    decisions: list[SessionLogEntry] = strawberry.field(
        description="Its log entries since the previous update of this session on this stream, oldest first "
        "(none in the opening snapshot)."
    )
