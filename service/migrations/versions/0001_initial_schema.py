"""initial schema

Revision ID: 0001
Revises:

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

import service.orm

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_geospatial_table(
        "areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "district",
                "township",
                "community",
                "compound",
                name="arealevel",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
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
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["areas.id"], name=op.f("fk_areas_parent_id_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
        sa.UniqueConstraint("code", name=op.f("uq_areas_code")),
        sa.UniqueConstraint("ref", name=op.f("uq_areas_ref")),
    )
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_areas_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_areas_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_areas_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("handles", sa.JSON(), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_departments_code")),
        sa.UniqueConstraint("ref", name=op.f("uq_departments_ref")),
    )
    op.create_geospatial_table(
        "street_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_street_nodes")),
        sa.UniqueConstraint("ref", name=op.f("uq_street_nodes_ref")),
    )
    with op.batch_alter_table("street_nodes", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_street_nodes_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "resident",
                "volunteer",
                "grid_worker",
                "dispatcher",
                "planner",
                "admin",
                name="role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("tokens_valid_after", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "department_pairings",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["areas.id"],
            name=op.f("fk_department_pairings_community_id_areas"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_department_pairings_department_id_departments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("department_id", "community_id", name=op.f("pk_department_pairings")),
    )
    op.create_table(
        "party_orgs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("branch", "group", name="partyorgkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_party_orgs_community_id_areas")),
        sa.ForeignKeyConstraint(["parent_id"], ["party_orgs.id"], name=op.f("fk_party_orgs_parent_id_party_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_orgs")),
        sa.UniqueConstraint("ref", name=op.f("uq_party_orgs_ref")),
    )
    with op.batch_alter_table("party_orgs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_orgs_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_party_orgs_parent_id"), ["parent_id"], unique=False)

    op.create_geospatial_table(
        "stations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "elderly_care_centre",
                "home_elderly_care_station",
                "childcare",
                "convenience_station",
                "parcel_pickup",
                "volunteer_station",
                "red_service_station",
                "party_mass_centre",
                name="stationtype",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("opening_hours", sa.String(length=200), nullable=True),
        sa.Column("contact_phone", sa.String(length=40), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("address_zh", sa.String(length=300), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.Column("created_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_stations_community_id_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stations")),
        sa.UniqueConstraint("ref", name=op.f("uq_stations_ref")),
    )
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_stations_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_stations_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_stations_type"), ["type"], unique=False)

    op.create_geospatial_table(
        "street_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("u", sa.Integer(), nullable=False),
        sa.Column("v", sa.Integer(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=True),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["u"], ["street_nodes.id"], name=op.f("fk_street_edges_u_street_nodes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["v"], ["street_nodes.id"], name=op.f("fk_street_edges_v_street_nodes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_street_edges")),
        sa.UniqueConstraint("ref", name=op.f("uq_street_edges_ref")),
    )
    with op.batch_alter_table("street_edges", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_street_edges_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_street_edges_u"), ["u"], unique=False)
        batch_op.create_index(batch_op.f("ix_street_edges_v"), ["v"], unique=False)

    op.create_geospatial_table(
        "volunteers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("team_zh", sa.String(length=200), nullable=True),
        sa.Column("team_en", sa.String(length=200), nullable=True),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column(
            "position",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("position_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_volunteers_community_id_areas")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_volunteers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteers")),
        sa.UniqueConstraint("ref", name=op.f("uq_volunteers_ref")),
        sa.UniqueConstraint("user_id", name=op.f("uq_volunteers_user_id")),
    )
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_volunteers_position", ["position"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_volunteers_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_volunteers_on_duty"), ["on_duty"], unique=False)

    op.create_table(
        "grid_workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("role", sa.Enum("lead", "member", name="workerrole", native_enum=False, length=32), nullable=False),
        sa.Column("party_member", sa.Boolean(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("party_org_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["party_org_id"], ["party_orgs.id"], name=op.f("fk_grid_workers_party_org_id_party_orgs")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_grid_workers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_workers")),
        sa.UniqueConstraint("ref", name=op.f("uq_grid_workers_ref")),
        sa.UniqueConstraint("user_id", name=op.f("uq_grid_workers_user_id")),
    )
    with op.batch_alter_table("grid_workers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grid_workers_party_org_id"), ["party_org_id"], unique=False)

    op.create_geospatial_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "layer",
            sa.Enum(
                "one_network",
                "party_building",
                "comprehensive_governance",
                "health",
                "urban_management",
                name="gridlayer",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("party_org_id", sa.Integer(), nullable=True),
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
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.Column("created_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_grids_community_id_areas")),
        sa.ForeignKeyConstraint(["party_org_id"], ["party_orgs.id"], name=op.f("fk_grids_party_org_id_party_orgs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
        sa.UniqueConstraint("layer", "code", name="uq_grids_layer_code"),
        sa.UniqueConstraint("ref", name=op.f("uq_grids_ref")),
    )
    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_grids_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_grids_code"), ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_grids_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grids_layer"), ["layer"], unique=False)
        batch_op.create_index(batch_op.f("ix_grids_party_org_id"), ["party_org_id"], unique=False)

    op.create_geospatial_table(
        "buildings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=True),
        sa.Column("name_zh", sa.String(length=200), nullable=True),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("compound_id", sa.Integer(), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("floors", sa.Integer(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("residents", sa.Integer(), nullable=False),
        sa.Column("chair_name", sa.String(length=100), nullable=True),
        sa.Column("chair_phone", sa.String(length=32), nullable=True),
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
        sa.Column(
            "entrance",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["compound_id"], ["areas.id"], name=op.f("fk_buildings_compound_id_areas")),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_buildings_grid_id_grids"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
        sa.UniqueConstraint("ref", name=op.f("uq_buildings_ref")),
    )
    with op.batch_alter_table("buildings", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_buildings_geom", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_buildings_compound_id"), ["compound_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_buildings_grid_id"), ["grid_id"], unique=False)

    op.create_table(
        "grid_assignments",
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_grid_assignments_grid_id_grids"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["grid_workers.id"],
            name=op.f("fk_grid_assignments_worker_id_grid_workers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("grid_id", "worker_id", name=op.f("pk_grid_assignments")),
    )


def downgrade() -> None:

    op.drop_table("grid_assignments")
    with op.batch_alter_table("buildings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buildings_grid_id"))
        batch_op.drop_index(batch_op.f("ix_buildings_compound_id"))
        batch_op.drop_geospatial_index("idx_buildings_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("buildings")
    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grids_party_org_id"))
        batch_op.drop_index(batch_op.f("ix_grids_layer"))
        batch_op.drop_index(batch_op.f("ix_grids_community_id"))
        batch_op.drop_index(batch_op.f("ix_grids_code"))
        batch_op.drop_geospatial_index("idx_grids_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("grids")
    with op.batch_alter_table("grid_workers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_workers_party_org_id"))

    op.drop_table("grid_workers")
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volunteers_on_duty"))
        batch_op.drop_index(batch_op.f("ix_volunteers_community_id"))
        batch_op.drop_geospatial_index("idx_volunteers_position", postgresql_using="gist", column_name="position")

    op.drop_geospatial_table("volunteers")
    with op.batch_alter_table("street_edges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_street_edges_v"))
        batch_op.drop_index(batch_op.f("ix_street_edges_u"))
        batch_op.drop_geospatial_index("idx_street_edges_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("street_edges")
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stations_type"))
        batch_op.drop_index(batch_op.f("ix_stations_community_id"))
        batch_op.drop_geospatial_index("idx_stations_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("stations")
    with op.batch_alter_table("party_orgs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_orgs_parent_id"))
        batch_op.drop_index(batch_op.f("ix_party_orgs_community_id"))

    op.drop_table("party_orgs")
    op.drop_table("department_pairings")
    op.drop_table("users")
    with op.batch_alter_table("street_nodes", schema=None) as batch_op:
        batch_op.drop_geospatial_index("idx_street_nodes_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("street_nodes")
    op.drop_table("departments")
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_areas_parent_id"))
        batch_op.drop_index(batch_op.f("ix_areas_level"))
        batch_op.drop_geospatial_index("idx_areas_geom", postgresql_using="gist", column_name="geom")

    op.drop_geospatial_table("areas")
