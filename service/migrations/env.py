"""Alembic environment, shared by SpatiaLite and PostGIS.

GeoAlchemy2's ``alembic_helpers`` render spatial columns and indexes correctly on both backends;
``include_object`` is wrapped so autogenerate ignores reflected tables that are not ours (SpatiaLite's
own metadata tables, PostGIS's ``spatial_ref_sys``, topology, tiger…), which it would try to drop.
"""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers

from service.config import get_settings
from service.db import make_engine
from service.migrations_support import include_object
from service.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = make_engine(get_settings())
        with engine.connect() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
