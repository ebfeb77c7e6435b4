"""``/api/v1/stations`` (public finder and circles; planners edit) and ``/api/v1/coverage`` (planners)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, ConfigDict, Field, Strict
from sqlalchemy import select

from geo.coords import CoordType
from service.audit.service import audit
from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.buildings.service import building_features
from service.common.fields import Id, Number
from service.common.geojson import feature, geometry_dict
from service.common.params import BBoxParam, IdPath, PointParam, make_point
from service.common.problems import Problem
from service.deps import ReadSession, SettingsDep, WriteSession
from service.stations.coverage import CoverageError, coverage_report, suggest_sites
from service.stations.finder import nearby_stations
from service.stations.models import STATION_TYPE_LABELS, Station, StationCircle, StationType
from service.stations.service import delete_station, list_stations, save_station, station_features, station_properties

router = APIRouter(prefix="/api/v1", tags=["stations"])

Planner = Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN))]
Analyst = Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN, Role.DISPATCHER))]


def _minutes(settings, minutes: int, field: str = "minutes") -> int:
    if minutes not in settings.circle_minutes:
        allowed = ", ".join(str(m) for m in settings.circle_minutes)
        raise Problem(422, f"{field} must be one of {allowed}", field=field)
    return minutes


def _coverage_problem(exc: CoverageError) -> Problem:
    return Problem(exc.status, str(exc), field=exc.field)


@router.get("/stations", summary="Service stations as a GeoJSON FeatureCollection")
def stations(
    session: ReadSession,
    bbox: BBoxParam,
    type: StationType | None = Query(None, description="only stations of this type"),
) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": station_features(list_stations(session, type_=type, bbox=bbox))}


@router.get("/stations/types", summary="Station types with their Chinese and English labels")
def station_types() -> list[dict[str, str]]:
    return [{"type": t.value, "name_zh": zh, "name_en": en} for t, (zh, en) in STATION_TYPE_LABELS.items()]


@router.get("/stations/nearby", summary="Stations within a walk, nearest first (public)")
def nearby(
    session: ReadSession,
    settings: SettingsDep,
    point: PointParam,
    type: StationType | None = Query(None, description="only stations of this type"),
    minutes: int = Query(15, description="walking limit: 5, 10 or 15 minutes"),
    limit: int = Query(10, ge=1, le=100),
    route: bool = Query(False, description="add the walking route as a LineString"),
) -> dict[str, Any]:
    """``walk_m`` is the whole walk: from the point to its street, along the streets, and from the
    street to the station; ``walk_minutes`` uses the configured walking speed."""
    _minutes(settings, minutes)
    try:
        found = nearby_stations(
            session,
            lon=point.lon,
            lat=point.lat,
            type_=type,
            minutes=minutes,
            limit=limit,
            with_route=route,
            settings=settings,
        )
    except CoverageError as exc:
        raise _coverage_problem(exc) from None
    features = []
    for f in found:
        props = station_properties(f.station) | {"walk_m": f.walk_m, "walk_minutes": f.walk_minutes}
        if route:
            props["route"] = geometry_dict(f.route)
        features.append(feature(f.station.id, f.station.geom, props))
    return {
        "type": "FeatureCollection",
        "features": features,
        "origin": {"lon": round(point.lon, 7), "lat": round(point.lat, 7)},
        "minutes": minutes,
    }


@router.get("/stations/{station_id}", summary="One station as a GeoJSON Feature")
def station(station_id: IdPath, session: ReadSession) -> dict[str, Any]:
    return station_features([_station(session, station_id)])[0]


def _station(session, station_id: int) -> Station:
    found = session.get(Station, station_id)
    if found is None:
        raise Problem(404, f"no station with id {station_id}", field="station_id")
    return found


@router.get("/stations/{station_id}/service-area", summary="A station's 5/10/15-minute walking area")
def service_area(
    station_id: IdPath, session: ReadSession, settings: SettingsDep, minutes: int = Query(15, description="5, 10 or 15")
) -> dict[str, Any]:
    _minutes(settings, minutes)
    found = _station(session, station_id)
    circle = session.scalar(
        select(StationCircle).where(StationCircle.station_id == found.id, StationCircle.minutes == minutes)
    )
    if circle is None:
        raise Problem(404, "this station has no service circle yet (no street network?)", field="station_id")
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


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: StationType
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    lon: Number
    lat: Number
    coord_type: CoordType = CoordType.WGS84
    opening_hours: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=40)
    capacity: Annotated[int, Strict(), Field(ge=0, le=100000)] | None = None
    address_zh: str | None = Field(default=None, max_length=300)
    community_id: Id | None = None


class StationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: StationType | None = None
    name_zh: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    lon: Number | None = None
    lat: Number | None = None
    coord_type: CoordType = CoordType.WGS84
    opening_hours: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=40)
    capacity: Annotated[int, Strict(), Field(ge=0, le=100000)] | None = None
    address_zh: str | None = Field(default=None, max_length=300)


_LOCATION = {"lon", "lat", "coord_type"}


def _snapshot(station: Station) -> dict[str, Any]:
    p = to_shape(station.geom)
    return station_properties(station) | {"lon": round(p.x, 7), "lat": round(p.y, 7)}


@router.post("/stations", status_code=201, summary="Add a station (planners); its circles are built at once")
def add_station(body: StationIn, session: WriteSession, settings: SettingsDep, _user: Planner) -> dict[str, Any]:
    point = make_point(body.lon, body.lat, body.coord_type)
    created = save_station(
        session,
        station=None,
        fields=body.model_dump(exclude=_LOCATION, exclude_none=True),
        lonlat=(point.lon, point.lat),
        settings=settings,
    )
    audit(session, actor=_user, action="create", entity="station", entity_id=created.id, after=_snapshot(created))
    session.commit()
    return station_features([created])[0]


@router.patch("/stations/{station_id}", summary="Edit or move a station (planners); a move rebuilds its circles")
def edit_station(
    station_id: IdPath, body: StationPatch, session: WriteSession, settings: SettingsDep, _user: Planner
) -> dict[str, Any]:
    found = _station(session, station_id)
    given = body.model_dump(exclude_unset=True)
    if ("lon" in given) != ("lat" in given):
        missing = "lat" if "lon" in given else "lon"
        raise Problem(422, f"{missing} is required to move a station", field=missing)
    lonlat = None
    if "lon" in given:
        if body.lon is None or body.lat is None:
            field = "lon" if body.lon is None else "lat"
            raise Problem(422, f"{field} must be a number to move a station (null is not a place)", field=field)
        point = make_point(body.lon, body.lat, body.coord_type)
        lonlat = (point.lon, point.lat)
    fields = {k: v for k, v in given.items() if k not in _LOCATION}
    if fields.get("type", "") is None or fields.get("name_zh", "") is None:
        raise Problem(422, "type and name_zh cannot be removed", field="type" if "type" in fields else "name_zh")
    before = _snapshot(found)
    updated = save_station(session, station=found, fields=fields, lonlat=lonlat, settings=settings)
    audit(
        session,
        actor=_user,
        action="update",
        entity="station",
        entity_id=updated.id,
        before=before,
        after=_snapshot(updated),
    )
    session.commit()
    return station_features([updated])[0]


@router.delete("/stations/{station_id}", status_code=204, summary="Remove a station and its circles (planners)")
def remove_station(station_id: IdPath, session: WriteSession, _user: Planner) -> Response:
    found = _station(session, station_id)
    audit(session, actor=_user, action="delete", entity="station", entity_id=found.id, before=_snapshot(found))
    delete_station(session, station=found)
    session.commit()
    return Response(status_code=204)


@router.get("/coverage", tags=["coverage"], summary="Share of buildings and households within a walk of a station type")
def coverage(
    session: ReadSession,
    settings: SettingsDep,
    _user: Analyst,
    type: StationType = Query(..., description="station type"),
    minutes: int = Query(15, description="5, 10 or 15"),
    uncovered: bool = Query(True, description="include the uncovered buildings as GeoJSON"),
) -> dict[str, Any]:
    _minutes(settings, minutes)
    try:
        report = coverage_report(session, type_=type, minutes=minutes, settings=settings)
    except CoverageError as exc:
        raise _coverage_problem(exc) from None
    missing = report.pop("_uncovered")
    if uncovered:
        report["uncovered_buildings"] = {
            "type": "FeatureCollection",
            "features": building_features(missing, with_people=False),
        }
    return report


@router.get("/coverage/suggest", tags=["coverage"], summary="Where k new stations would cover the most households")
def suggest(
    session: ReadSession,
    settings: SettingsDep,
    _user: Analyst,
    type: StationType = Query(..., description="station type"),
    minutes: int = Query(15, description="5, 10 or 15"),
    k: int = Query(3, ge=1, le=20),
) -> dict[str, Any]:
    """The maximal covering location problem on the network nodes, solved exactly with HiGHS;
    the greedy answer is reported beside it (``greedy_gap``)."""
    _minutes(settings, minutes)
    try:
        return suggest_sites(session, type_=type, minutes=minutes, k=k, settings=settings)
    except CoverageError as exc:
        raise _coverage_problem(exc) from None
