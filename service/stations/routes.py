"""``/api/v1/stations`` (public finder and circles; planners edit) and ``/api/v1/coverage`` (planners)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.common.params import BBoxParam, IdPath, PointParam
from service.deps import ReadSession, SettingsDep, WriteSession
from service.stations import service
from service.stations.models import StationType
from service.stations.schemas import (
    CoverageReport,
    NearbyStations,
    ServiceArea,
    SitingAnswer,
    StationCollection,
    StationFeature,
    StationIn,
    StationPatch,
    StationTypeLabel,
)

router = APIRouter(prefix="/api/v1", tags=["stations"])

Planner = Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN))]
Analyst = Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN, Role.DISPATCHER))]


@router.get("/stations", response_model=StationCollection, summary="Service stations as a GeoJSON FeatureCollection")
def stations(
    session: ReadSession,
    bbox: BBoxParam,
    type: StationType | None = Query(None, description="only stations of this type"),
) -> dict[str, Any]:
    found = service.list_stations(session, type_=type, bbox=bbox)
    return {"type": "FeatureCollection", "features": service.station_features(found)}


@router.get(
    "/stations/types",
    response_model=list[StationTypeLabel],
    summary="Station types with their Chinese and English labels",
)
def station_types() -> list[dict[str, str]]:
    return service.station_types()


@router.get(
    "/stations/nearby",
    response_model=NearbyStations,
    response_model_exclude_unset=True,
    summary="Stations within a walk, nearest first (public)",
)
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
    return service.nearby_features(
        session,
        lon=point.lon,
        lat=point.lat,
        type_=type,
        minutes=minutes,
        limit=limit,
        with_route=route,
        settings=settings,
    )


@router.get("/stations/{station_id}", response_model=StationFeature, summary="One station as a GeoJSON Feature")
def station(station_id: IdPath, session: ReadSession) -> dict[str, Any]:
    return service.station_feature(session, station_id=station_id)


@router.get(
    "/stations/{station_id}/service-area",
    response_model=ServiceArea,
    summary="A station's 5/10/15-minute walking area",
)
def service_area(
    station_id: IdPath, session: ReadSession, settings: SettingsDep, minutes: int = Query(15, description="5, 10 or 15")
) -> dict[str, Any]:
    return service.service_area(session, station_id=station_id, minutes=minutes, settings=settings)


@router.post(
    "/stations",
    status_code=201,
    response_model=StationFeature,
    summary="Add a station (planners); its circles are built at once",
)
def add_station(body: StationIn, session: WriteSession, settings: SettingsDep, user: Planner) -> dict[str, Any]:
    created = service.add_station(session, body=body, actor=user, settings=settings)
    session.commit()
    return created


@router.patch(
    "/stations/{station_id}",
    response_model=StationFeature,
    summary="Edit or move a station (planners); a move rebuilds its circles",
)
def edit_station(
    station_id: IdPath, body: StationPatch, session: WriteSession, settings: SettingsDep, user: Planner
) -> dict[str, Any]:
    updated = service.edit_station(session, station_id=station_id, body=body, actor=user, settings=settings)
    session.commit()
    return updated


@router.delete(
    "/stations/{station_id}",
    status_code=204,
    response_class=Response,
    summary="Remove a station and its circles (planners)",
)
def remove_station(station_id: IdPath, session: WriteSession, user: Planner) -> Response:
    service.remove_station(session, station_id=station_id, actor=user)
    session.commit()
    return Response(status_code=204)


@router.get(
    "/coverage",
    tags=["coverage"],
    response_model=CoverageReport,
    response_model_exclude_unset=True,
    summary="Share of buildings and households within a walk of a station type",
)
def coverage(
    session: ReadSession,
    settings: SettingsDep,
    _user: Analyst,
    type: StationType = Query(..., description="station type"),
    minutes: int = Query(15, description="5, 10 or 15"),
    uncovered: bool = Query(True, description="include the uncovered buildings as GeoJSON"),
) -> dict[str, Any]:
    return service.coverage(session, type_=type, minutes=minutes, with_uncovered=uncovered, settings=settings)


@router.get(
    "/coverage/suggest",
    tags=["coverage"],
    response_model=SitingAnswer,
    summary="Where k new stations would cover the most households",
)
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
    return service.suggest(session, type_=type, minutes=minutes, k=k, settings=settings)
