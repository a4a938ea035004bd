"""Signing in and out: registration, password + TOTP login, Sign-In with Ethereum, token refresh, logout."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pyotp
import strawberry
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_hex_address, to_checksum_address
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from graphql_api import audit
from graphql_api.audit import Action
from graphql_api.auth import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    AuthenticationFailed,
    IssuedTokens,
    RefreshTokenReused,
    hash_password,
    open_session,
    rotate_refresh_token,
    utcnow,
    verify_password,
)
from graphql_api.context import Context, Info
from graphql_api.crypto import Cipher
from graphql_api.errors import BadUserInput, RateLimited, Unauthenticated
from graphql_api.ratelimit import guess_failed, reserve_guess
from graphql_api.sessions import announce_session_ended, csrf_safe
from models.audit import Outcome
from models.identity import AuthMethod, Role, User, UserStatus, WalletNonce
from models.identity import Session as SessionRow
from schema.common import InvalidInput, invalid
from schema.identity import (
    AccountNotActive,
    AuthPayload,
    InvalidCredentials,
    InvalidSignature,
    InvalidTwoFactorCode,
    LoginInput,
    LoginResult,
    RegisterInput,
    RegisterResult,
    RegistrationPending,
    Session,
    TwoFactorRequired,
    WalletChallenge,
    WalletVerifyInput,
    WalletVerifyResult,
)
from schema.identity import User as UserType
from schema.identity import UserStatus as UserStatusEnum

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CHALLENGES_PER_MINUTE = 30
_OPEN_CHALLENGES = 5
# Serialises the decisions that read the user table before writing it (first admin, last admin).
USERS_LOCK = 0x7573657273


def normalise_email(raw: str) -> str | InvalidInput:
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        return invalid("email is not a valid address", "email")
    return email


def password_problem(password: str, field: str, email: str | None = None) -> InvalidInput | None:
    if len(password) < 10:
        return invalid(f"{field} must be at least 10 characters", field)
    if len(password) > 128:
        return invalid(f"{field} must be at most 128 characters", field)
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        return invalid(f"{field} must contain at least one letter and one digit", field)
    if email and password.lower() == email:
        return invalid(f"{field} must not be the email address", field)
    return None


def totp_cipher(ctx: Context) -> Cipher:
    return Cipher(str(ctx.settings.secret_key), "totp")


def new_referral_code() -> str:
    return "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))


async def lock_users(conn: Any) -> None:
    """Serialise user-table decisions on PostgreSQL (SQLite already serialises write transactions)."""
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query(f"SELECT pg_advisory_xact_lock({USERS_LOCK})")


async def create_user(conn: Any, **fields: Any) -> User:
    """A user with a fresh unique referral code (retrying the rare collision)."""
    for _ in range(5):
        code = new_referral_code()
        if not await User.filter(referral_code=code).using_db(conn).exists():
            return await User.create(referral_code=code, using_db=conn, **fields)
    raise RuntimeError("could not allocate a referral code")


def signed_in(ctx: Context, user: User, session: SessionRow, tokens: IssuedTokens) -> AuthPayload:
    """The payload for apps, and the same tokens as HttpOnly cookies for browsers."""
    response = ctx.http_response
    if response is not None:
        secure = ctx.settings.cookie_secure
        access_age = int((tokens.access_expires_at - utcnow()).total_seconds())
        refresh_age = int((tokens.refresh_expires_at - utcnow()).total_seconds())
        response.set_cookie(
            ACCESS_COOKIE, tokens.access_token, max_age=access_age, httponly=True, secure=secure, samesite="lax"
        )
        response.set_cookie(
            REFRESH_COOKIE,
            tokens.refresh_token,
            max_age=refresh_age,
            httponly=True,
            secure=secure,
            samesite="strict",
            path="/graphql",
        )
    return AuthPayload(
        access_token=tokens.access_token,
        access_token_expires_at=tokens.access_expires_at,
        refresh_token=tokens.refresh_token,
        refresh_token_expires_at=tokens.refresh_expires_at,
        token_type="Bearer",
        user=UserType.from_model(user),
        session=Session.from_model(session, str(session.id)),
    )


def clear_cookies(ctx: Context) -> None:
    response = ctx.http_response
    if response is not None:
        response.delete_cookie(ACCESS_COOKIE)
        response.delete_cookie(REFRESH_COOKIE, path="/graphql")


async def register(
    info: Info, input: Annotated[RegisterInput, strawberry.argument(description="The new account.")]
) -> RegisterResult:
    ctx = info.context
    email = normalise_email(input.email)
    if isinstance(email, InvalidInput):
        return email
    problem = password_problem(input.password, "password", email)
    if problem:
        return problem
    name = input.name.strip()
    if not 1 <= len(name) <= 100:
        return invalid("name must be 1 to 100 characters", "name")
    password_hash = hash_password(input.password)
    client = ctx.client

    async with in_transaction() as conn:
        await lock_users(conn)
        if await User.filter(email=email).using_db(conn).exists():
            return invalid("an account with this email already exists", "email", code="EMAIL_TAKEN")
        first = not await User.all().using_db(conn).exists()
        role = Role.ADMIN if first else Role.TRADER
        active = first or ctx.settings.registration_mode == "open"
        user = await create_user(
            conn,
            email=email,
            password_hash=password_hash,
            name=name,
            role=role,
            status=UserStatus.ACTIVE if active else UserStatus.PENDING,
        )
        await audit.record(
            Action.AUTH_REGISTER,
            Outcome.SUCCESS,
            actor=user,
            target_type="User",
            target_id=user.id,
            ip=client.ip,
            detail={"role": role.value, "status": user.status},
            conn=conn,
        )
        if not active:
            return RegistrationPending(message="Registered. An administrator must approve the account.", email=email)
        session, tokens = await open_session(ctx.settings, user, AuthMethod.PASSWORD, client, None, conn)
    return signed_in(ctx, user, session, tokens)


def _verify_totp(secret: str, code: str, last_step: int | None) -> int | None:
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


async def consume_totp(ctx: Context, user: User, code: str, *, pending: bool = False) -> bool:
    """Check a code against the user's secret (or pending secret) and burn its time step."""
    stored = user.totp_pending_secret if pending else user.totp_secret
    if not stored:
        return False
    step = _verify_totp(totp_cipher(ctx).decrypt(stored), code, user.totp_last_step)
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


async def login(
    info: Info, input: Annotated[LoginInput, strawberry.argument(description="Credentials.")]
) -> LoginResult:
    ctx = info.context
    settings = ctx.settings
    email = normalise_email(input.email)
    if isinstance(email, InvalidInput):
        return email
    client = ctx.client
    account_key, ip_key = f"login:account:{email}", f"login:ip:{client.ip}"

    async def denied(exc: RateLimited) -> RateLimited:
        await audit.record(
            Action.AUTH_LOGIN, Outcome.DENIED, actor_label=email, ip=client.ip, detail={"reason": "rate_limited"}
        )
        return exc

    # Both reservations happen before the password is looked at, atomically: concurrent guesses cannot all
    # pass a check that counts only after them. The account's back-off holds whatever address guesses.
    per_address = await ctx.counters.take(ip_key, settings.login_failures_per_ip, settings.login_failure_window)
    if not per_address.allowed:
        raise await denied(
            RateLimited(
                "too many sign-in attempts from this address; try again later", retryAfter=per_address.retry_after()
            )
        )
    try:
        await reserve_guess(ctx, account_key)
    except RateLimited as exc:
        raise await denied(exc) from None

    async def failed(reason: str) -> None:
        await guess_failed(ctx, account_key)
        await audit.record(
            Action.AUTH_LOGIN,
            Outcome.FAILURE,
            actor=user,
            actor_label=email,
            target_type="User" if user else "",
            target_id=user.id if user else "",
            ip=client.ip,
            detail={"reason": reason},
        )

    user = await User.get_or_none(email=email)
    if not verify_password(user.password_hash if user else None, input.password) or user is None:
        await failed("bad_credentials")
        return InvalidCredentials(message="email or password is wrong", code="INVALID_CREDENTIALS", field=None)
    if user.totp_secret:
        if not input.totp_code:
            # The password was right, but the sign-in is not done: a guess that ends here still counts,
            # or asking without a code would reset the count of wrong codes.
            await guess_failed(ctx, account_key)
            return TwoFactorRequired(
                message="this account needs a TOTP code", code="TWO_FACTOR_REQUIRED", field="totpCode"
            )
        if not await consume_totp(ctx, user, input.totp_code):
            await failed("bad_totp")
            return InvalidTwoFactorCode(
                message="the TOTP code is wrong, expired or already used",
                code="INVALID_TWO_FACTOR_CODE",
                field="totpCode",
            )
    if user.status != UserStatus.ACTIVE:
        await ctx.counters.forget_guesses(account_key)
        await audit.record(
            Action.AUTH_LOGIN, Outcome.DENIED, actor=user, ip=client.ip, detail={"reason": f"status_{user.status}"}
        )
        return _not_active(user)

    await ctx.counters.forget_guesses(account_key)
    await ctx.counters.give_back(ip_key, settings.login_failure_window)
    async with in_transaction() as conn:
        session, tokens = await open_session(settings, user, AuthMethod.PASSWORD, client, input.device, conn)
    return signed_in(ctx, user, session, tokens)


def _not_active(user: User) -> AccountNotActive:
    pending = user.status == UserStatus.PENDING
    return AccountNotActive(
        message="the account is awaiting approval" if pending else "the account is suspended",
        code="ACCOUNT_PENDING" if pending else "ACCOUNT_SUSPENDED",
        field=None,
        status=UserStatusEnum(user.status),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def siwe_message(ctx: Context, address: str, nonce: str, issued: datetime, expires: datetime) -> str:
    """An EIP-4361 message bound to this deployment's domain, URI and chain."""
    s = ctx.settings
    return (
        f"{s.siwe_domain} wants you to sign in with your Ethereum account:\n"
        f"{address}\n\n"
        f"{s.siwe_statement}\n\n"
        f"URI: {s.siwe_uri}\n"
        f"Version: 1\n"
        f"Chain ID: {s.siwe_chain_id}\n"
        f"Nonce: {nonce}\n"
        f"Issued At: {_iso(issued)}\n"
        f"Expiration Time: {_iso(expires)}"
    )


_SIWE = re.compile(
    r"^(?P<domain>\S+) wants you to sign in with your Ethereum account:\n"
    r"(?P<address>0x[0-9a-fA-F]{40})\n\n"
    r"(?:(?P<statement>[^\n]*)\n\n)?"
    r"URI: (?P<uri>\S+)\n"
    r"Version: (?P<version>\S+)\n"
    r"Chain ID: (?P<chain>\d+)\n"
    r"Nonce: (?P<nonce>[A-Za-z0-9]{8,})\n"
    r"Issued At: (?P<issued>\S+)"
    r"(?:\nExpiration Time: (?P<expires>\S+))?"
    r"(?:\n[\s\S]*)?$"
)


def checksum(address: str) -> str | None:
    candidate = address.strip()
    if not is_hex_address(candidate.lower()):
        return None
    return str(to_checksum_address(candidate.lower()))


async def wallet_challenge(
    info: Info, address: Annotated[str, strawberry.argument(description="Ethereum address, any letter case.")]
) -> WalletChallenge:
    ctx = info.context
    checksummed = checksum(address)
    if checksummed is None:
        raise BadUserInput("address is not an Ethereum address (0x followed by 40 hex digits)", field="address")
    if await ctx.counters.add(f"challenge:ip:{ctx.client.ip}", 60) > _CHALLENGES_PER_MINUTE:
        raise RateLimited("too many wallet challenges; try again in a minute", retryAfter=60)
    now = utcnow()
    issued = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the message carries milliseconds
    expires = issued + timedelta(seconds=ctx.settings.wallet_nonce_ttl)
    nonce = secrets.token_hex(12)
    message = siwe_message(ctx, checksummed, nonce, issued, expires)
    async with in_transaction() as conn:
        # Keep the table small: expired challenges of this address go, and only the newest few stay open.
        await WalletNonce.filter(address=checksummed, expires_at__lte=now).using_db(conn).delete()
        open_nonces = (
            await WalletNonce.filter(address=checksummed, consumed_at=None)
            .using_db(conn)
            .order_by("-issued_at")
            .values_list("nonce", flat=True)
        )
        stale = list(open_nonces)[_OPEN_CHALLENGES - 1 :]
        if stale:
            await WalletNonce.filter(nonce__in=stale).using_db(conn).delete()
        await WalletNonce.create(
            nonce=nonce, address=checksummed, message=message, issued_at=issued, expires_at=expires, using_db=conn
        )
    return WalletChallenge(address=checksummed, nonce=nonce, message=message, issued_at=issued, expires_at=expires)


def _bad_signature(message: str, code: str, field: str | None = "signature") -> InvalidSignature:
    return InvalidSignature(message=message, code=code, field=field)


async def wallet_verify(
    info: Info, input: Annotated[WalletVerifyInput, strawberry.argument(description="The signed challenge.")]
) -> WalletVerifyResult:
    ctx = info.context
    settings = ctx.settings
    client = ctx.client
    address = checksum(input.address)
    if address is None:
        return invalid("address is not an Ethereum address (0x followed by 40 hex digits)", "address")

    async def refuse(result: InvalidSignature | InvalidInput, reason: str) -> InvalidSignature | InvalidInput:
        await audit.record(
            Action.AUTH_WALLET_LOGIN, Outcome.FAILURE, actor_label=address, ip=client.ip, detail={"reason": reason}
        )
        return result

    if input.message is not None:
        text = input.message.replace("\r\n", "\n")
    else:
        latest = (
            await WalletNonce.filter(address=address, consumed_at=None, expires_at__gt=utcnow())
            .order_by("-issued_at")
            .first()
        )
        if latest is None:
            return await refuse(
                _bad_signature(
                    "no open challenge for this address: call walletChallenge", "CHALLENGE_NOT_FOUND", "message"
                ),
                "no_challenge",
            )
        text = latest.message
    parsed = _SIWE.match(text)
    if parsed is None:
        return await refuse(
            _bad_signature("message is not a Sign-In with Ethereum message", "INVALID_MESSAGE", "message"), "malformed"
        )
    mismatches = [
        name
        for name, got, want in (
            ("domain", parsed["domain"], settings.siwe_domain),
            ("uri", parsed["uri"], settings.siwe_uri),
            ("chain id", parsed["chain"], str(settings.siwe_chain_id)),
            ("version", parsed["version"], "1"),
            ("address", parsed["address"].lower(), address.lower()),
        )
        if got != want
    ]
    if mismatches:
        return await refuse(
            _bad_signature(f"message {', '.join(mismatches)} does not match this site", "MESSAGE_MISMATCH", "message"),
            "mismatch:" + ",".join(mismatches),
        )
    challenge = await WalletNonce.get_or_none(nonce=parsed["nonce"])
    if challenge is None or challenge.address != address or challenge.message != text:
        return await refuse(
            _bad_signature("this message was not issued by this site", "UNKNOWN_NONCE", "message"), "unknown_nonce"
        )
    if challenge.consumed_at is not None:
        return await refuse(_bad_signature("this challenge was already used", "NONCE_USED", "message"), "nonce_reused")
    if challenge.expires_at <= utcnow():
        return await refuse(
            _bad_signature("this challenge has expired: request a new one", "NONCE_EXPIRED", "message"), "nonce_expired"
        )
    try:
        signer = Account.recover_message(encode_defunct(text=text), signature=input.signature)
    except Exception:  # eth-account raises several types for malformed signatures; all mean "not valid"
        return await refuse(_bad_signature("signature is malformed", "INVALID_SIGNATURE"), "malformed_signature")
    if signer.lower() != address.lower():
        return await refuse(_bad_signature("signature was not made by this address", "WRONG_SIGNER"), "wrong_signer")

    existing = await User.get_or_none(wallet_address=address)
    referrer: User | None = None
    if existing is None and input.referral_code:
        referrer = await User.get_or_none(referral_code=input.referral_code.strip().upper())
        if referrer is None:
            return await refuse(
                invalid("referral code does not exist", "referralCode", code="INVALID_REFERRAL_CODE"), "bad_referral"
            )
    if existing is not None and existing.status != UserStatus.ACTIVE:
        await audit.record(
            Action.AUTH_WALLET_LOGIN,
            Outcome.DENIED,
            actor=existing,
            ip=client.ip,
            detail={"reason": f"status_{existing.status}"},
        )
        return _not_active(existing)

    try:
        async with in_transaction() as conn:
            consumed = (
                await WalletNonce.filter(nonce=challenge.nonce, consumed_at=None)
                .using_db(conn)
                .update(consumed_at=utcnow())
            )
            if not consumed:
                raise _NonceRace
            user = existing or await create_user(
                conn, wallet_address=address, role=Role.TRADER, status=UserStatus.ACTIVE, referred_by=referrer
            )
            if existing is None:
                await audit.record(
                    Action.AUTH_REGISTER,
                    Outcome.SUCCESS,
                    actor=user,
                    target_type="User",
                    target_id=user.id,
                    ip=client.ip,
                    detail={"method": "wallet", "referredBy": str(referrer.id) if referrer else None},
                    conn=conn,
                )
            session, tokens = await open_session(settings, user, AuthMethod.WALLET, client, input.device, conn)
    except _NonceRace:
        return await refuse(_bad_signature("this challenge was already used", "NONCE_USED", "message"), "nonce_reused")
    except IntegrityError:
        # Two first sign-ins of one wallet raced with two challenges; the other created the account.
        return await refuse(_bad_signature("sign-in raced another one: request a new challenge", "RETRY"), "race")
    return signed_in(ctx, user, session, tokens)


class _NonceRace(Exception):
    pass


async def refresh_token(
    info: Info,
    refresh_token: Annotated[
        str | None, strawberry.argument(description="The refresh token; omit to use the refresh cookie.")
    ] = None,
) -> AuthPayload:
    ctx = info.context
    presented = refresh_token
    if presented is None:
        request = ctx.request
        presented = request.cookies.get(REFRESH_COOKIE)
        if presented and hasattr(request, "method") and not csrf_safe(request):  # type: ignore[arg-type]
            raise Unauthenticated("cookie refresh needs Content-Type: application/json or an X-CSRF-Token header")
    if not presented:
        raise Unauthenticated("refreshToken is required (argument or cookie)")
    try:
        session, tokens = await rotate_refresh_token(ctx.settings, presented, ctx.client)
    except RefreshTokenReused as exc:
        await announce_session_ended(ctx.bus, exc.session_id, "refresh token reuse")
        clear_cookies(ctx)
        raise Unauthenticated(str(exc)) from None
    except AuthenticationFailed as exc:
        raise Unauthenticated(str(exc)) from None
    return signed_in(ctx, session.user, session, tokens)


async def logout(info: Info) -> bool:
    ctx = info.context
    principal = ctx.principal
    assert principal is not None  # IsAuthenticated
    async with in_transaction() as conn:
        await (
            SessionRow.filter(id=principal.session.id, revoked_at=None)
            .using_db(conn)
            .update(revoked_at=utcnow(), revoked_reason="logout")
        )
        await audit.record(
            Action.AUTH_LOGOUT,
            Outcome.SUCCESS,
            actor=principal.user,
            target_type="Session",
            target_id=principal.session_id,
            ip=ctx.client.ip,
            conn=conn,
        )
    await announce_session_ended(ctx.bus, principal.session_id, "logout")
    clear_cookies(ctx)
    return True
