"""Bring a database to a usable state: schema migrations plus reference data (categories)."""

from __future__ import annotations

from service import migrate
from service.db import Database
from service.requests.taxonomy import sync_categories


def prepare_database(db: Database) -> None:
    """Migrate to the newest schema and insert missing reference data; safe to repeat."""
    migrate.upgrade(db.engine)
    with db.transaction() as session:
        sync_categories(session)
