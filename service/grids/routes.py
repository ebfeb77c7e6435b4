"""``/api/v1/grids``: the grid layers, locate, history, and safe boundary editing (planners)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from geo.coords import CoordType
from service.audit.service import audit
from service.auth.deps import OptionalUser, require_roles
from service.auth.models import STAFF_ROLES, Role, User
from service.common.geoinput import parse_geometry
from service.common.geojson import feature as geo_feature
from service.common.params import MAX_DB_ID, BBoxParam, IdPath, PointParam
from service.common.problems import Problem
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.grids import editing, history
from service.grids.editing import EditError, EditRejected, Proposal, VersionConflict
from service.grids.models import Grid, GridChange, GridLayer
from service.grids.service import get_grid, grid_features, list_grids, locate_point, location_dict

router = APIRouter(prefix="/api/v1/grids", tags=["grids"])

Planner = Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN))]
POLYGONAL = {"Polygon", "MultiPolygon"}


def _is_staff(user) -> bool:
    return user is not None and user.role in STAFF_ROLES


def _at(value: str | None) -> datetime | None:
    """``2026-06-01`` (midnight UTC) or a full ISO datetime."""
    if value is None:
        return None
    try:
        parsed = (
            datetime.fromisoformat(value)
            if "T" in value or " " in value
            else datetime.combine(date.fromisoformat(value), time())
        )
    except ValueError:
        raise Problem(422, "at must be an ISO 8601 date or datetime", field="at") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


AtParam = Annotated[str | None, Query(max_length=40, description="as of this date/datetime (grid history)")]


@router.get("", summary="Grids as a GeoJSON FeatureCollection (optionally as of a past date)")
def grids(
    session: ReadSession,
    user: OptionalUser,
    bbox: BBoxParam,
    layer: GridLayer = Query(GridLayer.ONE_NETWORK, description="department layer; one_network is the merged one"),
    community_id: int | None = Query(None, ge=1, le=MAX_DB_ID),
    at: AtParam = None,
) -> dict[str, Any]:
    """Each ``Feature.id`` is the grid id; properties carry code, name, community, layer,
    households and version. Staff tokens add the grid workers. With ``at``, the layer as it stood
    then (each feature the version valid at that moment)."""
    when = _at(at)
    if when is not None:
        features = history.features_at(session, at=when, layer=layer, community_id=community_id)
        return {"type": "FeatureCollection", "features": features, "at": when.isoformat()}
    rows = list_grids(session, layer=layer, community_id=community_id, bbox=bbox)
    return {"type": "FeatureCollection", "features": grid_features(session, rows, with_people=_is_staff(user))}


@router.get("/locate", summary="Which grid, community, compound and building hold a point")
def locate(
    session: ReadSession,
    settings: SettingsDep,
    user: OptionalUser,
    point: PointParam,
    layer: GridLayer = Query(GridLayer.ONE_NETWORK),
    at: AtParam = None,
) -> dict[str, Any]:
    """A point on a shared boundary goes to one grid, chosen deterministically; a point outside
    every grid gets the nearest grid within the configured distance, flagged ``outside_coverage``.
    GCJ-02 and BD-09 input is converted to WGS84 first. With ``at``, the grid that held the point
    on that date."""
    when = _at(at)
    if when is not None:
        grid, version, found = history.locate_at(
            session, lon=point.lon, lat=point.lat, at=when, layer=layer, max_distance_m=settings.locate_max_distance_m
        )
        feature = None
        if grid is not None:
            feature = geo_feature(
                grid.id,
                version.geom,
                {"code": grid.code, "name_zh": grid.name_zh, "version": version.version, "layer": grid.layer.value},
            )
        return {
            "grid": feature,
            "outside_coverage": found.outside_coverage,
            "distance_m": found.distance_m if grid else None,
            "at": when.isoformat(),
            "point": {"lon": round(point.lon, 8), "lat": round(point.lat, 8), "coord_type": "wgs84"},
        }
    loc = locate_point(
        session, lon=point.lon, lat=point.lat, layer=layer, max_distance_m=settings.locate_max_distance_m
    )
    out = location_dict(session, loc, with_people=_is_staff(user))
    out["point"] = {"lon": round(point.lon, 8), "lat": round(point.lat, 8), "coord_type": "wgs84"}
    return out


# -- editing ------------------------------------------------------------------------------


class GridEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[int, Field(ge=1, le=MAX_DB_ID)] | None = Field(default=None, description="absent: a new grid")
    version: Annotated[int, Field(ge=1)] | None = Field(default=None, description="the version you edited")
    geometry: dict[str, Any] | None = Field(default=None, description="GeoJSON (Multi)Polygon; null retires")
    community_id: Annotated[int, Field(ge=1, le=MAX_DB_ID)] | None = None
    layer: GridLayer = GridLayer.ONE_NETWORK
    name_zh: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)


class GridEdits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grids: list[GridEdit] = Field(min_length=1, max_length=200)
    coord_type: CoordType = CoordType.WGS84
    comment: str | None = Field(default=None, max_length=1000, description="why (required to apply)")


class GeometryEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    geometry: dict[str, Any]
    coord_type: CoordType = CoordType.WGS84
    comment: str = Field(min_length=1, max_length=1000)


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid_id: Annotated[int, Field(ge=1, le=MAX_DB_ID)]
    version: Annotated[int, Field(ge=1)]
    line: dict[str, Any] = Field(description="GeoJSON LineString crossing the grid from edge to edge")
    coord_type: CoordType = CoordType.WGS84
    comment: str | None = Field(default=None, min_length=1, max_length=1000, description="required unless dry_run")
    dry_run: bool = Field(default=False, description="validate and show the impact (as /grids/preview); save nothing")


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid_ids: list[Annotated[int, Field(ge=1, le=MAX_DB_ID)]] = Field(min_length=2, max_length=10)
    versions: list[Annotated[int, Field(ge=1)]] = Field(min_length=2, max_length=10)
    comment: str | None = Field(default=None, min_length=1, max_length=1000, description="required unless dry_run")
    dry_run: bool = Field(default=False, description="validate and show the impact (as /grids/preview); save nothing")


class RevertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_version: Annotated[int, Field(ge=1)]
    comment: str = Field(min_length=1, max_length=1000)


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


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise Problem(422, 'If-Match must be the grid\'s ETag, e.g. "7"', field="If-Match") from None


def _apply(session, proposals: list[Proposal], *, user: User, comment: str | None, clock, settings) -> dict[str, Any]:
    try:
        before = {p.grid_id: p.version for p in proposals if p.grid_id is not None}
        result = editing.apply(
            session, proposals=proposals, by=user.username, comment=comment or "", now=clock(), settings=settings
        )
        for g in result["grids"]:
            after = {"version": g["version"], "retired": g["retired"], "comment": comment}
            audit(
                session,
                actor=user,
                action=proposals[0].change.value,
                entity="grid",
                entity_id=g["id"],
                before={"version": before.get(g["id"])},
                after=after,
            )
        session.commit()
        return result
    except EditRejected as exc:
        session.rollback()
        raise Problem(
            422,
            "the edit breaks the grid layer's rules; nothing was saved",
            field="geometry",
            type_="https://neighborgrid.org/problems/grid-validation",
            **exc.result,
        ) from None
    except VersionConflict as exc:
        session.rollback()
        raise _conflict(exc) from None
    except EditError as exc:
        session.rollback()
        raise Problem(exc.status, str(exc), field=exc.field) from None


def _conflict(exc: VersionConflict) -> Problem:
    return Problem(
        412,
        str(exc),
        field="If-Match",
        grid_id=exc.grid_id,
        current_version=exc.current,
        headers={"ETag": f'"{exc.current}"'},
    )


@router.post("/preview", summary="Validate proposed grid boundaries and show their impact (nothing is saved)")
def preview(body: GridEdits, session: ReadSession, settings: SettingsDep, _user: Planner) -> dict[str, Any]:
    """Validation: valid polygons (where not, the location and the ``make_valid`` result), inside the
    community, no overlap above the tolerance, no gap. Impact: buildings and households that change
    grid, open requests that would be reassigned, households per grid against the 300-500 band."""
    try:
        return editing.evaluate(session, _proposals(body), settings=settings)
    except EditError as exc:
        raise Problem(exc.status, str(exc), field=exc.field) from None


@router.post("/apply", summary="Apply edits to several grids in one transaction (planners)")
def apply_many(
    body: GridEdits, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Planner
) -> dict[str, Any]:
    """Each edited grid carries the ``version`` it was edited from; a stale one gets 412 with the
    current version. Absent ``id`` creates a grid (new code in the community's series); a null
    geometry retires one. Everything or nothing is saved."""
    return _apply(session, _proposals(body), user=user, comment=body.comment, clock=clock, settings=settings)


@router.post("/split", summary="Split a grid along a line, or preview the split with dry_run (planners)")
def split(
    body: SplitIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Planner
) -> dict[str, Any]:
    line = parse_geometry(body.line, field="line", coord_type=body.coord_type, allowed={"LineString"})
    try:
        proposals = editing.split_proposals(session, grid_id=body.grid_id, version=body.version, line=line)
    except EditError as exc:
        raise Problem(exc.status, str(exc), field=exc.field) from None
    except VersionConflict as exc:
        raise _conflict(exc) from None
    return _structural(session, proposals, body, user=user, clock=clock, settings=settings)


@router.post("/merge", summary="Merge neighbouring grids, or preview the merge with dry_run (planners)")
def merge(
    body: MergeIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Planner
) -> dict[str, Any]:
    try:
        proposals = editing.merge_proposals(session, grid_ids=body.grid_ids, versions=list(body.versions))
    except EditError as exc:
        raise Problem(exc.status, str(exc), field=exc.field) from None
    except VersionConflict as exc:
        raise _conflict(exc) from None
    return _structural(session, proposals, body, user=user, clock=clock, settings=settings)


def _structural(
    session, proposals: list[Proposal], body: SplitIn | MergeIn, *, user: User, clock, settings
) -> dict[str, Any]:
    """A split or merge: its preview with ``dry_run`` (nothing saved), else applied with its comment."""
    if body.dry_run:
        try:
            return editing.evaluate(session, proposals, settings=settings)
        except EditError as exc:
            raise Problem(exc.status, str(exc), field=exc.field) from None
    if not body.comment:
        raise Problem(422, "say why: a comment is required for every change", field="comment")
    return _apply(session, proposals, user=user, comment=body.comment, clock=clock, settings=settings)


@router.get("/{grid_id}", summary="One grid as a GeoJSON Feature (ETag: its version)")
def grid(grid_id: IdPath, session: ReadSession, user: OptionalUser, response: Response) -> dict[str, Any]:
    found = get_grid(session, grid_id=grid_id)
    if found is None or found.retired_at is not None:
        raise Problem(404, f"no current grid with id {grid_id}", field="grid_id")
    response.headers["ETag"] = f'"{found.version}"'
    return grid_features(session, [found], with_people=_is_staff(user))[0]


@router.get("/{grid_id}/history", summary="Every accepted boundary of a grid, with valid_from/valid_to")
def grid_history(grid_id: IdPath, session: ReadSession) -> dict[str, Any]:
    if session.get(Grid, grid_id) is None:
        raise Problem(404, f"no grid with id {grid_id}", field="grid_id")
    return {"type": "FeatureCollection", "features": history.history(session, grid_id=grid_id)}


@router.put("/{grid_id}/geometry", summary="Change one grid's boundary (planners; If-Match: its ETag)")
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
    if version is None:
        raise Problem(428, "send If-Match with the grid's ETag from GET /api/v1/grids/{id}", field="If-Match")
    geom = parse_geometry(body.geometry, field="geometry", coord_type=body.coord_type, allowed=POLYGONAL)
    return _apply(
        session, [Proposal(grid_id, geom, version)], user=user, comment=body.comment, clock=clock, settings=settings
    )


@router.post("/{grid_id}/revert", summary="Return a grid to an earlier version, through the same validation")
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
    if version is None:
        raise Problem(428, "send If-Match with the grid's ETag from GET /api/v1/grids/{id}", field="If-Match")
    try:
        proposal = editing.revert_proposal(session, grid_id=grid_id, to_version=body.to_version, version=version)
    except EditError as exc:
        raise Problem(exc.status, str(exc), field=exc.field) from None
    proposal.change = GridChange.REVERT
    return _apply(session, [proposal], user=user, comment=body.comment, clock=clock, settings=settings)
