"""The rules every identity action shares: email and password validity, TOTP codes, the user-table lock."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pyotp

from models.audit import Outcome
from models.identity import User

from ... import audit
from ...audit import Action
from ...auth import utcnow
from ...crypto import Cipher
from ...rejections import Invalid
from ...settings import Settings

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# Serialises the decisions that read the user table before writing it (first admin, last admin).
USERS_LOCK = 0x7573657273


def normalise_email(raw: str) -> str:
    """The address as stored (trimmed, lower case); Invalid naming ``email`` when it is not one."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise Invalid("email is not a valid address", field="email")
    return email


def check_password(password: str, field: str, email: str | None = None) -> None:
    """Invalid naming ``field`` unless the password is 10–128 characters with a letter and a digit and is
    not the email address."""
    if len(password) < 10:
        raise Invalid(f"{field} must be at least 10 characters", field=field)
    if len(password) > 128:
        raise Invalid(f"{field} must be at most 128 characters", field=field)
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        raise Invalid(f"{field} must contain at least one letter and one digit", field=field)
    if email and password.lower() == email:
        raise Invalid(f"{field} must not be the email address", field=field)


def check_name(raw: str, field: str = "name") -> str:
    name = raw.strip()
    if not 1 <= len(name) <= 100:
        raise Invalid("name must be 1 to 100 characters", field=field)
    return name


def totp_cipher(settings: Settings) -> Cipher:
    return Cipher(str(settings.secret_key), "totp")


def new_referral_code() -> str:
    return "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))


async def lock_users(conn: Any) -> None:
    """Serialise user-table decisions on PostgreSQL (SQLite already serialises write transactions)."""
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query(f"SELECT pg_advisory_xact_lock({USERS_LOCK})")


async def create_user(conn: Any, ip: str, detail: dict[str, Any], **fields: Any) -> User:
    """A user with a fresh unique referral code (retrying the rare collision), and the audit row of its
    registration (``detail`` says how) in the same transaction."""
    for _ in range(5):
        code = new_referral_code()
        if not await User.filter(referral_code=code).using_db(conn).exists():
            user = await User.create(referral_code=code, using_db=conn, **fields)
            await audit.record(
                Action.AUTH_REGISTER,
                Outcome.SUCCESS,
                actor=user,
                target_type="User",
                target_id=user.id,
                ip=ip,
                detail=detail,
                conn=conn,
            )
            return user
    raise RuntimeError("could not allocate a referral code")


def _totp_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step the code belongs to (±1 step of drift), or None; a step at or before ``last_step``
    was already used and is refused, so a code cannot be replayed."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(utcnow().timestamp()) // totp.interval
    for step in (now_step, now_step - 1, now_step + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return None if last_step is not None and step <= last_step else step
    return None


async def consume_totp(settings: Settings, user: User, code: str, *, pending: bool = False) -> bool:
    """Check a code against the user's secret (or pending secret) and burn its time step."""
    stored = user.totp_pending_secret if pending else user.totp_secret
    if not stored:
        return False
    step = _totp_step(totp_cipher(settings).decrypt(stored), code, user.totp_last_step)
    if step is None:
        return False
    # Conditional: two concurrent uses of one code cannot both pass.
    query = User.filter(id=user.id)
    query = (
        query.filter(totp_last_step__lt=step) if user.totp_last_step is not None else query.filter(totp_last_step=None)
    )
    if not await query.update(totp_last_step=step):
        return False
    user.totp_last_step = step
    return True
