"""Editing grid boundaries safely: preview (validation + impact), apply, split, merge, revert.

Every change goes through the same path: the proposals are checked against the rest of the layer
and the community (``geo.topology``), their impact on buildings, households and open requests is
worked out, and only a valid proposal is applied — in the caller's transaction, with a version
check per grid, a history row, the reassignment of buildings and open requests, and an event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from geo.crs import LocalProjection
from geo.topology import Issue, as_multi, impact, merge_neighbours, shared_boundary_m, split_by_line, validate_layer
from service.areas.models import Area
from service.audit.service import audit
from service.auth.models import User
from service.buildings.models import Building
from service.common.errors import Invalid, NotFound, PreconditionFailed, PreconditionRequired
from service.common.geojson import geometry_dict
from service.common.layer_cache import GRIDS
from service.common.revisions import bump_revision
from service.config import Settings
from service.events.outbox import publish
from service.grids import occupants
from service.grids.history import close_history, record_version
from service.grids.models import Grid, GridChange, GridLayer, GridVersion
from service.grids.service import check_grid_code


class VersionConflict(PreconditionFailed):
    """The planner edited another version than the stored one (412, with the current one as ETag)."""

    def __init__(self, grid_id: int, expected: int | None, current: int) -> None:
        super().__init__(
            f"grid {grid_id} is at version {current}, not {expected}; reload it and edit again",
            field="If-Match",
            headers={"ETag": f'"{current}"'},
            grid_id=grid_id,
            current_version=current,
        )
        self.grid_id = grid_id
        self.expected = expected
        self.current = current


class EditRejected(Invalid):
    """The proposal breaks a rule (422); the answer carries the validation and impact, as preview
    shows them (``result``)."""

    type = "https://neighborgrid.org/problems/grid-validation"

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("the edit breaks the grid layer's rules; nothing was saved", field="geometry", **result)
        self.result = result


@dataclass
class Proposal:
    grid_id: int | None  # None: a new grid
    geometry: BaseGeometry | None  # None: retire the grid
    version: int | None = None  # the version the planner edited (required to apply)
    community_id: int | None = None  # for a new grid
    layer: GridLayer = GridLayer.ONE_NETWORK  # for a new grid
    name_zh: str | None = None
    name_en: str | None = None
    change: GridChange = GridChange.EDIT
    key: str = field(default="")

    def label(self) -> str:
        return str(self.grid_id) if self.grid_id is not None else self.key


def _issue_dict(issue: Issue, *, community_id: int) -> dict[str, Any]:
    return {
        "rule": issue.rule,
        "message": issue.message,
        "grid": issue.grid,
        "other": issue.other,
        "community_id": community_id,
        "area_m2": issue.area_m2,
        "location": list(issue.location) if issue.location else None,
        "geometry": geometry_dict(issue.geometry) if issue.geometry is not None else None,
        "make_valid": geometry_dict(issue.suggestion) if issue.suggestion is not None else None,
    }


def _targets(session: Session, proposals: list[Proposal], *, lock: bool) -> dict[int, Grid]:
    ids = sorted({p.grid_id for p in proposals if p.grid_id is not None})
    query = select(Grid).where(Grid.id.in_(ids)).order_by(Grid.id)
    if lock:
        query = query.with_for_update()
    grids = {g.id: g for g in session.scalars(query)}
    for gid in ids:
        if gid not in grids or grids[gid].retired_at is not None:
            raise NotFound(f"no current grid with id {gid}", field="id")
    return grids


def _scope(p: Proposal, grids: dict[int, Grid]) -> tuple[int, GridLayer]:
    if p.grid_id is not None:
        g = grids[p.grid_id]
        return g.community_id, g.layer
    if p.community_id is None:
        raise Invalid("a new grid needs its community_id", field="community_id")
    return p.community_id, p.layer


def _buildings(session: Session, community: Area, grid_ids: list[int]) -> list[tuple[int, float, float, int]]:
    """Buildings in or near the community: (id, representative lon, lat, households)."""
    compound_ids = select(Area.id).where(Area.parent_id == community.id)
    rows = session.scalars(
        select(Building).where(
            Building.retired_at.is_(None), (Building.compound_id.in_(compound_ids)) | (Building.grid_id.in_(grid_ids))
        )
    )
    out = []
    for b in rows:
        p = to_shape(b.geom).representative_point()
        out.append((b.id, p.x, p.y, b.households))
    return out


def _open_requests(session: Session, community: Area, grid_ids: list[int]) -> list[occupants.Item]:
    """The open requests of the community or the grids, as their domain registered them."""
    return occupants.locate(session, occupants.OPEN_REQUESTS, community_id=community.id, grid_ids=grid_ids)


def evaluate(session: Session, proposals: list[Proposal], *, settings: Settings, lock: bool = False) -> dict[str, Any]:
    """Validation and impact of the proposals, community by community (nothing is written)."""
    grids = _targets(session, proposals, lock=lock)
    for i, p in enumerate(proposals):
        p.key = p.key or (str(p.grid_id) if p.grid_id is not None else f"new-{i + 1}")
    groups: dict[tuple[int, GridLayer], list[Proposal]] = defaultdict(list)
    for p in proposals:
        groups[_scope(p, grids)].append(p)
    issues: list[dict[str, Any]] = []
    impacts: list[dict[str, Any]] = []
    for (community_id, layer), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1].value)):
        community = session.get(Area, community_id)
        if community is None:
            raise Invalid(f"no community with id {community_id}", field="community_id")
        region = to_shape(community.geom)
        current_rows = session.scalars(
            select(Grid).where(Grid.community_id == community_id, Grid.layer == layer, Grid.retired_at.is_(None))
        )
        current: dict[Hashable, BaseGeometry] = {str(g.id): to_shape(g.geom) for g in current_rows}
        proposed: dict[Hashable, BaseGeometry | None] = {p.key: p.geometry for p in group}
        projection = LocalProjection.for_geometry(region)
        report = validate_layer(
            proposed,
            current,
            region,
            tolerance_m2=settings.grid_tolerance_m2,
            max_vertices=settings.grid_max_vertices,
            projection=projection,
        )
        issues.extend(_issue_dict(i, community_id=community_id) for i in report.issues)
        if not report.ok:
            continue
        after = {k: g for k, g in current.items() if k not in proposed}
        after.update({k: g for k, g in proposed.items() if g is not None})
        ids = [int(str(k)) for k in current]
        effect = impact(
            current,
            after,
            _buildings(session, community, ids),
            _open_requests(session, community, ids) if layer is GridLayer.ONE_NETWORK else [],
            band=(settings.grid_households_min, settings.grid_households_max),
        )
        impacts.append({"community_id": community_id, "layer": layer.value, **effect})
    return {"valid": not issues, "validation": issues, "impact": impacts}


def _next_code(session: Session, community: Area, layer: GridLayer, taken: set[str], pattern: str) -> str:
    codes = set(session.scalars(select(Grid.code).where(Grid.layer == layer, Grid.code.like(f"{community.code}%"))))
    codes |= taken
    serials = [int(c[len(community.code) :]) for c in codes if c[len(community.code) :].isdigit()]
    width = max((len(c) - len(community.code) for c in codes), default=3)
    code = f"{community.code}{max(serials, default=0) + 1:0{width}d}"
    return check_grid_code(code, pattern)


def apply(
    session: Session, *, proposals: list[Proposal], by: str, comment: str, now: datetime, settings: Settings
) -> dict[str, Any]:
    """Apply valid proposals. Does not commit.

    Raises VersionConflict (412), EditRejected (422, with the validation), NotFound, Invalid or
    PreconditionRequired (no version given)."""
    if not comment or not comment.strip():
        raise Invalid("a comment saying why is required", field="comment")
    grids = _targets(session, proposals, lock=True)
    _check_versions(proposals, grids)
    result = evaluate(session, proposals, settings=settings)
    if not result["valid"]:
        raise EditRejected(result)
    changed: list[Grid] = []
    taken: set[str] = set()  # codes given to new grids of this edit, not yet visible to a query
    for p in proposals:
        if p.grid_id is not None:
            changed.append(_change_grid(session, grids[p.grid_id], p, by=by, comment=comment, now=now))
        else:
            changed.append(_create_grid(session, p, taken, by=by, comment=comment, now=now, settings=settings))
    _reassign(session, result, proposals, by=by, now=now)
    bump_revision(session, GRIDS)
    _announce(session, changed)
    session.flush()
    return result | {
        "grids": [
            {"id": g.id, "code": g.code, "version": g.version, "retired": g.retired_at is not None} for g in changed
        ]
    }


def _check_versions(proposals: list[Proposal], grids: dict[int, Grid]) -> None:
    """Every edited grid names the version it was edited from, and that is the stored one."""
    for p in proposals:
        if p.grid_id is None:
            continue
        if p.version is None:
            raise PreconditionRequired(
                f"give the version of grid {p.grid_id} you edited (If-Match or version)", field="version"
            )
        if grids[p.grid_id].version != p.version:
            raise VersionConflict(p.grid_id, p.version, grids[p.grid_id].version)


def _change_grid(session: Session, grid: Grid, p: Proposal, *, by: str, comment: str, now: datetime) -> Grid:
    """Bump the grid's version (only if still the edited one), then retire it or give it the new
    boundary and a history row."""
    bumped = cast(
        CursorResult[Any],
        session.execute(
            update(Grid).where(Grid.id == grid.id, Grid.version == p.version).values(version=Grid.version + 1)
        ),
    )
    if bumped.rowcount != 1:  # someone else got there between our read and our write
        session.refresh(grid)
        raise VersionConflict(grid.id, p.version, grid.version)
    session.refresh(grid)
    grid.updated_at = now
    if p.geometry is None:
        grid.retired_at = now
        close_history(session, grid, now=now)
        return grid
    grid.geom = from_shape(as_multi(p.geometry), srid=4326)
    session.flush()
    record_version(session, grid, change=p.change, by=by, comment=comment, now=now)
    return grid


def _create_grid(
    session: Session, p: Proposal, taken: set[str], *, by: str, comment: str, now: datetime, settings: Settings
) -> Grid:
    """A new grid with the next code of its community's series and default names from its serial."""
    community = session.get(Area, p.community_id)
    if community is None or p.geometry is None:  # evaluate() refused both already
        raise Invalid(f"no community with id {p.community_id}", field="community_id")
    code = _next_code(session, community, p.layer, taken, settings.grid_code_pattern)
    taken.add(code)
    serial = int(code[len(community.code) :])
    short_en = (community.name_en or community.code).replace(" Community", "")
    grid = Grid(
        code=code,
        layer=p.layer,
        community_id=community.id,
        version=1,
        created_at=now,
        updated_at=now,
        name_zh=p.name_zh or f"{community.name_zh}第{serial}网格",
        name_en=p.name_en or f"{short_en} Grid {serial}",
        geom=from_shape(as_multi(p.geometry), srid=4326),
    )
    session.add(grid)
    session.flush()
    change = p.change if p.change is not GridChange.EDIT else GridChange.CREATE
    record_version(session, grid, change=change, by=by, comment=comment, now=now)
    p.grid_id = grid.id
    return grid


def _announce(session: Session, changed: list[Grid]) -> None:
    """One ``grid.changed`` event per changed grid (the live map redraws it)."""
    for grid in changed:
        payload = {
            "id": grid.id,
            "code": grid.code,
            "version": grid.version,
            "layer": grid.layer.value,
            "retired": grid.retired_at is not None,
        }
        publish(session, "grid.changed", payload)


def apply_edits(
    session: Session,
    *,
    proposals: list[Proposal],
    actor: User,
    comment: str | None,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """Apply the proposals as ``actor`` (see ``apply``) and audit each changed grid. Does not commit."""
    before = {p.grid_id: p.version for p in proposals if p.grid_id is not None}
    result = apply(session, proposals=proposals, by=actor.username, comment=comment or "", now=now, settings=settings)
    for g in result["grids"]:
        audit(
            session,
            actor=actor,
            action=proposals[0].change.value,
            entity="grid",
            entity_id=g["id"],
            before={"version": before.get(g["id"])},
            after={"version": g["version"], "retired": g["retired"], "comment": comment},
        )
    return result


def _reassign(session: Session, result: dict[str, Any], proposals: list[Proposal], *, by: str, now: datetime) -> None:
    """Move buildings and open requests to the grid that now holds them (one-network layer only)."""
    real_id = {p.key: p.grid_id for p in proposals}

    def grid_id(key: Any) -> int | None:
        if key is None:
            return None
        return real_id.get(str(key)) or int(key)

    for effect in result["impact"]:
        if effect["layer"] != GridLayer.ONE_NETWORK.value:
            continue
        for move in effect["buildings_moved"]:
            session.execute(update(Building).where(Building.id == move["item"]).values(grid_id=grid_id(move["after"])))
        moves = [
            occupants.Move(item=m["item"], from_grid=grid_id(m["before"]), to_grid=grid_id(m["after"]))
            for m in effect["requests_reassigned"]
        ]
        occupants.move(session, occupants.OPEN_REQUESTS, moves, by=by, now=now)


# -- split, merge, revert -----------------------------------------------------------------


def split_proposals(session: Session, *, grid_id: int, version: int | None, line: BaseGeometry) -> list[Proposal]:
    grid = session.get(Grid, grid_id)
    if grid is None or grid.retired_at is not None:
        raise NotFound(f"no current grid with id {grid_id}", field="grid_id")
    if version is not None and version != grid.version:  # judge the cut only on the version it was drawn on
        raise VersionConflict(grid.id, version, grid.version)
    try:
        parts = split_by_line(to_shape(grid.geom), line)
    except ValueError as exc:
        raise Invalid(str(exc), field="line") from None
    first, *rest = parts
    return [Proposal(grid.id, first, version, change=GridChange.SPLIT)] + [
        Proposal(None, part, None, community_id=grid.community_id, layer=grid.layer, change=GridChange.SPLIT)
        for part in rest
    ]


def merge_proposals(session: Session, *, grid_ids: list[int], versions: list[int | None]) -> list[Proposal]:
    if len(grid_ids) < 2 or len(set(grid_ids)) != len(grid_ids):
        raise Invalid("merge needs two or more different grids", field="grid_ids")
    if len(versions) != len(grid_ids):
        raise Invalid("give one version per grid", field="versions")
    grids: list[Grid] = []
    for gid in grid_ids:
        g = session.get(Grid, gid)
        if g is None or g.retired_at is not None:
            raise NotFound(f"no current grid with id {gid}", field="grid_ids")
        grids.append(g)
    for g, v in zip(grids, versions, strict=True):
        if v is not None and v != g.version:
            raise VersionConflict(g.id, v, g.version)
    if len({(g.community_id, g.layer) for g in grids}) != 1:
        raise Invalid("only grids of the same community and layer can merge", field="grid_ids")
    shapes = [to_shape(g.geom) for g in grids]
    projection = LocalProjection.for_geometry(shapes[0])
    merged = shapes[0]
    pending = list(range(1, len(shapes)))
    while pending:  # each grid must share a boundary with what has been merged so far
        nxt = next((i for i in pending if shared_boundary_m(merged, shapes[i], projection) >= 1.0), None)
        if nxt is None:
            raise Invalid("the grids are not neighbours: they must share a boundary", field="grid_ids")
        merged = merge_neighbours(merged, shapes[nxt])  # moves no boundary shared with other grids
        pending.remove(nxt)
    keep = min(range(len(grids)), key=lambda i: grids[i].code)
    return [
        Proposal(g.id, merged if i == keep else None, v, change=GridChange.MERGE)
        for i, (g, v) in enumerate(zip(grids, versions, strict=True))
    ]


def revert_proposal(session: Session, *, grid_id: int, to_version: int, version: int | None) -> Proposal:
    row = session.scalar(select(GridVersion).where(GridVersion.grid_id == grid_id, GridVersion.version == to_version))
    if row is None:
        raise NotFound(f"grid {grid_id} has no version {to_version}", field="to_version")
    return Proposal(grid_id, to_shape(row.geom), version, change=GridChange.REVERT)
