"""Account service functions. They take a session and keyword arguments and never commit."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.auth.models import LoginFailure, RevokedToken, Role, User
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


@dataclass(frozen=True)
class LoginPolicy:
    """How failed logins slow down one client IP on one account name: ``free`` failures in a row,
    then a wait of ``first_wait``, doubled at each further failure, up to ``max_wait``. Failures older
    than ``forget`` no longer count."""

    free: int = 5
    first_wait: timedelta = timedelta(seconds=1)
    max_wait: timedelta = timedelta(minutes=15)
    forget: timedelta = timedelta(hours=24)

    def wait_after(self, failures: int) -> timedelta | None:
        """The wait earned by ``failures`` in a row (None: none yet)."""
        if failures < self.free:
            return None
        return min(self.first_wait * 2 ** min(failures - self.free, 40), self.max_wait)


class LoginThrottled(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many failed logins from this address for this account; wait a while")
        self.retry_after_s = retry_after_s


def _account_key(username: str) -> str:
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


def _insert(session: Session):
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _take_attempt(session: Session, *, account: str, ip: str, now: datetime, policy: LoginPolicy) -> float:
    """Count this attempt as a failure in advance (a success forgets it), unless the pair must wait:
    then return the seconds left, counting nothing. One statement decides, so concurrent attempts in
    any worker cannot slip past a wait: each one counts, or waits."""
    table = LoginFailure.__table__
    session.execute(delete(table).where(table.c.last_failure_at < now - policy.forget))
    insert = _insert(session)
    counted = session.execute(
        insert(table)
        .values(account=account, ip=ip, failures=1, last_failure_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.account, table.c.ip],
            set_={"failures": table.c.failures + 1, "last_failure_at": now},
            where=or_(table.c.blocked_until.is_(None), table.c.blocked_until <= now),
        )
        .returning(table.c.failures)
    ).scalar()
    pair = (table.c.account == account) & (table.c.ip == ip)
    if counted is None:
        blocked_until = session.scalar(select(table.c.blocked_until).where(pair))
        return max((blocked_until - now).total_seconds(), 0.001)
    wait = policy.wait_after(counted)
    if wait is not None:
        session.execute(update(table).where(pair).values(blocked_until=now + wait))
    return 0.0


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    ip: str,
    now: datetime | None = None,
    policy: LoginPolicy = LoginPolicy(),
) -> User | None:
    """The active user with these credentials, else None.

    Failures are counted per account name and client IP (``policy``): a pair that failed too often
    waits (raises LoginThrottled before any password is checked), so an attacker elsewhere cannot
    lock a dispatcher out, and a name that does not exist is counted, answered and timed exactly like
    one that does. The caller commits, so the count is kept."""
    now = now or datetime.now(UTC)
    account, ip = _account_key(username), ip[:64]
    wait = _take_attempt(session, account=account, ip=ip, now=now, policy=policy)
    if wait:
        raise LoginThrottled(wait)
    user = get_user(session, username=username)
    if user is None:
        verify_password(password, DUMMY_HASH)
        return None
    if not verify_password(password, user.password_hash) or not user.is_active:
        return None
    session.execute(delete(LoginFailure).where(LoginFailure.account == account, LoginFailure.ip == ip))
    return user


def revoke_token(session: Session, *, token_id: str, expires_at: datetime) -> None:
    if token_id and session.get(RevokedToken, token_id) is None:
        session.add(RevokedToken(jti=token_id, expires_at=expires_at))


def is_revoked(session: Session, token_id: str) -> bool:
    return bool(token_id) and session.get(RevokedToken, token_id) is not None
