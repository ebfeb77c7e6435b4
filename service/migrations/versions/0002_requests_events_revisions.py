"""requests, events, revisions, department accounts

Revision ID: 0002
Revises: 0001

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

import service.orm

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "data_revisions",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("changed_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_data_revisions")),
    )
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_events_topic"), ["topic"], unique=False)

    op.create_table(
        "request_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column(
            "group",
            sa.Enum(
                "info_consulting", "environmental", "livelihood", name="categorygroup", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(length=40), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=True),
        sa.Column(
            "default_scope",
            sa.Enum("flat", "building", "compound", "community", name="scope", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "default_level",
            sa.Enum(
                "grid",
                "compound",
                "community",
                "township",
                "department",
                name="handlinglevel",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("resolve_hours", sa.Float(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_request_categories_code")),
    )
    op.create_geospatial_table(
        "requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tracking_code", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("idempotency_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "wechat",
                "mini_program",
                "phone",
                "walk_in",
                "patrol",
                "web",
                "open311",
                name="channel",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "reported",
                "accepted",
                "dispatched",
                "on_site",
                "resolved",
                "verified",
                "evaluated",
                "closed",
                "rejected",
                "merged",
                "reopened",
                name="status",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "warning_level",
            sa.Enum("blue", "yellow", "orange", "red", name="warninglevel", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "level",
            sa.Enum(
                "grid",
                "compound",
                "community",
                "township",
                "department",
                name="handlinglevel",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "scope",
            sa.Enum("flat", "building", "compound", "community", name="scope", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("households_affected", sa.Integer(), nullable=False),
        sa.Column(
            "location",
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
        sa.Column("raw_lon", sa.Float(), nullable=True),
        sa.Column("raw_lat", sa.Float(), nullable=True),
        sa.Column("raw_coord_type", sa.String(length=8), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("outside_coverage", sa.Boolean(), nullable=False),
        sa.Column("grid_distance_m", sa.Float(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("compound_id", sa.Integer(), nullable=True),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("grid_worker_id", sa.Integer(), nullable=True),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("volunteer_walk_m", sa.Float(), nullable=True),
        sa.Column("assignment_method", sa.String(length=20), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column(
            "department_status",
            sa.Enum("pending", "accepted", "refused", name="departmentstatus", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column("pledged_by_user_id", sa.Integer(), nullable=True),
        sa.Column("reporter_user_id", sa.Integer(), nullable=True),
        sa.Column("reporter_name", sa.String(length=100), nullable=True),
        sa.Column("reporter_phone", sa.String(length=32), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("reported_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_response_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_onsite_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_resolve_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("on_site_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("verified_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("evaluated_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("response_breached", sa.Boolean(), nullable=False),
        sa.Column("onsite_breached", sa.Boolean(), nullable=False),
        sa.Column("resolve_breached", sa.Boolean(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("evaluation_comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_requests_building_id_buildings"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["category_id"], ["request_categories.id"], name=op.f("fk_requests_category_id_request_categories")
        ),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_requests_community_id_areas")),
        sa.ForeignKeyConstraint(["compound_id"], ["areas.id"], name=op.f("fk_requests_compound_id_areas")),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_requests_department_id_departments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"], ["requests.id"], name=op.f("fk_requests_duplicate_of_id_requests"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name=op.f("fk_requests_grid_id_grids"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["grid_worker_id"],
            ["grid_workers.id"],
            name=op.f("fk_requests_grid_worker_id_grid_workers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pledged_by_user_id"], ["users.id"], name=op.f("fk_requests_pledged_by_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["reporter_user_id"], ["users.id"], name=op.f("fk_requests_reporter_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["volunteers.id"], name=op.f("fk_requests_volunteer_id_volunteers"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_requests_idempotency_key")),
        sa.UniqueConstraint("tracking_code", name=op.f("uq_requests_tracking_code")),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_requests_location", ["location"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_requests_category_id"), ["category_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_requests_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_requests_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_requests_reported_at"), ["reported_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_requests_reporter_user_id"), ["reporter_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_requests_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_requests_volunteer_id"), ["volunteer_id"], unique=False)

    op.create_table(
        "duplicate_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("hours_apart", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["requests.id"],
            name=op.f("fk_duplicate_suggestions_candidate_id_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_duplicate_suggestions_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_suggestions")),
        sa.UniqueConstraint("request_id", "candidate_id", name="uq_duplicate_pair"),
    )
    with op.batch_alter_table("duplicate_suggestions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duplicate_suggestions_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_duplicate_suggestions_request_id"), ["request_id"], unique=False)

    op.create_table(
        "joint_meeting_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "grid",
                "compound",
                "community",
                "township",
                "department",
                name="handlinglevel",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("opened_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_joint_meeting_items_request_id_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_joint_meeting_items")),
        sa.UniqueConstraint("request_id", name=op.f("uq_joint_meeting_items_request_id")),
    )
    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_request_events_actor_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_request_events_request_id_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_events")),
    )
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_events_request_id"), ["request_id"], unique=False)

    op.create_table(
        "request_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("uploaded_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_request_photos_request_id_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_photos")),
    )
    with op.batch_alter_table("request_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_photos_request_id"), ["request_id"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_department_id_departments"),
            "departments",
            ["department_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_department_id_departments"), type_="foreignkey")
        batch_op.drop_column("department_id")

    with op.batch_alter_table("request_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_photos_request_id"))

    op.drop_table("request_photos")
    with op.batch_alter_table("request_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_events_request_id"))

    op.drop_table("request_events")
    op.drop_table("joint_meeting_items")
    with op.batch_alter_table("duplicate_suggestions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_suggestions_request_id"))
        batch_op.drop_index(batch_op.f("ix_duplicate_suggestions_candidate_id"))

    op.drop_table("duplicate_suggestions")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_volunteer_id"))
        batch_op.drop_index(batch_op.f("ix_requests_status"))
        batch_op.drop_index(batch_op.f("ix_requests_reporter_user_id"))
        batch_op.drop_index(batch_op.f("ix_requests_reported_at"))
        batch_op.drop_index(batch_op.f("ix_requests_grid_id"))
        batch_op.drop_index(batch_op.f("ix_requests_community_id"))
        batch_op.drop_index(batch_op.f("ix_requests_category_id"))
        batch_op.drop_geospatial_index("idx_requests_location", postgresql_using="gist", column_name="location")

    op.drop_geospatial_table("requests")
    op.drop_table("request_categories")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_topic"))

    op.drop_table("outbox_events")
    op.drop_table("data_revisions")
