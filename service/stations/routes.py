"""``/api/v1/stations``: public service stations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from service.common.params import BBoxParam
from service.common.problems import Problem
from service.deps import ReadSession
from service.stations.models import STATION_TYPE_LABELS, Station, StationType
from service.stations.service import list_stations, station_features

router = APIRouter(prefix="/api/v1/stations", tags=["stations"])


@router.get("", summary="Service stations as a GeoJSON FeatureCollection")
def stations(
    session: ReadSession,
    bbox: BBoxParam,
    type: StationType | None = Query(None, description="only stations of this type"),
) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": station_features(list_stations(session, type_=type, bbox=bbox)),
    }


@router.get("/types", summary="Station types with their Chinese and English labels")
def station_types() -> list[dict[str, str]]:
    return [{"type": t.value, "name_zh": zh, "name_en": en} for t, (zh, en) in STATION_TYPE_LABELS.items()]


@router.get("/{station_id}", summary="One station as a GeoJSON Feature")
def station(station_id: int, session: ReadSession) -> dict[str, Any]:
    found = session.get(Station, station_id)
    if found is None:
        raise Problem(404, f"no station with id {station_id}", field="station_id")
    return station_features([found])[0]
