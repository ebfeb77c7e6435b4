"""``/api/v1/grids``: the grid layers, locate, history, and safe boundary editing (planners)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from geo.coords import CoordType
from service.auth.deps import OptionalUser, require_roles
from service.auth.models import STAFF_ROLES, Role, User
from service.common.errors import TooLarge
from service.common.etags import if_match_version
from service.common.geoinput import parse_geometry
from service.common.params import MAX_DB_ID, BBoxParam, IdPath, PointParam
from service.common.problems import Problem
from service.common.times import parse_iso
from service.config import Settings
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.grids import editing, history
from service.grids.bulk import bulk_locate
from service.grids.editing import Proposal
from service.grids.models import GridChange, GridLayer
from service.grids.schemas import (
    BulkLocation,
    EditResult,
    GeometryEdit,
    GridCollection,
    GridEdits,
    GridFeature,
    GridHistory,
    Location,
    MergeIn,
    RevertIn,
    SplitIn,
)
from service.grids.service import LOCATE_FIELDS, current_grid, grid_features, grids_answer, locate_fields
from service.grids.service import locate as locate_in_layers

router = APIRouter(prefix="/api/v1/grids", tags=["grids"])

Planner = Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN))]
Staff = Annotated[User, Depends(require_roles(*STAFF_ROLES))]
POLYGONAL = {"Polygon", "MultiPolygon"}


def _is_staff(user: User | None) -> bool:
    return user is not None and user.role in STAFF_ROLES


def _at(value: str | None) -> datetime | None:
    """``2026-06-01`` (midnight UTC) or a full ISO datetime."""
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise Problem(422, "at must be an ISO 8601 date or datetime", field="at") from None


AtParam = Annotated[str | None, Query(max_length=40, description="as of this date/datetime (grid history)")]


@router.get(
    "",
    summary="Grids as a GeoJSON FeatureCollection (optionally as of a past date)",
    response_model=GridCollection,
)
def grids(
    session: ReadSession,
    user: OptionalUser,
    bbox: BBoxParam,
    layer: GridLayer = Query(GridLayer.ONE_NETWORK, description="department layer; one_network is the merged one"),
    community_id: int | None = Query(None, ge=1, le=MAX_DB_ID),
    at: AtParam = None,
) -> JSONResponse:
    """Each ``Feature.id`` is the grid id; properties carry code, name, community, layer,
    households and version. Staff tokens add the grid workers. With ``at``, the layer as it stood
    then (each feature the version valid at that moment). A whole layer: answered as built."""
    answer = grids_answer(
        session, layer=layer, community_id=community_id, bbox=bbox, at=_at(at), with_people=_is_staff(user)
    )
    return JSONResponse(answer)


@router.get(
    "/locate",
    summary="Which grid, areas (city … compound), community, compound and building hold a point",
    response_model=Location,
    response_model_exclude_unset=True,
)
def locate(
    session: ReadSession,
    settings: SettingsDep,
    user: OptionalUser,
    point: PointParam,
    layer: GridLayer = Query(GridLayer.ONE_NETWORK),
    at: AtParam = None,
    fields: str | None = Query(
        None,
        max_length=100,
        description="comma-separated members to answer, among " + ", ".join(LOCATE_FIELDS) + " (outside_coverage, "
        "distance_m and point always); the grid's geometry only when `geometry` is listed. Without it: everything",
        examples=["grid,areas"],
    ),
) -> dict[str, Any]:
    """A point on a shared boundary goes to one grid, chosen deterministically; a point outside
    every grid gets the nearest grid within the configured distance, flagged ``outside_coverage``.
    ``areas`` is the chain of current areas holding the point, top level first (city, district,
    township, community, compound, as far as they are loaded; [] in none). GCJ-02 and BD-09 input
    is converted to WGS84 first. With ``at``, the grid that held the point on that date."""
    return locate_in_layers(
        session,
        lon=point.lon,
        lat=point.lat,
        layer=layer,
        at=_at(at),
        max_distance_m=settings.locate_max_distance_m,
        with_people=_is_staff(user),
        fields=locate_fields(fields),
    )


async def _bulk_body(request: Request, settings: SettingsDep) -> tuple[bytes, str]:
    """The raw body and its Content-Type, read up to ``locate_bulk_max_bytes`` (413 past it)."""
    limit = settings.locate_bulk_max_bytes
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is larger than {limit} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks), request.headers.get("content-type", "")


_BULK_EXAMPLE_CSV = "id,lon,lat\nA-1,117.7531,24.6209\nA-2,117.7556,24.6231\n"
_BULK_BODY = {
    "requestBody": {
        "required": True,
        "description": "The points: a GeoJSON FeatureCollection of Points (each feature's id is answered back), a "
        "MultiPoint geometry, or a CSV with a header row: lon,lat (or lng/longitude/x/经度 and latitude/y/纬度) and "
        "optionally id. UTF-8 (a CSV may also be GB18030).",
        "content": {
            "application/json": {"schema": {"type": "object", "description": "FeatureCollection or MultiPoint"}},
            "application/geo+json": {"schema": {"type": "object"}},
            "text/csv": {"schema": {"type": "string"}, "example": _BULK_EXAMPLE_CSV},
        },
    }
}


@router.post(
    "/locate",
    summary="Locate many points at once: grid and area codes for each (staff)",
    response_model=BulkLocation,
    openapi_extra=_BULK_BODY,
)
def locate_bulk(
    _user: Staff,
    body: Annotated[tuple[bytes, str], Depends(_bulk_body)],
    session: ReadSession,
    settings: SettingsDep,
    coord_type: CoordType = Query(
        CoordType.WGS84, description="wgs84 (GPS), gcj02 (Amap, Tencent, WeChat maps) or bd09 (Baidu)"
    ),
    layer: GridLayer = Query(GridLayer.ONE_NETWORK),
) -> JSONResponse:
    """Up to ``locate_bulk_max_points`` points (413 past it), answered in the request's order with
    the same rules as ``GET /grids/locate``: ``grid_code``, ``grid_id``, ``outside_coverage``,
    ``distance_m``, and ``areas`` (level → code of each area holding the point). ``lon``/``lat`` are
    answered in WGS84. A bad point is a 422 naming it (``features[3].geometry``, ``coordinates[12]``,
    ``points[12].lon``). A large answer: sent as built."""
    data, content_type = body
    answer = bulk_locate(
        session,
        data=data,
        content_type=content_type,
        coord_type=coord_type,
        layer=layer,
        max_points=settings.locate_bulk_max_points,
        max_distance_m=settings.locate_max_distance_m,
    )
    return JSONResponse(answer)


# -- editing ------------------------------------------------------------------------------


def _proposals(body: GridEdits) -> list[Proposal]:
    out = []
    for i, g in enumerate(body.grids):
        geom = None
        if g.geometry is not None:
            geom = parse_geometry(
                g.geometry, field=f"grids[{i}].geometry", coord_type=body.coord_type, allowed=POLYGONAL
            )
        elif g.id is None:
            raise Problem(422, "a new grid needs a geometry", field=f"grids[{i}].geometry")
        out.append(
            Proposal(
                g.id, geom, g.version, community_id=g.community_id, layer=g.layer, name_zh=g.name_zh, name_en=g.name_en
            )
        )
    return out


def _if_match(value: str | None) -> int:
    """The grid version an If-Match header names (428 without one, 422 for one that is no ETag)."""
    version = if_match_version(value, what="grid's ETag", example=7)
    if version is None:
        raise Problem(428, "send If-Match with the grid's ETag from GET /api/v1/grids/{id}", field="If-Match")
    return version


def _apply(
    session: Session, proposals: list[Proposal], *, user: User, comment: str | None, now: datetime, settings: Settings
) -> dict[str, Any]:
    """Apply and audit the proposals, then commit (a refusal rolls everything back)."""
    result = editing.apply_edits(session, proposals=proposals, actor=user, comment=comment, now=now, settings=settings)
    session.commit()
    return result


@router.post(
    "/preview",
    summary="Validate proposed grid boundaries and show their impact (nothing is saved)",
    response_model=EditResult,
    response_model_exclude_unset=True,
)
def preview(body: GridEdits, session: ReadSession, settings: SettingsDep, _user: Planner) -> dict[str, Any]:
    """Validation: valid polygons (where not, the location and the ``make_valid`` result), inside the
    community, no overlap above the tolerance, no gap. Impact: buildings and households that change
    grid, open requests that would be reassigned, households per grid against the 300-500 band."""
    return editing.evaluate(session, _proposals(body), settings=settings)


@router.post(
    "/apply",
    summary="Apply edits to several grids in one transaction (planners)",
    response_model=EditResult,
    response_model_exclude_unset=True,
)
def apply_many(
    body: GridEdits, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Planner
) -> dict[str, Any]:
    """Each edited grid carries the ``version`` it was edited from; a stale one gets 412 with the
    current version. Absent ``id`` creates a grid (new code in the community's series); a null
    geometry retires one. Everything or nothing is saved."""
    return _apply(session, _proposals(body), user=user, comment=body.comment, now=clock(), settings=settings)


@router.post(
    "/split",
    summary="Split a grid along a line, or preview the split with dry_run (planners)",
    response_model=EditResult,
    response_model_exclude_unset=True,
)
def split(
    body: SplitIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Planner
) -> dict[str, Any]:
    line = parse_geometry(body.line, field="line", coord_type=body.coord_type, allowed={"LineString"})
    proposals = editing.split_proposals(session, grid_id=body.grid_id, version=body.version, line=line)
    return _structural(session, proposals, body, user=user, now=clock(), settings=settings)


@router.post(
    "/merge",
    summary="Merge neighbouring grids, or preview the merge with dry_run (planners)",
    response_model=EditResult,
    response_model_exclude_unset=True,
)
def merge(
    body: MergeIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Planner
) -> dict[str, Any]:
    proposals = editing.merge_proposals(session, grid_ids=body.grid_ids, versions=list(body.versions))
    return _structural(session, proposals, body, user=user, now=clock(), settings=settings)


def _structural(
    session: Session,
    proposals: list[Proposal],
    body: SplitIn | MergeIn,
    *,
    user: User,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """A split or merge: its preview with ``dry_run`` (nothing saved), else applied with its comment."""
    if body.dry_run:
        return editing.evaluate(session, proposals, settings=settings)
    if not body.comment:
        raise Problem(422, "say why: a comment is required for every change", field="comment")
    return _apply(session, proposals, user=user, comment=body.comment, now=now, settings=settings)


@router.get(
    "/{grid_id}",
    summary="One grid as a GeoJSON Feature (ETag: its version)",
    response_model=GridFeature,
    response_model_exclude_unset=True,
)
def grid(grid_id: IdPath, session: ReadSession, user: OptionalUser, response: Response) -> dict[str, Any]:
    found = current_grid(session, grid_id=grid_id)
    response.headers["ETag"] = f'"{found.version}"'
    return grid_features(session, [found], with_people=_is_staff(user))[0]


@router.get(
    "/{grid_id}/history",
    summary="Every accepted boundary of a grid, with valid_from/valid_to",
    response_model=GridHistory,
)
def grid_history(grid_id: IdPath, session: ReadSession) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": history.history(session, grid_id=grid_id)}


@router.put(
    "/{grid_id}/geometry",
    summary="Change one grid's boundary (planners; If-Match: its ETag)",
    response_model=EditResult,
    response_model_exclude_unset=True,
)
def put_geometry(
    grid_id: IdPath,
    body: GeometryEdit,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: Planner,
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> dict[str, Any]:
    version = _if_match(if_match)
    geom = parse_geometry(body.geometry, field="geometry", coord_type=body.coord_type, allowed=POLYGONAL)
    proposals = [Proposal(grid_id, geom, version)]
    return _apply(session, proposals, user=user, comment=body.comment, now=clock(), settings=settings)


@router.post(
    "/{grid_id}/revert",
    summary="Return a grid to an earlier version, through the same validation",
    response_model=EditResult,
    response_model_exclude_unset=True,
)
def revert(
    grid_id: IdPath,
    body: RevertIn,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: Planner,
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> dict[str, Any]:
    version = _if_match(if_match)
    proposal = editing.revert_proposal(session, grid_id=grid_id, to_version=body.to_version, version=version)
    proposal.change = GridChange.REVERT
    return _apply(session, [proposal], user=user, comment=body.comment, now=clock(), settings=settings)
