"""Alembic migrations produce exactly the models' schema, with spatial indexes, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from service import migrate
from service.migrations_support import include_object
from service.models import Base


def test_schema_is_at_head_and_matches_the_models(backend):
    assert migrate.is_current(backend.db.engine)
    with backend.db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_every_geometry_column_has_a_spatial_index(backend):
    expected = {
        ("areas", "geom"),
        ("grids", "geom"),
        ("buildings", "geom"),
        ("stations", "geom"),
        ("street_edges", "geom"),
        ("street_nodes", "geom"),
        ("volunteers", "position"),
    }
    with backend.db.engine.connect() as conn:
        if backend.name == "spatialite":
            rows = conn.execute(
                text("SELECT f_table_name, f_geometry_column FROM geometry_columns WHERE spatial_index_enabled = 1")
            ).all()
            indexed = {(t.lower(), c.lower()) for t, c in rows}
        else:
            rows = conn.execute(
                text(
                    "SELECT t.relname, a.attname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                    "JOIN pg_class ix ON ix.oid = i.indexrelid JOIN pg_am am ON am.oid = ix.relam "
                    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey) WHERE am.amname = 'gist'"
                )
            ).all()
            indexed = set(rows)
    assert expected <= indexed
