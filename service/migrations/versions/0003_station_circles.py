"""station circles

Revision ID: 0003
Revises: 0002

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

import service.orm

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_geospatial_table(
        "station_circles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("walk_m", sa.Float(), nullable=False),
        sa.Column("reached_m", sa.Float(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("network_revision", sa.Integer(), nullable=False),
        sa.Column("computed_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name=op.f("fk_station_circles_station_id_stations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_circles")),
        sa.UniqueConstraint("station_id", "minutes", name="uq_station_circles_station_minutes"),
    )
    with op.batch_alter_table("station_circles", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_station_circles_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_station_circles_station_id"), ["station_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("station_circles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_station_circles_station_id"))
        batch_op.drop_geospatial_index("idx_station_circles_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("station_circles")
