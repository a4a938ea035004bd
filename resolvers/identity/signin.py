"""Signing in and out over GraphQL: map each input to its action in graphql_api/services/identity, its
result to the payload, and hand browsers the tokens as HttpOnly cookies."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graphql_api.auth import ACCESS_COOKIE, REFRESH_COOKIE, utcnow
from graphql_api.context import Context, Info
from graphql_api.errors import BadUserInput, Unauthenticated
from graphql_api.permissions import require_principal
from graphql_api.rejections import Invalid, SignInRequired
from graphql_api.services.identity import signin, wallet
from graphql_api.sessions import csrf_safe
from schema.identity import (
    AuthPayload,
    LoginInput,
    LoginResult,
    RegisterInput,
    RegisterResult,
    RegistrationPending,
    Session,
    WalletChallenge,
    WalletVerifyInput,
    WalletVerifyResult,
)
from schema.identity import User as UserType

from ..results import actor, result


def signed_in(ctx: Context, done: signin.SignedIn) -> AuthPayload:
    """The payload for apps, and the same tokens as HttpOnly cookies for browsers."""
    tokens = done.tokens
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
        user=UserType.from_model(done.user),
        session=Session.from_model(done.session, str(done.session.id)),
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

    def answer(done: signin.Registered) -> RegisterResult:
        if done.signed_in is None:
            message = "Registered. An administrator must approve the account."
            return RegistrationPending(message=message, email=done.user.email or "")
        return signed_in(ctx, done.signed_in)

    action = signin.register(ctx, ctx.client, input.email, input.password, input.name, input.referral_code)
    answered: RegisterResult = await result(action, answer)
    return answered


async def login(
    info: Info, input: Annotated[LoginInput, strawberry.argument(description="Credentials.")]
) -> LoginResult:
    ctx = info.context
    action = signin.login(ctx, ctx.client, input.email, input.password, input.totp_code, input.device)
    answered: LoginResult = await result(action, lambda done: signed_in(ctx, done))
    return answered


async def wallet_challenge(
    info: Info, address: Annotated[str, strawberry.argument(description="Ethereum address, any letter case.")]
) -> WalletChallenge:
    ctx = info.context
    try:
        issued = await wallet.challenge(ctx, ctx.client, address)
    except Invalid as bad:
        # The payload is not a union: a bad address is a top-level BAD_USER_INPUT naming the argument.
        raise BadUserInput(bad.message, field=bad.field) from None
    return WalletChallenge(
        address=issued.address,
        nonce=issued.nonce,
        message=issued.message,
        issued_at=issued.issued_at,
        expires_at=issued.expires_at,
    )


async def wallet_verify(
    info: Info, input: Annotated[WalletVerifyInput, strawberry.argument(description="The signed challenge.")]
) -> WalletVerifyResult:
    ctx = info.context
    proof = wallet.Proof(input.address, input.signature, input.message, input.referral_code, input.device)
    answered: WalletVerifyResult = await result(wallet.verify(ctx, ctx.client, proof), lambda d: signed_in(ctx, d))
    return answered


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
        done = await signin.refresh(ctx, ctx.client, presented)
    except signin.SessionEnded as ended:
        clear_cookies(ctx)
        raise Unauthenticated(ended.message) from None
    except SignInRequired as refused:
        raise Unauthenticated(refused.message) from None
    return signed_in(ctx, done)


async def logout(info: Info) -> bool:
    ctx = info.context
    await signin.logout(ctx, actor(info), require_principal(ctx).session_id)
    clear_cookies(ctx)
    return True
