"""Who is calling: bearer-token dependencies and role checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import jwt
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from service.auth.models import Role, User
from service.auth.security import RetiredKey, read_token
from service.auth.service import get_user, is_revoked
from service.common.problems import Problem
from service.deps import ReadSession, SettingsDep

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def optional_user(
    token: Annotated[str | None, Depends(oauth2_scheme)], session: ReadSession, settings: SettingsDep
) -> User | None:
    """The caller's account when a valid token is sent; None when no token is sent."""
    if token is None:
        return None
    try:
        claims = read_token(token, key=settings.signing_key)
    except jwt.ExpiredSignatureError:
        raise Problem(401, "token has expired; log in again", headers=_CHALLENGE) from None
    except RetiredKey:
        raise Problem(401, "token was signed with a retired key; log in again", headers=_CHALLENGE) from None
    except jwt.PyJWTError:
        raise Problem(401, "token is invalid", headers=_CHALLENGE) from None
    user = get_user(session, username=claims.username)
    if user is None or not user.is_active:
        raise Problem(401, "account is unknown or disabled", headers=_CHALLENGE)
    if user.tokens_valid_after is not None and claims.issued_at < user.tokens_valid_after:
        raise Problem(401, "token was revoked; log in again", headers=_CHALLENGE)
    if is_revoked(session, claims.token_id):
        raise Problem(401, "token was signed out; log in again", headers=_CHALLENGE)
    session.expunge(user)
    user.token_claims = claims  # type: ignore[attr-defined]  # for sign-out
    return user


def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise Problem(401, "this endpoint needs a bearer token (POST /api/v1/auth/token)", headers=_CHALLENGE)
    return user


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only ``roles`` through (403 for other signed-in users)."""
    allowed = frozenset(roles)

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise Problem(403, f"role {user.role.value!r} may not do this; needs one of: {names}")
        return user

    check.allowed_roles = allowed  # type: ignore[attr-defined]  # read by the authorization matrix test
    return check


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]
StaffUser = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.PLANNER, Role.ADMIN))]
AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]
