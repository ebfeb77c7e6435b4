"""onboarding: a city level, versions and retirement for imported rows, import runs and feature history

Revision ID: 0011
Revises: 0010

``areas``, ``buildings``, ``stations``, ``grid_workers`` and ``volunteers`` gain ``version`` (1 for
every existing row) and ``retired_at``; ``areas`` also ``updated_at``. Plain nullable columns and
indexes, added in place on both backends. The new ``city`` area level needs no schema change (levels
are stored as strings). ``import_runs`` and ``feature_versions`` are new.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

import service.orm

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONED = ("areas", "buildings", "stations", "grid_workers", "volunteers")


def upgrade() -> None:
    for table in VERSIONED:
        op.add_column(table, sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        op.add_column(table, sa.Column("retired_at", service.orm.UtcDateTime(timezone=True), nullable=True))
        op.create_index(op.f(f"ix_{table}_retired_at"), table, ["retired_at"], unique=False)
    op.add_column("areas", sa.Column("updated_at", service.orm.UtcDateTime(timezone=True), nullable=True))
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("retire_missing", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_index(op.f("ix_import_runs_kind"), "import_runs", ["kind"], unique=False)
    op.create_index(op.f("ix_import_runs_at"), "import_runs", ["at"], unique=False)
    op.create_geospatial_table(
        "feature_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("valid_to", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="GEOMETRY",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=True,
            ),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["import_runs.id"], name=op.f("fk_feature_versions_run_id_import_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_versions")),
    )
    op.create_index(op.f("ix_feature_versions_run_id"), "feature_versions", ["run_id"], unique=False)
    op.create_index(op.f("ix_feature_versions_valid_to"), "feature_versions", ["valid_to"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_feature_versions_valid_to"), table_name="feature_versions")
    op.drop_index(op.f("ix_feature_versions_run_id"), table_name="feature_versions")
    op.drop_geospatial_table("feature_versions")
    op.drop_index(op.f("ix_import_runs_at"), table_name="import_runs")
    op.drop_index(op.f("ix_import_runs_kind"), table_name="import_runs")
    op.drop_table("import_runs")
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
    for table in VERSIONED:
        op.drop_index(op.f(f"ix_{table}_retired_at"), table_name=table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("retired_at")
            batch_op.drop_column("version")
