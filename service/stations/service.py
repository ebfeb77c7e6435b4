"""Station queries and edits. Edits rebuild the station's circles in the same transaction."""

from __future__ import annotations

from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.bbox import BBox
from service.areas.models import Area, AreaLevel
from service.common.geojson import feature
from service.common.locating import locate_row
from service.common.spatial import intersects
from service.config import Settings
from service.events.outbox import publish
from service.stations.circles import rebuild_station_circles
from service.stations.models import STATION_TYPE_LABELS, Station, StationType


def station_properties(s: Station) -> dict[str, Any]:
    """Stations are public facilities: every field here may be shown to anyone."""
    label_zh, label_en = STATION_TYPE_LABELS[s.type]
    return {
        "name": s.name_zh,
        "name_zh": s.name_zh,
        "name_en": s.name_en,
        "type": s.type.value,
        "type_zh": label_zh,
        "type_en": label_en,
        "opening_hours": s.opening_hours,
        "contact_phone": s.contact_phone,
        "capacity": s.capacity,
        "address_zh": s.address_zh,
        "community_id": s.community_id,
    }


def list_stations(session: Session, *, type_: StationType | None = None, bbox: BBox | None = None) -> list[Station]:
    query = select(Station).order_by(Station.id)
    if type_ is not None:
        query = query.where(Station.type == type_)
    if bbox is not None:
        query = query.where(intersects(session, Station.geom, bbox.polygon()))
    return list(session.scalars(query).all())


def station_features(stations: list[Station]) -> list[dict]:
    return [feature(s.id, s.geom, station_properties(s)) for s in stations]


def _community_at(session: Session, lon: float, lat: float) -> int | None:
    found, _ = locate_row(
        session, Area, Area.geom, lon=lon, lat=lat, where=[Area.level == AreaLevel.COMMUNITY], order_by=[Area.code]
    )
    return found.id if found else None


def save_station(
    session: Session,
    *,
    station: Station | None,
    fields: dict[str, Any],
    lonlat: tuple[float, float] | None,
    settings: Settings,
) -> Station:
    """Create (station None) or update a station; moves and new stations get fresh circles."""
    created = station is None
    station = station or Station()
    for key, value in fields.items():
        setattr(station, key, value)
    moved = lonlat is not None
    if moved:
        station.geom = from_shape(Point(*lonlat), srid=4326)
        if "community_id" not in fields:
            station.community_id = _community_at(session, *lonlat)
    if created:
        session.add(station)
    session.flush()
    if moved or created:
        rebuild_station_circles(session, station, settings=settings)
    publish(
        session,
        "station.changed",
        {"id": station.id, "action": "created" if created else "updated", "type": station.type.value},
    )
    return station


def delete_station(session: Session, *, station: Station) -> None:
    publish(session, "station.changed", {"id": station.id, "action": "deleted", "type": station.type.value})
    session.delete(station)
    session.flush()
