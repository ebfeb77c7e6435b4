"""``/api/v1/auth`` (log in and out) and ``/api/v1/users`` (accounts, admin)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from service.auth import service
from service.auth.deps import AdminUser, CurrentUser
from service.auth.schemas import Token, UserIn, UserOut, UserPatch
from service.auth.security import issue_token
from service.common.params import IdPath
from service.common.problems import Problem
from service.common.ratelimit import client_ip, too_many, window
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/token", response_model=Token, summary="Log in (OAuth2 password flow)")
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
) -> Token:
    """Rate-limited per client IP; and failures in a row from one IP on one account name make that
    pair wait, longer at each further failure (429 with Retry-After), whether the name exists or not."""
    ip = client_ip(request)
    wait = window(request, "login", settings.login_rate_per_ip, 60.0).hit(ip)
    if wait:
        raise too_many(wait, "too many attempts")
    policy = service.LoginPolicy(
        free=settings.login_max_failures,
        first_wait=timedelta(seconds=settings.login_first_wait_seconds),
        max_wait=timedelta(minutes=settings.login_lock_minutes),
    )
    try:
        user = service.authenticate(
            session, username=form.username, password=form.password, ip=ip, now=clock(), policy=policy
        )
    except service.LoginThrottled:
        session.commit()  # keep the clean-up of forgotten failures; the 429 is the error's own
        raise
    session.commit()  # keep the failure count (or its reset)
    if user is None:
        raise Problem(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    token = issue_token(username=user.username, role=user.role.value, key=settings.signing_key, ttl=ttl)
    return Token(access_token=token, expires_in=int(ttl.total_seconds()), role=user.role)


@router.get("/auth/me", response_model=UserOut, summary="The signed-in account")
def me(user: CurrentUser) -> UserOut:
    return UserOut.of(user)


@router.post("/auth/logout", status_code=204, summary="Sign this token out (it stops working at once)")
def logout(user: CurrentUser, session: WriteSession) -> None:
    claims = user.token_claims  # type: ignore[attr-defined]  # set by optional_user
    service.revoke_token(session, token_id=claims.token_id, expires_at=claims.expires_at)
    session.commit()


@router.post("/auth/logout-all", status_code=204, summary="Sign out every token of this account")
def logout_all(user: CurrentUser, session: WriteSession) -> None:
    service.sign_out_everywhere(session, user=user)
    session.commit()


@router.get("/users", response_model=list[UserOut], summary="Accounts (admin)")
def list_users(session: ReadSession, _admin: AdminUser) -> list[UserOut]:
    return [UserOut.of(u) for u in service.list_users(session)]


@router.post("/users", response_model=UserOut, status_code=201, summary="Create an account (admin)")
def add_user(body: UserIn, session: WriteSession, admin: AdminUser) -> UserOut:
    user = service.add_user(
        session,
        by=admin,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
    )
    session.commit()
    return UserOut.of(user)


@router.patch("/users/{user_id}", response_model=UserOut, summary="Change an account's role or status (admin)")
def edit_user(user_id: IdPath, body: UserPatch, session: WriteSession, admin: AdminUser) -> UserOut:
    user = service.edit_user(session, by=admin, user_id=user_id, changes=body.model_dump(exclude_unset=True))
    session.commit()
    return UserOut.of(user)


@router.post("/users/{user_id}/revoke-tokens", status_code=204, summary="Sign out every token of an account (admin)")
def revoke_user_tokens(user_id: IdPath, session: WriteSession, admin: AdminUser) -> None:
    service.revoke_user_tokens(session, by=admin, user_id=user_id)
    session.commit()
