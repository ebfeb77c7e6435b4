"""User accounts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.orm import Base, UtcDateTime, enum_type, utcnow


class Role(StrEnum):
    RESIDENT = "resident"
    VOLUNTEER = "volunteer"
    GRID_WORKER = "grid_worker"
    DISPATCHER = "dispatcher"
    PLANNER = "planner"
    ADMIN = "admin"
    #: Staff of a county department (结对共建 unit) that accepts or refuses dispatched cases.
    DEPARTMENT = "department"


#: Roles that work for the community and may see personal data needed for their work.
STAFF_ROLES = frozenset({Role.GRID_WORKER, Role.DISPATCHER, Role.PLANNER, Role.ADMIN, Role.DEPARTMENT})


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    display_name: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: For ``department`` accounts: the department whose cases they accept or refuse.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    #: Unused since revision 0010: failed logins are counted per account name and client IP in
    #: ``login_failures`` (one address's failures no longer lock the account for everyone).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: Tokens issued before this instant are rejected (logout everywhere, password change).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RevokedToken(Base):
    """A token signed out before it expired; kept until then."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class LoginFailure(Base):
    """Failed logins in a row from one client IP on one account name, known or not, and until when
    that pair must wait (every worker reads and writes it here)."""

    __tablename__ = "login_failures"

    #: SHA-256 of the name as typed: unknown names count like known ones, and a password typed into
    #: the name field is not kept.
    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
