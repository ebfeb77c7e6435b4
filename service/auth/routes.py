"""``/api/v1/auth`` and ``/api/v1/users``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from service.auth.deps import AdminUser, CurrentUser
from service.auth.models import Role
from service.auth.security import issue_token
from service.auth.service import AccountError, authenticate, create_user
from service.common.problems import Problem
from service.deps import ReadSession, SettingsDep, WriteSession

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


class UserIn(BaseModel):
    username: str = Field(min_length=3, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Role
    display_name: str | None = Field(default=None, max_length=200)


@router.post("/auth/token", response_model=Token, summary="Log in (OAuth2 password flow)")
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: ReadSession,
    settings: SettingsDep,
) -> Token:
    user = authenticate(session, username=form.username, password=form.password)
    if user is None:
        raise Problem(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    ttl = timedelta(minutes=settings.token_ttl_minutes)
    token = issue_token(username=user.username, role=user.role.value, key=settings.signing_key, ttl=ttl)
    return Token(access_token=token, expires_in=int(ttl.total_seconds()), role=user.role)


@router.get("/auth/me", response_model=UserOut, summary="The signed-in account")
def me(user: CurrentUser) -> UserOut:
    return UserOut(id=user.id, username=user.username, role=user.role, display_name=user.display_name)


@router.post("/users", response_model=UserOut, status_code=201, summary="Create an account (admin)")
def add_user(body: UserIn, session: WriteSession, _admin: AdminUser) -> UserOut:
    try:
        user = create_user(
            session,
            username=body.username,
            password=body.password,
            role=body.role,
            display_name=body.display_name,
        )
    except AccountError as exc:
        raise Problem(409 if "taken" in str(exc) else 422, str(exc), field=exc.field) from None
    session.commit()
    return UserOut(id=user.id, username=user.username, role=user.role, display_name=user.display_name)
