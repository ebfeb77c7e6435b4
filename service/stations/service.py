"""Station queries and edits, the finder's and the coverage answers: all the data work the
station and coverage routes ask for. Edits are audited and rebuild the station's circles in the
same transaction; nothing here commits."""

from __future__ import annotations

from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.bbox import BBox
from geo.coords import checked_to_wgs84
from service.areas.models import Area, AreaLevel
from service.audit.service import audit
from service.auth.models import User
from service.buildings.service import building_features
from service.common.errors import Invalid, NotFound
from service.common.geojson import feature, geometry_dict
from service.common.locating import locate_row
from service.common.spatial import intersects
from service.config import Settings
from service.events.outbox import publish
from service.stations.circles import rebuild_station_circles
from service.stations.coverage import coverage_report, suggest_sites
from service.stations.finder import nearby_stations
from service.stations.models import STATION_TYPE_LABELS, Station, StationCircle, StationType
from service.stations.schemas import StationIn, StationPatch

#: The fields of an edit that place the station rather than describe it.
_LOCATION = {"lon", "lat", "coord_type"}


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
    query = select(Station).where(Station.retired_at.is_(None)).order_by(Station.id)
    if type_ is not None:
        query = query.where(Station.type == type_)
    if bbox is not None:
        query = query.where(intersects(session, Station.geom, bbox.polygon()))
    return list(session.scalars(query).all())


def station_features(stations: list[Station]) -> list[dict]:
    return [feature(s.id, s.geom, station_properties(s)) for s in stations]


def station_types() -> list[dict[str, str]]:
    return [{"type": t.value, "name_zh": zh, "name_en": en} for t, (zh, en) in STATION_TYPE_LABELS.items()]


def check_minutes(settings: Settings, minutes: int, *, field: str = "minutes") -> int:
    """``minutes`` if circles of that walk are built (``circle_minutes``), else a 422 naming ``field``."""
    if minutes not in settings.circle_minutes:
        allowed = ", ".join(str(m) for m in settings.circle_minutes)
        raise Invalid(f"{field} must be one of {allowed}", field=field)
    return minutes


def get_station(session: Session, *, station_id: int) -> Station:
    found = session.get(Station, station_id)
    if found is None or found.retired_at is not None:  # an import retired it
        raise NotFound(f"no station with id {station_id}", field="station_id")
    return found


def station_feature(session: Session, *, station_id: int) -> dict[str, Any]:
    return station_features([get_station(session, station_id=station_id)])[0]


def service_area(session: Session, *, station_id: int, minutes: int, settings: Settings) -> dict[str, Any]:
    """The station's walking area of ``minutes`` as a feature, with what it was built on."""
    check_minutes(settings, minutes)
    found = get_station(session, station_id=station_id)
    circle = session.scalar(
        select(StationCircle).where(StationCircle.station_id == found.id, StationCircle.minutes == minutes)
    )
    if circle is None:
        raise NotFound("this station has no service circle yet (no street network?)", field="station_id")
    return feature(
        found.id,
        circle.geom,
        {
            "station_id": found.id,
            "name_zh": found.name_zh,
            "type": found.type.value,
            "minutes": minutes,
            "walk_m": circle.walk_m,
            "reached_street_m": circle.reached_m,
            "area_m2": circle.area_m2,
            "network_revision": circle.network_revision,
            "computed_at": circle.computed_at.isoformat(),
        },
    )


def nearby_features(
    session: Session,
    *,
    lon: float,
    lat: float,
    type_: StationType | None,
    minutes: int,
    limit: int,
    with_route: bool,
    settings: Settings,
) -> dict[str, Any]:
    """The finder's answer: stations within the walk as features with the walk (and the route)."""
    check_minutes(settings, minutes)
    found = nearby_stations(
        session,
        lon=lon,
        lat=lat,
        type_=type_,
        minutes=minutes,
        limit=limit,
        with_route=with_route,
        settings=settings,
    )
    features = []
    for f in found:
        props = station_properties(f.station) | {"walk_m": f.walk_m, "walk_minutes": f.walk_minutes}
        if with_route:
            props["route"] = geometry_dict(f.route)
        features.append(feature(f.station.id, f.station.geom, props))
    return {
        "type": "FeatureCollection",
        "features": features,
        "origin": {"lon": round(lon, 7), "lat": round(lat, 7)},
        "minutes": minutes,
    }


def coverage(
    session: Session, *, type_: StationType, minutes: int, with_uncovered: bool, settings: Settings
) -> dict[str, Any]:
    """The coverage report, with the uncovered buildings as GeoJSON when asked for."""
    check_minutes(settings, minutes)
    report = coverage_report(session, type_=type_, minutes=minutes, settings=settings)
    missing = report.pop("_uncovered")
    if with_uncovered:
        report["uncovered_buildings"] = {
            "type": "FeatureCollection",
            "features": building_features(missing, with_people=False),
        }
    return report


def suggest(session: Session, *, type_: StationType, minutes: int, k: int, settings: Settings) -> dict[str, Any]:
    check_minutes(settings, minutes)
    return suggest_sites(session, type_=type_, minutes=minutes, k=k, settings=settings)


def _community_at(session: Session, lon: float, lat: float) -> int | None:
    found, _ = locate_row(
        session,
        Area,
        Area.geom,
        lon=lon,
        lat=lat,
        where=[Area.level == AreaLevel.COMMUNITY, Area.retired_at.is_(None)],
        order_by=[Area.code.asc()],
    )
    return found.id if found else None


def _snapshot(station: Station) -> dict[str, Any]:
    """What the audit log records of a station."""
    p = to_shape(station.geom)
    return station_properties(station) | {"lon": round(p.x, 7), "lat": round(p.y, 7)}


def _lonlat(lon: float, lat: float, body: StationIn | StationPatch) -> tuple[float, float]:
    """The declared point in WGS84 (a GeoInputError naming the field when it is out of range)."""
    return checked_to_wgs84(lon, lat, body.coord_type)


def add_station(session: Session, *, body: StationIn, actor: User, settings: Settings) -> dict[str, Any]:
    """A planner adds a station; its circles are built at once."""
    created = save_station(
        session,
        station=None,
        fields=body.model_dump(exclude=_LOCATION, exclude_none=True),
        lonlat=_lonlat(body.lon, body.lat, body),
        settings=settings,
    )
    audit(session, actor=actor, action="create", entity="station", entity_id=created.id, after=_snapshot(created))
    return station_features([created])[0]


def _move(body: StationPatch, given: dict[str, Any]) -> tuple[float, float] | None:
    """Where an edit moves the station: nowhere, or both coordinates (never one, never null)."""
    if ("lon" in given) != ("lat" in given):
        missing = "lat" if "lon" in given else "lon"
        raise Invalid(f"{missing} is required to move a station", field=missing)
    if "lon" not in given:
        return None
    if body.lon is None or body.lat is None:
        field = "lon" if body.lon is None else "lat"
        raise Invalid(f"{field} must be a number to move a station (null is not a place)", field=field)
    return _lonlat(body.lon, body.lat, body)


def edit_station(
    session: Session, *, station_id: int, body: StationPatch, actor: User, settings: Settings
) -> dict[str, Any]:
    """A planner edits or moves a station; a move rebuilds its circles."""
    found = get_station(session, station_id=station_id)
    given = body.model_dump(exclude_unset=True)
    lonlat = _move(body, given)
    fields = {k: v for k, v in given.items() if k not in _LOCATION}
    if fields.get("type", "") is None or fields.get("name_zh", "") is None:
        raise Invalid("type and name_zh cannot be removed", field="type" if "type" in fields else "name_zh")
    before = _snapshot(found)
    updated = save_station(session, station=found, fields=fields, lonlat=lonlat, settings=settings)
    audit(
        session,
        actor=actor,
        action="update",
        entity="station",
        entity_id=updated.id,
        before=before,
        after=_snapshot(updated),
    )
    return station_features([updated])[0]


def remove_station(session: Session, *, station_id: int, actor: User) -> None:
    """A planner removes a station and its circles."""
    found = get_station(session, station_id=station_id)
    audit(session, actor=actor, action="delete", entity="station", entity_id=found.id, before=_snapshot(found))
    delete_station(session, station=found)


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
    if lonlat is not None:
        station.geom = from_shape(Point(lonlat[0], lonlat[1]), srid=4326)
        if "community_id" not in fields:
            station.community_id = _community_at(session, lonlat[0], lonlat[1])
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
