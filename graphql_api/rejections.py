"""Why a domain action refused: typed, GraphQL-free, raised by the pre-trade checks and the domain actions.

Each kind maps to exactly one GraphQL error type, in one table (``resolvers/results.py``); a new check
(a compliance rule, say) raises one of these and needs no other wiring.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(eq=False)
class Rejection(Exception):
    """Nothing was written (or it was rolled back). ``field`` names the input at fault, if any."""

    message: str
    code: str = "INVALID_INPUT"
    field: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(eq=False)
class Invalid(Rejection):
    """An input value the caller must change."""


@dataclass(eq=False)
class Missing(Rejection):
    """The object does not exist, or is not the caller's to act on: the two look the same."""

    code: str = "NOT_FOUND"


@dataclass(eq=False)
class KillSwitchBlocked(Rejection):
    scope: str = "GLOBAL"
    code: str = "KILL_SWITCH_ACTIVE"


@dataclass(eq=False)
class FundsShort(Rejection):
    asset: str = ""
    required: Decimal = Decimal(0)
    available: Decimal = Decimal(0)
    code: str = "INSUFFICIENT_FUNDS"
    field: str | None = "quantity"


@dataclass(eq=False)
class ComplianceRefused(Rejection):
    rule: str = ""
    code: str = "COMPLIANCE_REJECTED"


@dataclass(eq=False)
class Conflict(Rejection):
    """The action would break a one-of rule against something that already exists (a second active trading
    session on an asset, say)."""

    code: str = "CONFLICT"


@dataclass(eq=False)
class VenueDown(Rejection):
    venue_id: str = ""
    code: str = "VENUE_UNAVAILABLE"


@dataclass(eq=False)
class NotAllowed(Rejection):
    """The caller's role does not allow the action at all (a top-level FORBIDDEN, not a result)."""

    code: str = "FORBIDDEN"


# -- identity -------------------------------------------------------------------------------------------


@dataclass(eq=False)
class BadCredentials(Rejection):
    """A password (or an email with it) that does not match."""

    code: str = "INVALID_CREDENTIALS"


@dataclass(eq=False)
class TwoFactorNeeded(Rejection):
    """The password was right, and the account also needs a TOTP code."""

    code: str = "TWO_FACTOR_REQUIRED"
    field: str | None = "totpCode"


@dataclass(eq=False)
class BadTwoFactorCode(Rejection):
    """A TOTP code that is wrong, expired or already used."""

    code: str = "INVALID_TWO_FACTOR_CODE"


@dataclass(eq=False)
class NotActive(Rejection):
    """The account is PENDING approval or SUSPENDED: it may not sign in."""

    status: str = "PENDING"


@dataclass(eq=False)
class BadSignature(Rejection):
    """A wallet signature, or the message it signs, that does not prove the sign-in."""

    code: str = "INVALID_SIGNATURE"
    field: str | None = "signature"


@dataclass(eq=False)
class SignInRequired(Rejection):
    """The credential presented does not (or no longer does) sign anyone in: a top-level UNAUTHENTICATED."""

    code: str = "UNAUTHENTICATED"
