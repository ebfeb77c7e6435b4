"""grid history

Revision ID: 0004
Revises: 0003

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

import service.orm

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_geospatial_table(
        "grid_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
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
        sa.Column("valid_from", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "change",
            sa.Enum(
                "create", "edit", "split", "merge", "revert", "retire", name="gridchange", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_grid_versions_grid_id_grids"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_versions")),
        sa.UniqueConstraint("grid_id", "version", name="uq_grid_versions_grid_version"),
    )
    with op.batch_alter_table("grid_versions", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_grid_versions_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_grid_versions_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grid_versions_valid_from"), ["valid_from"], unique=False)
        batch_op.create_index(batch_op.f("ix_grid_versions_valid_to"), ["valid_to"], unique=False)

    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", service.orm.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_grids_retired_at"), ["retired_at"], unique=False)

    # Every existing grid starts its history with its current boundary.
    op.execute(
        "INSERT INTO grid_versions (grid_id, version, geom, valid_from, valid_to, change, changed_by, comment) "
        "SELECT id, version, geom, created_at, NULL, 'create', 'migration', 'history starts here' FROM grids"
    )


def downgrade() -> None:

    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grids_retired_at"))
        batch_op.drop_column("retired_at")

    with op.batch_alter_table("grid_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_versions_valid_to"))
        batch_op.drop_index(batch_op.f("ix_grid_versions_valid_from"))
        batch_op.drop_index(batch_op.f("ix_grid_versions_grid_id"))
        batch_op.drop_geospatial_index("idx_grid_versions_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("grid_versions")
