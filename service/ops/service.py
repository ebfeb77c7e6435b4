"""Readiness (the database answers, its migrations are current) and the data sources to credit."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service import migrate
from service.buildings.models import Building
from service.db import Database
from service.network.models import StreetEdge
from service.ops.schemas import Attribution, NotReady, Source
from service.stations.models import Station

#: Data from OpenStreetMap is stored with refs like ``osm:way/123`` (see service/osm).
OSM_SOURCE = {
    "name": "OpenStreetMap",
    "attribution": "© OpenStreetMap contributors",
    "licence": "ODbL 1.0",
    "url": "https://www.openstreetmap.org/copyright",
}


def readiness(db: Database) -> NotReady:
    """``ready``; else ``unavailable`` (with the error's type) or ``migrations pending``."""
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrate.is_current(db.engine)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return NotReady(status="unavailable", detail=type(exc).__name__)
    return NotReady(status="ready" if current else "migrations pending")


def attribution(session: Session) -> Attribution:
    """Each outside source whose data is stored, with the layers holding it."""
    layers = [
        name
        for name, model in (("streets", StreetEdge), ("buildings", Building), ("stations", Station))
        if session.scalar(select(model.id).where(model.ref.like("osm:%")).limit(1)) is not None
    ]
    return Attribution(sources=[Source(**OSM_SOURCE, layers=layers)] if layers else [])
