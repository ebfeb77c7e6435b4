"""``/api/v1/auth`` (log in and out) and ``/api/v1/users`` (accounts, admin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from service.audit.service import audit
from service.auth.deps import AdminUser, CurrentUser
from service.auth.models import Role, User
from service.auth.security import issue_token
from service.auth.service import AccountError, LoginPolicy, LoginThrottled, authenticate, create_user, revoke_token
from service.common.params import IdPath
from service.common.problems import Problem
from service.common.ratelimit import client_ip, too_many, window
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession

router = APIRouter(prefix="/api/v1", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the token expires")
    role: Role


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    display_name: str | None
    is_active: bool = True


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Role
    display_name: str | None = Field(default=None, max_length=200)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    is_active: bool | None = None
    display_name: str | None = Field(default=None, max_length=200)


def _out(user: User) -> UserOut:
    return UserOut(
        id=user.id, username=user.username, role=user.role, display_name=user.display_name, is_active=user.is_active
    )


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
    policy = LoginPolicy(
        free=settings.login_max_failures,
        first_wait=timedelta(seconds=settings.login_first_wait_seconds),
        max_wait=timedelta(minutes=settings.login_lock_minutes),
    )
    try:
        user = authenticate(session, username=form.username, password=form.password, ip=ip, now=clock(), policy=policy)
    except LoginThrottled as exc:
        session.commit()
        raise too_many(exc.retry_after_s, "too many attempts") from None
    session.commit()  # keep the failure count (or its reset)
    if user is None:
        raise Problem(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    token = issue_token(username=user.username, role=user.role.value, key=settings.signing_key, ttl=ttl)
    return Token(access_token=token, expires_in=int(ttl.total_seconds()), role=user.role)


@router.get("/auth/me", response_model=UserOut, summary="The signed-in account")
def me(user: CurrentUser) -> UserOut:
    return _out(user)


@router.post("/auth/logout", status_code=204, summary="Sign this token out (it stops working at once)")
def logout(user: CurrentUser, session: WriteSession) -> None:
    claims = user.token_claims  # type: ignore[attr-defined]
    revoke_token(session, token_id=claims.token_id, expires_at=claims.expires_at)
    session.commit()


@router.post("/auth/logout-all", status_code=204, summary="Sign out every token of this account")
def logout_all(user: CurrentUser, session: WriteSession) -> None:
    stored = session.get(User, user.id)
    stored.tokens_valid_after = datetime.now(UTC)
    audit(session, actor=user, action="logout_all", entity="user", entity_id=user.id)
    session.commit()


@router.get("/users", response_model=list[UserOut], summary="Accounts (admin)")
def list_users(session: ReadSession, _admin: AdminUser) -> list[UserOut]:
    return [_out(u) for u in session.scalars(select(User).order_by(User.id))]


@router.post("/users", response_model=UserOut, status_code=201, summary="Create an account (admin)")
def add_user(body: UserIn, session: WriteSession, admin: AdminUser) -> UserOut:
    try:
        user = create_user(
            session, username=body.username, password=body.password, role=body.role, display_name=body.display_name
        )
    except AccountError as exc:
        raise Problem(409 if "taken" in str(exc) else 422, str(exc), field=exc.field) from None
    audit(
        session,
        actor=admin,
        action="create",
        entity="user",
        entity_id=user.id,
        after={"username": user.username, "role": user.role.value},
    )
    session.commit()
    return _out(user)


@router.patch("/users/{user_id}", response_model=UserOut, summary="Change an account's role or status (admin)")
def edit_user(user_id: IdPath, body: UserPatch, session: WriteSession, admin: AdminUser) -> UserOut:
    user = session.get(User, user_id)
    if user is None:
        raise Problem(404, f"no user with id {user_id}", field="user_id")
    before = {"role": user.role.value, "is_active": user.is_active, "display_name": user.display_name}
    for key, value in body.model_dump(exclude_unset=True).items():
        if value is None and key != "display_name":
            raise Problem(422, f"{key} cannot be null", field=key)
        setattr(user, key, value)
    if body.is_active is False or (body.role is not None and body.role.value != before["role"]):
        user.tokens_valid_after = datetime.now(UTC)  # old tokens carry the old role
    audit(
        session,
        actor=admin,
        action="update",
        entity="user",
        entity_id=user.id,
        before=before,
        after={"role": user.role.value, "is_active": user.is_active, "display_name": user.display_name},
    )
    session.commit()
    return _out(user)


@router.post("/users/{user_id}/revoke-tokens", status_code=204, summary="Sign out every token of an account (admin)")
def revoke_user_tokens(user_id: IdPath, session: WriteSession, admin: AdminUser) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise Problem(404, f"no user with id {user_id}", field="user_id")
    user.tokens_valid_after = datetime.now(UTC)
    audit(session, actor=admin, action="revoke_tokens", entity="user", entity_id=user.id)
    session.commit()
