"""photo uploader ip: request_photos.uploader_ip, for the per-IP hourly photo quota

Revision ID: 0009
Revises: 0008

A plain nullable column and an index (uploader_ip, uploaded_at), added in place on both backends.
Photos stored before this revision have no address and count for no IP's quota.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("request_photos", sa.Column("uploader_ip", sa.String(length=45), nullable=True))
    op.create_index(
        "ix_request_photos_uploader_ip_uploaded_at", "request_photos", ["uploader_ip", "uploaded_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_request_photos_uploader_ip_uploaded_at", table_name="request_photos")
    with op.batch_alter_table("request_photos", schema=None) as batch_op:
        batch_op.drop_column("uploader_ip")
