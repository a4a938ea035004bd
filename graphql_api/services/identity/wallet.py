"""Sign-In with Ethereum (EIP-4361): a single-use challenge bound to this deployment, and its verification."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_hex_address, to_checksum_address
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.audit import Outcome
from models.identity import AuthMethod, Role, User, UserStatus, WalletNonce

from ... import audit
from ...audit import Action
from ...auth import ClientInfo, open_session, utcnow
from ...errors import RateLimited
from ...rejections import BadSignature, Invalid, Rejection
from ...settings import Settings
from .. import referrals
from ..deps import Deps
from .credentials import create_user
from .signin import SignedIn, not_active

_CHALLENGES_PER_MINUTE = 30
_OPEN_CHALLENGES = 5
_NOT_AN_ADDRESS = "address is not an Ethereum address (0x followed by 40 hex digits)"


@dataclass(frozen=True)
class Challenge:
    address: str
    nonce: str
    message: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Proof:
    """What the wallet sends back: the signed message (or None for the newest open challenge)."""

    address: str
    signature: str
    message: str | None = None
    referral_code: str | None = None
    device: str | None = None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def siwe_message(settings: Settings, address: str, nonce: str, issued: datetime, expires: datetime) -> str:
    """An EIP-4361 message bound to this deployment's domain, URI and chain."""
    s = settings
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


async def challenge(deps: Deps, client: ClientInfo, address: str) -> Challenge:
    """A new single-use message for ``address`` to sign; only the newest few stay open per address."""
    checksummed = checksum(address)
    if checksummed is None:
        raise Invalid(_NOT_AN_ADDRESS, field="address")
    if await deps.counters.add(f"challenge:ip:{client.ip}", 60) > _CHALLENGES_PER_MINUTE:
        raise RateLimited("too many wallet challenges; try again in a minute", retryAfter=60)
    now = utcnow()
    issued = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the message carries milliseconds
    expires = issued + timedelta(seconds=deps.settings.wallet_nonce_ttl)
    nonce = secrets.token_hex(12)
    message = siwe_message(deps.settings, checksummed, nonce, issued, expires)
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
    return Challenge(checksummed, nonce, message, issued, expires)


class _NonceRace(Exception):
    pass


async def verify(deps: Deps, client: ClientInfo, proof: Proof) -> SignedIn:
    """Check the signed challenge and sign in, creating the account (with its referrer) on first sign-in."""
    settings = deps.settings
    address = checksum(proof.address)
    if address is None:
        raise Invalid(_NOT_AN_ADDRESS, field="address")

    async def refuse(rejection: Rejection, reason: str) -> Rejection:
        await audit.record(
            Action.AUTH_WALLET_LOGIN, Outcome.FAILURE, actor_label=address, ip=client.ip, detail={"reason": reason}
        )
        return rejection

    if proof.message is not None:
        text = proof.message.replace("\r\n", "\n")
    else:
        latest = (
            await WalletNonce.filter(address=address, consumed_at=None, expires_at__gt=utcnow())
            .order_by("-issued_at")
            .first()
        )
        if latest is None:
            message = "no open challenge for this address: call walletChallenge"
            raise await refuse(BadSignature(message, code="CHALLENGE_NOT_FOUND", field="message"), "no_challenge")
        text = latest.message
    parsed = _SIWE.match(text)
    if parsed is None:
        message = "message is not a Sign-In with Ethereum message"
        raise await refuse(BadSignature(message, code="INVALID_MESSAGE", field="message"), "malformed")
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
        message = f"message {', '.join(mismatches)} does not match this site"
        raise await refuse(
            BadSignature(message, code="MESSAGE_MISMATCH", field="message"), "mismatch:" + ",".join(mismatches)
        )
    issued = await WalletNonce.get_or_none(nonce=parsed["nonce"])
    if issued is None or issued.address != address or issued.message != text:
        message = "this message was not issued by this site"
        raise await refuse(BadSignature(message, code="UNKNOWN_NONCE", field="message"), "unknown_nonce")
    used = BadSignature("this challenge was already used", code="NONCE_USED", field="message")
    if issued.consumed_at is not None:
        raise await refuse(used, "nonce_reused")
    if issued.expires_at <= utcnow():
        message = "this challenge has expired: request a new one"
        raise await refuse(BadSignature(message, code="NONCE_EXPIRED", field="message"), "nonce_expired")
    try:
        signer = Account.recover_message(encode_defunct(text=text), signature=proof.signature)
    except Exception:  # eth-account raises several types for malformed signatures; all mean "not valid"
        raise await refuse(BadSignature("signature is malformed"), "malformed_signature") from None
    if signer.lower() != address.lower():
        raise await refuse(BadSignature("signature was not made by this address", code="WRONG_SIGNER"), "wrong_signer")

    existing = await User.get_or_none(wallet_address=address)
    referrer: User | None = None
    if existing is None and proof.referral_code:
        try:
            referrer = await referrals.referrer(proof.referral_code)
        except Invalid as bad:
            raise await refuse(bad, "bad_referral") from None
    if existing is not None and existing.status != UserStatus.ACTIVE:
        await audit.record(
            Action.AUTH_WALLET_LOGIN,
            Outcome.DENIED,
            actor=existing,
            ip=client.ip,
            detail={"reason": f"status_{existing.status}"},
        )
        raise not_active(existing)

    try:
        async with in_transaction() as conn:
            consumed = (
                await WalletNonce.filter(nonce=issued.nonce, consumed_at=None)
                .using_db(conn)
                .update(consumed_at=utcnow())
            )
            if not consumed:
                raise _NonceRace
            user = existing or await create_user(
                conn,
                client.ip,
                {"method": "wallet", "referredBy": str(referrer.id) if referrer else None},
                wallet_address=address,
                role=Role.TRADER,
                status=UserStatus.ACTIVE,
                referred_by=referrer,
            )
            session, tokens = await open_session(settings, user, AuthMethod.WALLET, client, proof.device, conn)
    except _NonceRace:
        raise await refuse(used, "nonce_reused") from None
    except IntegrityError:
        # Two first sign-ins of one wallet raced with two challenges; the other created the account.
        message = "sign-in raced another one: request a new challenge"
        raise await refuse(BadSignature(message, code="RETRY"), "race") from None
    return SignedIn(user, session, tokens)
