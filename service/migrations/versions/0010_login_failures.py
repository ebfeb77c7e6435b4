"""login failures: failed logins per account name and client IP (replaces the per-account lock)

Revision ID: 0010
Revises: 0009

A new table; ``users.failed_logins`` and ``users.locked_until`` stay (unused) so that nothing in
``users`` is rebuilt on SpatiaLite. Existing locks are not carried over: they were the problem.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import service.orm

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", "ip", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_last_failure_at"), "login_failures", ["last_failure_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failures_last_failure_at"), table_name="login_failures")
    op.drop_table("login_failures")
