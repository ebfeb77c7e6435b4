"""Grids: the one-network layer (一张网) and department layers, by code, each in its parent area.

The layer comes from the ``layer`` option (default ``one_network``). A one-network grid belongs to a
community; a department grid to the nearest of community, township, district or city that holds it.
The parent is found by the grid code's prefix (GB/T 30428 codes start with the community's
statistical code), then the ``community`` field, then containment (most of the grid's area); a grid
mostly outside every candidate is refused (``no_parent``): a district's boundary sent as a grid is
never squeezed into a community. Grids are clipped to, or flagged against, their parent; overlaps
among the grids of one parent (stored and in the file) are warned, and so are parts of a community
no one-network grid covers. Sizes are judged on km² and on households (of the buildings stored
inside, or the ``households`` field while there are none).

Grids keep their history in ``grid_versions`` (as boundary edits do): the same code with another
shape, name or parent is a new version; a code that comes back revives its grid; grids the file no
longer lists are retired only with ``retire_missing``. After saving, buildings and open requests
inside changed one-network grids follow their new grid.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, cast

from geoalchemy2.shape import from_shape, to_shape
from shapely import box, union_all
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select

from geo.crs import LocalProjection
from geo.layerchecks import USUAL_AREA_KM2, USUAL_GRID_HOUSEHOLDS, CodeParents, containment
from geo.topology import as_multi, assignments
from service.areas.models import AreaLevel
from service.buildings.models import Building
from service.buildings.service import anchor_point
from service.common.layer_cache import BUILDINGS, GRIDS
from service.common.revisions import bump_revision
from service.common.spatial import box_overlaps
from service.events.outbox import publish
from service.grids import occupants
from service.grids.history import close_history, record_version
from service.grids.models import Grid, GridChange, GridLayer
from service.grids.service import GridCodeError, check_grid_code
from service.imports.context import Feature, ImportContext
from service.imports.hierarchy import (
    Node,
    Parents,
    fit_to_parent,
    group_by_parent,
    sibling_checks,
    size_checks,
    stored_nodes,
)
from service.imports.saving import same_geometry
from service.imports.spec import FieldSpec, KindSpec

#: The areas a grid of each layer may belong to (top level first): one-network grids lie in
#: communities (never in a compound); department grids in the nearest area that holds them.
ONE_NETWORK_PARENTS = [AreaLevel.COMMUNITY]
DEPARTMENT_PARENTS = [AreaLevel.CITY, AreaLevel.DISTRICT, AreaLevel.TOWNSHIP, AreaLevel.COMMUNITY]

FIELDS = {
    "code": FieldSpec(
        ("code", "grid_code", "网格编码", "网格代码", "WGBM", "编码", "bm"),
        required=True,
        max_length=32,
        description="the grid code (GB/T 30428 unit-grid code; must match the configured grid code pattern)",
    ),
    "name": FieldSpec(
        ("name_zh", "name", "网格名称", "名称", "WGMC", "mc"),
        description="the grid's name (a new grid without one is named by its code; a stored one keeps its name)",
    ),
    "name_en": FieldSpec(("name_en", "英文名称", "ename"), description="English name"),
    "community": FieldSpec(
        ("community_code", "community", "社区代码", "所属社区", "parent_code", "SQDM"),
        max_length=32,
        description="the parent area's code (else by the grid code's prefix or containment)",
    ),
    "households": FieldSpec(
        ("households", "户数", "hh"),
        type="int",
        description="households, for the size warning only while no buildings are stored in the grid",
    ),
}


def parent_levels(layer: GridLayer) -> list[AreaLevel]:
    return ONE_NETWORK_PARENTS if layer is GridLayer.ONE_NETWORK else DEPARTMENT_PARENTS


def run(ctx: ImportContext) -> None:
    """Check every grid (code pattern, duplicates, parent, shape among siblings, size), then save."""
    layer = ctx.options.layer
    levels = parent_levels(layer)
    stored = {g.code: g for g in ctx.session.scalars(select(Grid).where(Grid.layer == layer))}
    seen = _checked_codes(ctx)
    nodes = [n for n in stored_nodes(ctx) if n.level in levels]
    parents = Parents(nodes)
    by_prefix = CodeParents({n.code: n for n in nodes})
    placed: list[tuple[Node, Feature, BaseGeometry]] = []
    for f in seen.values():
        if f.geom is None or not f.ok:
            continue
        parent = _parent(ctx, f, parents, by_prefix, levels)
        if parent is None or not f.ok:
            continue
        f.geom = fit_to_parent(ctx, f, f.geom, parent, "grid")
        placed.append((parent, f, f.geom))
    _size_checks(ctx, [f for f in seen.values() if f.geom is not None], layer)
    _sibling_checks(ctx, placed, stored, nodes, layer)
    if ctx.report.problems:
        return
    _save(ctx, placed, stored, layer)


def _checked_codes(ctx: ImportContext) -> dict[str, Feature]:
    """The features by code, once the code matches the pattern and repeats no earlier one. A code
    that fails the pattern is never repeated back (it is dropped from the feature first)."""
    pattern = ctx.settings.grid_code_pattern
    seen: dict[str, Feature] = {}
    for f in ctx.features:
        code = f.code
        if code is None:
            continue
        try:
            check_grid_code(code, pattern)
        except GridCodeError:
            f.values["code"] = None
            ctx.problem(
                f, "code", "bad_code", f"the grid code does not match the configured grid code pattern {pattern}"
            )
            continue
        ctx.first_with_code(seen, f)
    return seen


def _parent(
    ctx: ImportContext,
    f: Feature,
    parents: Parents,
    by_prefix: CodeParents[Node],
    levels: list[AreaLevel],
) -> Node | None:
    """The grid's parent: by code prefix or the community field (checked to hold most of the grid),
    else the nearest level whose area holds most of it; a problem names what is wrong otherwise."""
    named = f.values.get("community")
    allowed = " or ".join(level.value for level in levels)
    if named is not None and named not in parents.by_code:
        ctx.problem(
            f,
            "community",
            "unknown_parent",
            f"the parent {named!r} is no stored {allowed}; load the areas first, or fix the code",
        )
        return None
    if named is not None or (f.code and by_prefix.parent(f.code) is not None):
        return parents.find(ctx, f, code=f.code, parent_code=named, geom=f.geom, levels=levels, what="grid")
    assert f.geom is not None
    best_share, best_level = 0.0, None
    for level in reversed(levels):  # the nearest level first
        candidates = [n for n in parents.nodes if n.level is level]
        if not candidates:
            continue
        ((i, share),) = containment([f.geom], [n.geom for n in candidates])
        if i is not None and share >= 0.5:
            return candidates[i]
        if share >= best_share:
            best_share, best_level = share, level
    if best_level is None:
        ctx.problem(f, "geometry", "no_parent", f"there is no {allowed} to put the grid in: load the areas first")
        return None
    ctx.problem(
        f,
        "geometry",
        "no_parent",
        f"the grid lies mostly outside every {allowed} (at most {best_share:.1%} of it in one)"
        + _too_big(f.geom, parents.nodes, levels)
        + "; a grid must lie mostly inside its parent: name it (community field) or load that area first",
    )
    return None


def _too_big(geom: BaseGeometry, nodes: list[Node], levels: list[AreaLevel]) -> str:
    """A hint when the 'grid' holds whole areas of its parents' level: likely a district or township."""
    projection = LocalProjection.for_geometry(geom)
    km2 = projection.to_metric(geom).area / 1e6
    nearest = levels[-1]
    inside = [n for n in nodes if n.level is nearest and geom.buffer(1e-9).contains(n.geom)]
    if not inside:
        return f"; it is {km2:,.3g} km²"
    return (
        f"; it is {km2:,.3g} km² and holds {len(inside)} whole {nearest.value}(s) "
        "(is it a district or township boundary? import those as areas)"
    )


def _size_checks(ctx: ImportContext, features: list[Feature], layer: GridLayer) -> None:
    """``oversized``/``undersized`` on km² (every layer) and on households (one-network grids):
    the households of the buildings stored inside, else the ``households`` field."""
    if not features:
        return
    projection = LocalProjection.for_geometry(features[0].geom)
    areas = [(f, projection.to_metric(f.geom).area / 1e6) for f in features]
    size_checks(ctx, areas, usual=USUAL_AREA_KM2["grid"], what="grid area", unit="km²")
    if layer is not GridLayer.ONE_NETWORK:
        return
    counted = _stored_households(ctx, features)
    items = []
    for f in features:
        households = counted.get(f.code or "")
        if households is None:
            households = f.values.get("households")
        if households is not None:
            items.append((f, float(households)))
    if items:
        size_checks(ctx, items, usual=USUAL_GRID_HOUSEHOLDS, what="households of a grid", unit="households")


def _stored_households(ctx: ImportContext, features: list[Feature]) -> dict[str, int]:
    """Households of the live buildings whose anchor lies in each grid (only grids holding some)."""
    geoms = {f.code or "": f.geom for f in features if f.geom is not None}
    frame = box(*union_all([box(*g.bounds) for g in geoms.values()]).bounds)
    rows = list(
        ctx.session.scalars(
            select(Building).where(Building.retired_at.is_(None), box_overlaps(ctx.session, Building.geom, frame))
        )
    )
    if not rows:
        return {}
    anchors = [(b.id, *_xy(anchor_point(b))) for b in rows]
    held = held_by(geoms, anchors)
    households = {b.id: b.households or 0 for b in rows}
    out: dict[str, int] = {}
    for building, code in held.items():
        if code is not None:
            out[str(code)] = out.get(str(code), 0) + households[building]
    return out


def _xy(point: Any) -> tuple[float, float]:
    return float(point.x), float(point.y)


def held_by(layer: Mapping[Any, BaseGeometry], points: Sequence[tuple[Any, float, float]]) -> dict[Any, Any]:
    """Which polygon of ``layer`` holds each point, by the rules of ``geo.locate`` (None: none)."""
    return dict(assignments(cast(Mapping[Hashable, BaseGeometry], layer), list(points)))


def _sibling_checks(
    ctx: ImportContext,
    placed: list[tuple[Node, Feature, BaseGeometry]],
    stored: dict[str, Grid],
    nodes: list[Node],
    layer: GridLayer,
) -> None:
    """Overlaps among the layer's grids of each parent (the file's and the stored ones it keeps),
    and, for the one-network layer, parts of a community none of its grids covers."""
    if not placed:
        return
    in_file = {f.code for _, f, _ in placed}
    by_area = {n.area.id: n for n in nodes if n.area is not None}
    used = {id(p) for p, _, _ in placed}
    items: list[tuple[Node | None, Feature | None, BaseGeometry, str]] = [(p, f, g, f.code or "") for p, f, g in placed]
    for code, grid in stored.items():
        parent = by_area.get(grid.community_id)
        if grid.retired_at is not None or code in in_file or parent is None or id(parent) not in used:
            continue
        if ctx.options.retire_missing:
            continue  # retired by this import: no longer a sibling
        items.append((parent, None, to_shape(grid.geom), code))
    groups = group_by_parent(items)
    if layer is GridLayer.ONE_NETWORK:
        sibling_checks(ctx, groups, what="grid", gaps=True)
    else:
        sibling_checks(ctx, groups, what="grid", gaps=False)


def _save(
    ctx: ImportContext,
    placed: list[tuple[Node, Feature, BaseGeometry]],
    stored: dict[str, Grid],
    layer: GridLayer,
) -> None:
    """Create, update, revive and retire grids with their ``grid_versions`` history, then let the
    buildings and open requests inside changed one-network grids follow."""
    by, comment, now = ctx.by, ctx.options.comment, ctx.now
    live = {c: g for c, g in stored.items() if g.retired_at is None}
    before = {g.id: to_shape(g.geom) for g in live.values()}
    changed: list[Grid] = []
    old_parents: set[int] = set()
    for parent, f, geom in placed:
        code = f.code or ""
        grid = stored.get(code)
        multi = as_multi(geom)
        assert parent.area is not None  # grids' parents are stored areas
        community_id = parent.area.id
        name = f.values.get("name") or (grid.name_zh if grid is not None else code)
        name_en = f.values.get("name_en") if "name_en" in f.values else (grid.name_en if grid is not None else None)
        if grid is None:
            grid = Grid(
                code=code,
                layer=layer,
                community_id=community_id,
                name_zh=name,
                name_en=name_en,
                version=1,
                geom=from_shape(multi, srid=4326),
                created_at=now,
                updated_at=now,
            )
            ctx.session.add(grid)
            ctx.session.flush()
            record_version(ctx.session, grid, change=GridChange.CREATE, by=by, comment=comment, now=now)
            ctx.count("created")
            changed.append(grid)
            continue
        if grid.retired_at is None and (
            same_geometry(to_shape(grid.geom), multi)
            and grid.name_zh == name
            and grid.name_en == name_en
            and grid.community_id == community_id
        ):
            ctx.count("unchanged")
            continue
        revived = grid.retired_at is not None
        old_parents.add(grid.community_id)
        grid.retired_at = None
        grid.geom, grid.version = from_shape(multi, srid=4326), grid.version + 1
        grid.name_zh, grid.name_en, grid.community_id, grid.updated_at = name, name_en, community_id, now
        ctx.session.flush()
        change = GridChange.CREATE if revived else GridChange.EDIT
        record_version(ctx.session, grid, change=change, by=by, comment=comment, now=now)
        ctx.count("created" if revived else "updated")
        changed.append(grid)
    if ctx.options.retire_missing:
        kept = {f.code for _, f, _ in placed}
        for code, grid in live.items():
            if code in kept:
                continue
            grid.retired_at = now
            grid.updated_at = now
            close_history(ctx.session, grid, now=now)
            old_parents.add(grid.community_id)
            ctx.count("retired")
            changed.append(grid)
    ctx.session.flush()
    if not changed:
        return
    if layer is GridLayer.ONE_NETWORK:
        _follow(ctx, before, changed, old_parents)
    bump_revision(ctx.session, GRIDS)
    publish(ctx.session, "grid.changed", {"layer": layer.value, "imported": True, "counts": dict(ctx.report.counts)})


def _follow(ctx: ImportContext, before: dict[int, BaseGeometry], changed: list[Grid], old_parents: set[int]) -> None:
    """Buildings and open requests that lie in another one-network grid after the import than before
    it move to that grid (by the building's anchor, as the buildings import assigns them)."""
    session = ctx.session
    changed_ids = [g.id for g in changed]
    shapes = [before[g.id] for g in changed if g.id in before] + [to_shape(g.geom) for g in changed]
    region = box(*union_all([box(*s.bounds) for s in shapes]).bounds)
    live_after = session.scalars(
        select(Grid).where(Grid.layer == GridLayer.ONE_NETWORK, Grid.retired_at.is_(None))
    ).all()
    after = {g.id: to_shape(g.geom) for g in live_after if to_shape(g.geom).intersects(region)}
    was_layer = {k: g for k, g in before.items() if g.intersects(region)}
    buildings = list(
        session.scalars(
            select(Building).where(
                Building.retired_at.is_(None),
                Building.grid_id.in_(changed_ids) | box_overlaps(session, Building.geom, region),
            )
        )
    )
    points = [(b.id, *_xy(anchor_point(b))) for b in buildings]
    was, now = held_by(was_layer, points), held_by(after, points)
    retired = {g.id for g in changed if g.retired_at is not None}
    moved = 0
    for b in buildings:
        target = now[b.id]
        if (was[b.id] != target or b.grid_id in retired) and b.grid_id != target:
            b.grid_id = target
            moved += 1
    if moved:
        bump_revision(session, BUILDINGS)
    communities = {g.community_id for g in changed} | old_parents
    requests: dict[int, occupants.Item] = {}
    for community_id in sorted(communities):
        for item in occupants.locate(session, occupants.OPEN_REQUESTS, community_id=community_id, grid_ids=changed_ids):
            requests[item[0]] = item
    items = list(requests.values())
    req_was, req_now = held_by(was_layer, items), held_by(after, items)
    moves = [
        occupants.Move(item=i, from_grid=req_was[i], to_grid=req_now[i]) for i in requests if req_was[i] != req_now[i]
    ]
    occupants.move(session, occupants.OPEN_REQUESTS, moves, by=ctx.by, now=ctx.now)


KIND = KindSpec(
    name="grids",
    summary="one-network and department grids (option layer), each in its community or other parent area",
    geometry="polygon",
    fields=FIELDS,
    run=run,
)
