"""Account service functions. They take a session and keyword arguments and never commit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.models import RevokedToken, Role, User
from service.auth.security import DUMMY_HASH, hash_password, verify_password

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
MIN_PASSWORD_LENGTH = 8


class AccountError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def get_user(session: Session, *, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def create_user(session: Session, *, username: str, password: str, role: Role, display_name: str | None = None) -> User:
    """Create an account; raises AccountError naming the field on bad input or a taken name."""
    if not USERNAME_RE.match(username):
        raise AccountError("username", "username must be 3-64 letters, digits, '_', '.' or '-'")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if get_user(session, username=username) is not None:
        raise AccountError("username", f"username {username!r} is taken")
    user = User(username=username, password_hash=hash_password(password), role=Role(role), display_name=display_name)
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, *, user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = hash_password(password)


class AccountLocked(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many failed logins; the account is locked for a while")
        self.retry_after_s = retry_after_s


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    now: datetime | None = None,
    max_failures: int = 5,
    lock: timedelta = timedelta(minutes=5),
) -> User | None:
    """The active user with these credentials, else None (same cost whether or not the user exists).

    ``max_failures`` wrong passwords in a row lock the account for ``lock`` (raises AccountLocked
    while locked, even with the right password). The caller commits, so the count is kept."""
    now = now or datetime.now(UTC)
    user = get_user(session, username=username)
    if user is None:
        verify_password(password, DUMMY_HASH)
        return None
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLocked((user.locked_until - now).total_seconds())
    if not verify_password(password, user.password_hash) or not user.is_active:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + lock
            user.failed_logins = 0
        return None
    user.failed_logins = 0
    user.locked_until = None
    return user


def revoke_token(session: Session, *, token_id: str, expires_at: datetime) -> None:
    if token_id and session.get(RevokedToken, token_id) is None:
        session.add(RevokedToken(jti=token_id, expires_at=expires_at))


def is_revoked(session: Session, token_id: str) -> bool:
    return bool(token_id) and session.get(RevokedToken, token_id) is not None
