"""community life: teams, double registration, points ledger (append-only), wishes, key households,
follow-ups, building duty; volunteers.home_building_id

Revision ID: 0007
Revises: 0006

New tables only, plus one plain nullable column on ``volunteers`` (no foreign key: SQLite would have
to rebuild that table, which breaks SpatiaLite's registration of its geometry column).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

import service.orm

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "points_catalogue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("unit_zh", sa.String(length=20), nullable=False),
        sa.Column("unit_en", sa.String(length=20), nullable=False),
        sa.Column("provider_zh", sa.String(length=200), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_points_catalogue_community_id_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_catalogue")),
        sa.UniqueConstraint("ref", name=op.f("uq_points_catalogue_ref")),
    )
    with op.batch_alter_table("points_catalogue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_points_catalogue_community_id"), ["community_id"], unique=False)

    op.create_table(
        "community_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title_zh", sa.String(length=200), nullable=False),
        sa.Column("title_en", sa.String(length=200), nullable=True),
        sa.Column("service_kind", sa.String(length=40), nullable=False),
        sa.Column("starts_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_community_events_community_id_areas")),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_community_events_grid_id_grids"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_events")),
        sa.UniqueConstraint("ref", name=op.f("uq_community_events_ref")),
    )
    with op.batch_alter_table("community_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_community_events_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_community_events_starts_at"), ["starts_at"], unique=False)

    op.create_table(
        "party_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_unit_zh", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("party_org_id", sa.Integer(), nullable=True),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_party_registrations_community_id_areas")),
        sa.ForeignKeyConstraint(
            ["party_org_id"],
            ["party_orgs.id"],
            name=op.f("fk_party_registrations_party_org_id_party_orgs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_party_registrations_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_party_registrations_volunteer_id_volunteers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_registrations")),
        sa.UniqueConstraint("ref", name=op.f("uq_party_registrations_ref")),
    )
    with op.batch_alter_table("party_registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_registrations_community_id"), ["community_id"], unique=False)

    op.create_table(
        "points_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("earn", "redeem", "correction", name="entrykind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column(
            "source_type",
            sa.Enum("request", "wish", "event", name="sourcetype", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("earn_key", sa.String(length=80), nullable=True),
        sa.Column("service_kind", sa.String(length=40), nullable=True),
        sa.Column("hours", sa.Float(), nullable=True),
        sa.Column("catalogue_item_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("corrects_entry_id", sa.Integer(), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["volunteer_id"], ["volunteers.id"], name=op.f("fk_points_ledger_volunteer_id_volunteers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_ledger")),
        sa.UniqueConstraint("earn_key", name=op.f("uq_points_ledger_earn_key")),
    )
    with op.batch_alter_table("points_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_points_ledger_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_points_ledger_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_points_ledger_corrects_entry_id"), ["corrects_entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_points_ledger_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_points_ledger_volunteer_id"), ["volunteer_id"], unique=False)

    # The ledger is append-only: the database itself refuses to change or delete entries.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION points_ledger_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'points_ledger is append-only'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER points_ledger_append_only BEFORE UPDATE OR DELETE ON points_ledger "
            "FOR EACH ROW EXECUTE FUNCTION points_ledger_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER points_ledger_no_{verb.lower()} BEFORE {verb} ON points_ledger "
                "BEGIN SELECT RAISE(ABORT, 'points_ledger is append-only'); END"
            )

    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("name_zh", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_teams_community_id_areas")),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name=op.f("fk_teams_grid_id_grids"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("ref", name=op.f("uq_teams_ref")),
    )
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teams_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_teams_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_teams_kind"), ["kind"], unique=False)

    op.create_table(
        "building_rotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("chair_volunteer_id", sa.Integer(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("updated_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["buildings.id"],
            name=op.f("fk_building_rotations_building_id_buildings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["chair_volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_building_rotations_chair_volunteer_id_volunteers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_building_rotations")),
        sa.UniqueConstraint("building_id", name=op.f("uq_building_rotations_building_id")),
    )
    op.create_table(
        "key_households",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("unit_label", sa.String(length=40), nullable=True),
        sa.Column("head_name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("caretaker_worker_id", sa.Integer(), nullable=True),
        sa.Column("caretaker_volunteer_id", sa.Integer(), nullable=True),
        sa.Column("visit_every_days", sa.Integer(), nullable=False),
        sa.Column("last_visit_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("overdue_notified_due", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_key_households_building_id_buildings")
        ),
        sa.ForeignKeyConstraint(
            ["caretaker_volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_key_households_caretaker_volunteer_id_volunteers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["caretaker_worker_id"],
            ["grid_workers.id"],
            name=op.f("fk_key_households_caretaker_worker_id_grid_workers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_households")),
        sa.UniqueConstraint("ref", name=op.f("uq_key_households_ref")),
    )
    with op.batch_alter_table("key_households", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_households_active"), ["active"], unique=False)
        batch_op.create_index(batch_op.f("ix_key_households_building_id"), ["building_id"], unique=False)

    op.create_table(
        "property_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("compound_id", sa.Integer(), nullable=True),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["buildings.id"],
            name=op.f("fk_property_ratings_building_id_buildings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["compound_id"], ["areas.id"], name=op.f("fk_property_ratings_compound_id_areas")),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_property_ratings_volunteer_id_volunteers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_property_ratings")),
        sa.UniqueConstraint("building_id", "week_start", name="uq_property_ratings_building_week"),
    )
    with op.batch_alter_table("property_ratings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_property_ratings_building_id"), ["building_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_property_ratings_compound_id"), ["compound_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_property_ratings_week_start"), ["week_start"], unique=False)

    op.create_table(
        "registration_duties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "party_meeting", "cadre_talk", "survey", "volunteer_day", name="dutykind", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("done_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["party_registrations.id"],
            name=op.f("fk_registration_duties_registration_id_party_registrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_duties")),
    )
    with op.batch_alter_table("registration_duties", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registration_duties_done_on"), ["done_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_registration_duties_registration_id"), ["registration_id"], unique=False)

    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.Enum("leader", "member", name="teamrole", native_enum=False, length=32), nullable=False),
        sa.Column("joined_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_members_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_team_members_volunteer_id_volunteers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "volunteer_id", name=op.f("pk_team_members")),
    )
    op.create_geospatial_table(
        "wishes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("wish", "project", name="wishkind", native_enum=False, length=32), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "claimed",
                "fulfilled",
                "confirmed",
                "cancelled",
                name="wishstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
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
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("poster_user_id", sa.Integer(), nullable=True),
        sa.Column("on_behalf_of", sa.String(length=100), nullable=True),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("claimant_volunteer_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("claim_expires_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("claim_count", sa.Integer(), nullable=False),
        sa.Column("fulfilled_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("fulfil_note", sa.Text(), nullable=True),
        sa.Column("confirmed_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("points_awarded", sa.Integer(), nullable=True),
        sa.Column("created_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_wishes_building_id_buildings"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["claimant_volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_wishes_claimant_volunteer_id_volunteers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_wishes_community_id_areas")),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name=op.f("fk_wishes_grid_id_grids"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["poster_user_id"], ["users.id"], name=op.f("fk_wishes_poster_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wishes")),
        sa.UniqueConstraint("ref", name=op.f("uq_wishes_ref")),
    )
    with op.batch_alter_table("wishes", schema=None) as batch_op:
        batch_op.create_geospatial_index(
            "idx_wishes_location", ["location"], unique=False, postgresql_using="gist", postgresql_ops={}
        )
        batch_op.create_index(batch_op.f("ix_wishes_claim_expires_at"), ["claim_expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_wishes_claimant_volunteer_id"), ["claimant_volunteer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_wishes_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_wishes_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_wishes_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_wishes_poster_user_id"), ["poster_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_wishes_status"), ["status"], unique=False)

    op.create_table(
        "building_disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum("settled", "referred", "pending", name="disputeoutcome", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["buildings.id"],
            name=op.f("fk_building_disputes_building_id_buildings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_building_disputes_request_id_requests"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_building_disputes_volunteer_id_volunteers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_building_disputes")),
    )
    with op.batch_alter_table("building_disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_building_disputes_building_id"), ["building_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_building_disputes_week_start"), ["week_start"], unique=False)

    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("secretary_visit", "return_visit", name="followupkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("pending", "done", "cancelled", name="followupstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("assignee_user_id", sa.Integer(), nullable=True),
        sa.Column("assigned_by_rule", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("due_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("done_at", service.orm.UtcDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=100), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column(
            "resident_answer",
            sa.Enum("resolved", "not_resolved", "unreachable", name="residentanswer", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_user_id"], ["users.id"], name=op.f("fk_follow_ups_assignee_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_follow_ups_request_id_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follow_ups_assignee_user_id"), ["assignee_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_follow_ups_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_follow_ups_request_id"), ["request_id"], unique=False)

    op.create_table(
        "household_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.Column("visitor_user_id", sa.Integer(), nullable=True),
        sa.Column("visitor", sa.String(length=100), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("recorded_at", service.orm.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["key_households.id"],
            name=op.f("fk_household_visits_household_id_key_households"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_user_id"],
            ["users.id"],
            name=op.f("fk_household_visits_visitor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_visits")),
    )
    with op.batch_alter_table("household_visits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_household_visits_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_household_visits_household_id"), ["household_id"], unique=False)

    op.create_table(
        "rotation_members",
        sa.Column("rotation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rotation_id"],
            ["building_rotations.id"],
            name=op.f("fk_rotation_members_rotation_id_building_rotations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_rotation_members_volunteer_id_volunteers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rotation_id", "position", name=op.f("pk_rotation_members")),
    )
    with op.batch_alter_table("rotation_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rotation_members_volunteer_id"), ["volunteer_id"], unique=False)

    # A plain nullable column, added in place on both backends (no table rebuild, no foreign key).
    op.add_column("volunteers", sa.Column("home_building_id", sa.Integer(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("rotation_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rotation_members_volunteer_id"))

    op.drop_table("rotation_members")
    with op.batch_alter_table("household_visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_visits_household_id"))
        batch_op.drop_index(batch_op.f("ix_household_visits_at"))

    op.drop_table("household_visits")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_ups_request_id"))
        batch_op.drop_index(batch_op.f("ix_follow_ups_due_at"))
        batch_op.drop_index(batch_op.f("ix_follow_ups_assignee_user_id"))

    op.drop_table("follow_ups")
    with op.batch_alter_table("building_disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_building_disputes_week_start"))
        batch_op.drop_index(batch_op.f("ix_building_disputes_building_id"))

    op.drop_table("building_disputes")
    with op.batch_alter_table("wishes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wishes_status"))
        batch_op.drop_index(batch_op.f("ix_wishes_poster_user_id"))
        batch_op.drop_index(batch_op.f("ix_wishes_grid_id"))
        batch_op.drop_index(batch_op.f("ix_wishes_created_at"))
        batch_op.drop_index(batch_op.f("ix_wishes_community_id"))
        batch_op.drop_index(batch_op.f("ix_wishes_claimant_volunteer_id"))
        batch_op.drop_index(batch_op.f("ix_wishes_claim_expires_at"))
        batch_op.drop_geospatial_index("idx_wishes_location", postgresql_using="gist", column_name="location")

    op.drop_geospatial_table("wishes")
    op.drop_table("team_members")
    with op.batch_alter_table("registration_duties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_duties_registration_id"))
        batch_op.drop_index(batch_op.f("ix_registration_duties_done_on"))

    op.drop_table("registration_duties")
    with op.batch_alter_table("property_ratings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_property_ratings_week_start"))
        batch_op.drop_index(batch_op.f("ix_property_ratings_compound_id"))
        batch_op.drop_index(batch_op.f("ix_property_ratings_building_id"))

    op.drop_table("property_ratings")
    with op.batch_alter_table("key_households", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_households_building_id"))
        batch_op.drop_index(batch_op.f("ix_key_households_active"))

    op.drop_table("key_households")
    op.drop_table("building_rotations")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_kind"))
        batch_op.drop_index(batch_op.f("ix_teams_grid_id"))
        batch_op.drop_index(batch_op.f("ix_teams_community_id"))

    op.drop_table("teams")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS points_ledger_append_only ON points_ledger")
        op.execute("DROP FUNCTION IF EXISTS points_ledger_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS points_ledger_no_update")
        op.execute("DROP TRIGGER IF EXISTS points_ledger_no_delete")
    with op.batch_alter_table("points_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_points_ledger_volunteer_id"))
        batch_op.drop_index(batch_op.f("ix_points_ledger_grid_id"))
        batch_op.drop_index(batch_op.f("ix_points_ledger_corrects_entry_id"))
        batch_op.drop_index(batch_op.f("ix_points_ledger_community_id"))
        batch_op.drop_index(batch_op.f("ix_points_ledger_at"))

    op.drop_table("points_ledger")
    with op.batch_alter_table("party_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_registrations_community_id"))

    op.drop_table("party_registrations")
    with op.batch_alter_table("community_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_events_starts_at"))
        batch_op.drop_index(batch_op.f("ix_community_events_community_id"))

    op.drop_table("community_events")
    with op.batch_alter_table("points_catalogue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_points_catalogue_community_id"))

    op.drop_table("points_catalogue")
    # Natively (SQLite >= 3.35 drops a column in place): a batch rebuild of ``volunteers`` would break
    # SpatiaLite's registration of its geometry column.
    op.drop_column("volunteers", "home_building_id")
