"""Account service functions. They take a session and keyword arguments and never commit."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.audit.service import audit
from service.auth.models import LoginFailure, RevokedToken, Role, User
from service.auth.security import DUMMY_HASH, hash_password, verify_password
from service.common.errors import Conflict, Invalid, NotFound, TooManyRequests
from service.common.ratelimit import retry_seconds

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
MIN_PASSWORD_LENGTH = 8


def get_user(session: Session, *, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def create_user(session: Session, *, username: str, password: str, role: Role, display_name: str | None = None) -> User:
    """Create an account; raises Invalid naming the field on bad input, Conflict for a taken name."""
    if not USERNAME_RE.match(username):
        raise Invalid("username must be 3-64 letters, digits, '_', '.' or '-'", field="username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if get_user(session, username=username) is not None:
        raise Conflict(f"username {username!r} is taken", field="username")
    user = User(username=username, password_hash=hash_password(password), role=Role(role), display_name=display_name)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def _account(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}", field="user_id")
    return user


def add_user(session: Session, *, by: User, username: str, password: str, role: Role, display_name: str | None) -> User:
    """Create an account (see :func:`create_user`) on an admin's behalf, in the audit log."""
    user = create_user(session, username=username, password=password, role=role, display_name=display_name)
    after = {"username": user.username, "role": user.role.value}
    audit(session, actor=by, action="create", entity="user", entity_id=user.id, after=after)
    return user


def _state(user: User) -> dict[str, object]:
    return {"role": user.role.value, "is_active": user.is_active, "display_name": user.display_name}


def edit_user(session: Session, *, by: User, user_id: int, changes: dict[str, object]) -> User:
    """Change an account's role, status or name; a disabled account or a new role ends its tokens
    (they carry the old role). Only ``display_name`` may be set to null."""
    user = _account(session, user_id)
    before = _state(user)
    for key, value in changes.items():
        if value is None and key != "display_name":
            raise Invalid(f"{key} cannot be null", field=key)
        setattr(user, key, value)
    if changes.get("is_active") is False or ("role" in changes and user.role.value != before["role"]):
        user.tokens_valid_after = datetime.now(UTC)
    audit(session, actor=by, action="update", entity="user", entity_id=user.id, before=before, after=_state(user))
    return user


def revoke_user_tokens(session: Session, *, by: User, user_id: int) -> None:
    """End every token of an account issued until now (an admin's "sign out everywhere")."""
    user = _account(session, user_id)
    user.tokens_valid_after = datetime.now(UTC)
    audit(session, actor=by, action="revoke_tokens", entity="user", entity_id=user.id)


def sign_out_everywhere(session: Session, *, user: User) -> None:
    """End every token of the caller's own account issued until now."""
    _account(session, user.id).tokens_valid_after = datetime.now(UTC)
    audit(session, actor=user, action="logout_all", entity="user", entity_id=user.id)


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


class LoginThrottled(TooManyRequests):
    """Too many failed logins from this address for this account: wait ``retry_after`` seconds."""

    def __init__(self, wait_s: float) -> None:
        super().__init__("too many attempts", retry_after=retry_seconds(wait_s))


def _account_key(username: str) -> str:
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


def _insert(session: Session):
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _take_attempt(session: Session, *, account: str, ip: str, now: datetime, policy: LoginPolicy) -> float:
    """Count this attempt as a failure in advance (a success forgets it), unless the pair must wait:
    then return the seconds left, counting nothing. One statement decides, so concurrent attempts in
    any worker cannot slip past a wait: each one counts, or waits."""
    table = cast(Table, LoginFailure.__table__)
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
        return max((blocked_until - now).total_seconds(), 0.001) if blocked_until is not None else 0.001
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
