"""public consent: requests.public (the reporter agreed to publish), request_categories.public_text

Revision ID: 0008
Revises: 0007

Two plain columns added in place on both backends (no table rebuild: SpatiaLite's registration of
the requests' geometry column must survive). Existing requests stay private: nobody was asked, so
no consent is inferred from the channel. Categories get ``public_text`` for the kinds whose text is
about the street or the building (service/requests/taxonomy.py ``PUBLIC_TEXT_KINDS`` as of this
revision); a city's own categories stay off until it turns them on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A copy, so that this revision means the same thing whatever the taxonomy becomes later.
PUBLIC_TEXT_KINDS = (
    "policy_inquiry",
    "sanitation",
    "littering",
    "illegal_parking",
    "illegal_construction",
    "street_lighting",
    "greenery_damage",
    "pipe_leak",
    "lift_failure",
    "power_outage",
    "water_outage",
    "fire_hazard",
    "property_service",
)


def upgrade() -> None:
    op.add_column("requests", sa.Column("public", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column(
        "request_categories", sa.Column("public_text", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    categories = sa.table("request_categories", sa.column("code", sa.String), sa.column("public_text", sa.Boolean))
    op.execute(categories.update().where(categories.c.code.in_(PUBLIC_TEXT_KINDS)).values(public_text=True))


def downgrade() -> None:
    # Natively (SQLite >= 3.35 drops a column in place), as 0007 does.
    op.drop_column("request_categories", "public_text")
    op.drop_column("requests", "public")
