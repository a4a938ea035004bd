"""Referrals: a user's referral code (generated at sign-up, or one they choose), the code accepted at
``register`` and ``walletVerify``, the referrer's statistics, and the rewards a claim takes.

Rewards accrue per fill of a referred user (``engine/referrals.py``: REFERRAL_REWARD_RATE × the fill's fee,
one row per fill). ``claimReward`` (funds) credits the unclaimed ones to the ledger exactly once: the claim
stamps the rows with its ledger transaction by one conditional UPDATE (``take_unclaimed``), so of racing
claims only the first to reach a row takes it, and the others find nothing left."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.identity import User, UserStatus
from models.referrals import ReferralReward

from .. import audit
from ..audit import Action
from ..ownership import Actor
from ..rejections import Invalid

_CODE = re.compile(r"^[A-Z0-9]{4,16}$")
ZERO = Decimal(0)


def normalise(code: str, field: str = "code") -> str:
    """Codes are case-insensitive: kept in upper case, 4 to 16 letters or digits."""
    value = code.strip().upper()
    if not _CODE.match(value):
        raise Invalid("a referral code is 4 to 16 letters or digits", code="INVALID_REFERRAL_CODE", field=field)
    return value


async def referrer(code: str, field: str = "referralCode", conn: Any = None) -> User:
    """The active user whose code this is, or an INVALID_REFERRAL_CODE refusal naming ``field``."""
    found = await User.get_or_none(referral_code=normalise(code, field), using_db=conn)
    if found is None or found.status != UserStatus.ACTIVE:
        raise Invalid("referral code does not exist", code="INVALID_REFERRAL_CODE", field=field)
    return found


@dataclass
class Checked:
    code: str
    valid: bool
    reason: str | None


async def check(code: str) -> Checked:
    """Whether a code would be accepted at sign-up (without saying whose it is)."""
    try:
        await referrer(code, "code")
    except Invalid as refused:
        return Checked(code.strip().upper(), False, refused.message)
    return Checked(code.strip().upper(), True, None)


async def create_code(actor: Actor, code: str) -> User:
    """Make ``code`` the caller's referral code (replacing the one they had, which stops being accepted).
    Unique whatever the case: two users racing for one code, the database's unique index decides."""
    async with audit.refusals(actor, Action.REFERRAL_CREATE_CODE, target_type="User", target_id=actor.user.id):
        value = normalise(code)
        taken = Invalid("this referral code is taken", code="REFERRAL_CODE_TAKEN", field="code")
        if await User.filter(referral_code=value).exclude(id=actor.user.id).exists():
            raise taken
        try:
            async with in_transaction() as conn:
                user = await User.filter(id=actor.user.id).using_db(conn).select_for_update().get()
                before = user.referral_code
                user.referral_code = value
                await user.save(using_db=conn, update_fields=["referral_code", "updated_at"])
                await audit.by(
                    actor,
                    Action.REFERRAL_CREATE_CODE,
                    Outcome.SUCCESS,
                    target_type="User",
                    target_id=user.id,
                    detail={"code": value, "replaced": before},
                    conn=conn,
                )
        except IntegrityError:
            raise taken from None
    return user


@dataclass
class Info:
    code: str
    referred_by_code: str | None
    referred_users: int


async def info(user_id: str) -> Info:
    user = await User.get(id=user_id)
    referred_by = await User.get_or_none(id=user.referred_by_id) if user.referred_by_id else None
    return Info(
        code=user.referral_code,
        referred_by_code=referred_by.referral_code if referred_by else None,
        referred_users=await User.filter(referred_by_id=user_id).count(),
    )


@dataclass
class Stats:
    referred_users: int
    trading_users: int
    volume: Decimal
    fees: Decimal
    accrued: Decimal
    claimed: Decimal

    @property
    def claimable(self) -> Decimal:
        return self.accrued - self.claimed


async def stats(user_id: str) -> Stats:
    """The referrer's referred users and what their fills brought: volume, fees, rewards accrued and claimed."""
    rows = await ReferralReward.filter(referrer_id=user_id).values_list(
        "referred_id", "volume", "fee", "amount", "claim_txn"
    )
    return Stats(
        referred_users=await User.filter(referred_by_id=user_id).count(),
        trading_users=len({r[0] for r in rows}),
        volume=sum((r[1] for r in rows), ZERO),
        fees=sum((r[2] for r in rows), ZERO),
        accrued=sum((r[3] for r in rows), ZERO),
        claimed=sum((r[3] for r in rows if r[4] is not None), ZERO),
    )


async def take_unclaimed(conn: Any, user_id: object, claim: uuid.UUID) -> Decimal:
    """Stamp the user's unclaimed rewards with ``claim`` and return their sum, inside the claim's transaction.

    One conditional UPDATE (``claim_txn IS NULL``) takes the rows: a racing claim waits on the row locks and,
    once the first commits, finds them stamped (PostgreSQL re-checks the condition on the row it waited
    for; SQLite runs one writer at a time). A SELECT ... FOR UPDATE through ``values_list`` would not do:
    tortoise drops the lock clause on value querysets."""
    await ReferralReward.filter(referrer_id=user_id, claim_txn=None).using_db(conn).update(claim_txn=claim)
    amounts = await ReferralReward.filter(claim_txn=claim).using_db(conn).values_list("amount", flat=True)
    return sum((Decimal(a) for a in amounts), ZERO)
