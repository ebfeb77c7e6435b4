"""Areas: city, district, township, community and compound boundaries, by code, with their parents.

Levels come from a level column, the ``level`` option, or the statistical code's length (6 digits a
district, 9 a township, 12 a community). The file's levels are saved top-down, so a file may hold a
whole hierarchy; each area's parent is found by code, parent field or containment
(service/imports/hierarchy.py) and it is clipped to, or flagged against, that parent.
"""

from __future__ import annotations

from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select

from geo.crs import LocalProjection
from geo.layerchecks import USUAL_AREA_KM2, level_of_code
from service.areas.models import Area, AreaLevel
from service.common.layer_cache import AREAS
from service.common.revisions import bump_revision
from service.events.outbox import publish
from service.grids.models import Grid
from service.imports.context import Feature, ImportContext
from service.imports.hierarchy import (
    Node,
    Parents,
    above,
    fit_to_parent,
    group_by_parent,
    sibling_checks,
    size_checks,
    stored_nodes,
)
from service.imports.saving import Wanted, save_by_code, stored_shape
from service.imports.spec import FieldSpec, KindSpec

#: What cities write in a level column, to our levels.
LEVEL_WORDS: dict[str, AreaLevel] = {
    **{w: AreaLevel.CITY for w in ("city", "prefecture", "市", "地级市", "州", "盟")},
    **{w: AreaLevel.DISTRICT for w in ("district", "county", "区", "县", "区县", "县级市", "旗")},
    **{
        w: AreaLevel.TOWNSHIP for w in ("township", "town", "subdistrict", "street", "乡", "镇", "乡镇", "街道", "苏木")
    },
    **{w: AreaLevel.COMMUNITY for w in ("community", "village", "社区", "村", "居委会", "村委会", "嘎查")},
    **{w: AreaLevel.COMPOUND for w in ("compound", "residential", "estate", "小区", "院落", "片区")},
}

FIELDS = {
    "code": FieldSpec(
        ("code", "adcode", "区划代码", "行政区划代码", "统计用区划代码", "XZQDM", "QHDM", "代码", "编码", "bm"),
        required=True,
        max_length=32,
        description="the area's code (national statistical division code where there is one)",
    ),
    "name": FieldSpec(("name_zh", "name", "名称", "XZQMC", "QHMC", "区划名称", "mc"), required=True),
    "name_en": FieldSpec(("name_en", "英文名称", "ename"), description="English name"),
    "level": FieldSpec(
        ("level", "级别", "层级", "类型", "jb"),
        max_length=20,
        description="city, district, township, community or compound (or 市/区/县/乡/镇/街道/社区/村/小区)",
    ),
    "parent": FieldSpec(
        ("parent_code", "parent", "上级代码", "上级区划代码", "SJDM", "pcode"),
        max_length=32,
        description="the parent area's code (else by code prefix or containment)",
    ),
}


def run(ctx: ImportContext) -> None:
    """Check every area (levels, duplicate codes, parents, shapes among siblings), then save top-down."""
    levels = _levels(ctx)
    stored = {a.code: a for a in ctx.session.scalars(select(Area))}
    seen: dict[str, Feature] = {}
    for f in ctx.features:
        if not f.ok or not ctx.first_with_code(seen, f):
            continue
        old = stored.get(f.code or "")
        if old is not None and f in levels and old.level is not levels[f]:
            ctx.problem(
                f, "level", "level_conflict", f"{f.code} is stored as a {old.level.value}, not a {levels[f].value}"
            )
    nodes = {n.code: n for n in stored_nodes(ctx)}
    file_nodes: dict[Feature, Node] = {}
    for f, level in levels.items():
        if f.ok and f.geom is not None and seen.get(f.code or "") is f:
            node = Node(f.code or "", level, f.geom, area=None, feature=f)
            nodes[node.code] = node  # the file's version replaces the stored one as a parent
            file_nodes[f] = node
    parents = Parents(nodes.values())
    placed: list[tuple[Node | None, Feature, BaseGeometry]] = []
    for level in AreaLevel:
        for f, node in file_nodes.items():
            if node.level is not level or not f.ok:
                continue
            parent = parents.find(
                ctx,
                f,
                code=f.code,
                parent_code=f.values.get("parent"),
                geom=node.geom,
                levels=above(level),
                what=level.value,
            )
            if not f.ok:
                continue
            if parent is not None:
                node.geom = f.geom = fit_to_parent(ctx, f, node.geom, parent, level.value)
            placed.append((parent, f, node.geom))
    _shape_checks(ctx, placed, levels)
    if ctx.report.problems:
        return
    _save(ctx, placed, levels, stored)


def _levels(ctx: ImportContext) -> dict[Feature, AreaLevel]:
    """Each feature's level: its level cell, else the option, else its statistical code."""
    out: dict[Feature, AreaLevel] = {}
    for f in ctx.features:
        word = f.values.get("level")
        if word is not None:
            level = LEVEL_WORDS.get(str(word).strip().lower())
            if level is None:
                ctx.problem(f, "level", "bad_value", "level must be city, district, township, community or compound")
                continue
        elif ctx.options.level is not None:
            level = ctx.options.level
        else:
            guessed = level_of_code(f.code or "")
            if guessed is None or guessed not in AreaLevel.__members__.values():
                if f.ok:
                    ctx.problem(
                        f,
                        "level",
                        "missing",
                        "the level is unknown: add a level column, send the level option, or use statistical codes",
                    )
                continue
            level = AreaLevel(guessed)
        out[f] = level
    return out


def _shape_checks(
    ctx: ImportContext,
    placed: list[tuple[Node | None, Feature, BaseGeometry]],
    levels: dict[Feature, AreaLevel],
) -> None:
    """Sizes per level, overlaps among siblings and gaps in parents (compounds need not cover a community)."""
    if not placed:
        return
    projection = LocalProjection.for_geometry(placed[0][2])
    for level in AreaLevel:
        items = [(f, projection.to_metric(g).area / 1e6) for _, f, g in placed if levels[f] is level]
        if items:
            size_checks(ctx, items, usual=USUAL_AREA_KM2[level.value], what=f"{level.value} area", unit="km²")
    in_file = {f.code for _, f, _ in placed}
    by_level: dict[AreaLevel, list[tuple[Node | None, Feature | None, BaseGeometry, str]]] = {}
    for p, f, g in placed:
        by_level.setdefault(levels[f], []).append((p, f, g, f.code or ""))
    parents_of_file = {p.code: p for p, _, _ in placed if p is not None}
    for area in ctx.session.scalars(select(Area).where(Area.retired_at.is_(None), Area.parent_id.is_not(None))):
        parent = parents_of_file.get(area.parent.code) if area.parent is not None else None
        if area.code in in_file or parent is None:
            continue  # a stored sibling of a feature of the file, under the same parent
        by_level.setdefault(area.level, []).append((parent, None, to_shape(area.geom), area.code))
    for level, members in by_level.items():
        sibling_checks(ctx, group_by_parent(members), what=level.value, gaps=level is not AreaLevel.COMPOUND)


def _save(
    ctx: ImportContext,
    placed: list[tuple[Node | None, Feature, BaseGeometry]],
    levels: dict[Feature, AreaLevel],
    stored: dict[str, Area],
) -> None:
    """Save top-down, one level at a time, so every parent has its id before its children."""
    saved: dict[str, Area] = {}

    def parent_area(node: Node | None) -> Area | None:
        if node is None:
            return None
        return node.area if node.area is not None else saved[node.code]

    def snapshot(a: Area) -> tuple[dict[str, Any], BaseGeometry | None]:
        parent = a.parent.code if a.parent is not None else None
        return {"level": a.level.value, "name_zh": a.name_zh, "name_en": a.name_en, "parent": parent}, stored_shape(
            a.geom
        )

    def apply(a: Area, w: Wanted) -> None:
        a.level = AreaLevel(w.props["level"])
        a.name_zh, a.name_en = w.props["name_zh"], w.props["name_en"]
        a.parent = wanted_parent[w.code]
        a.geom = from_shape(w.geom, srid=4326)

    def create(w: Wanted) -> Area:
        area = Area(code=w.code, version=1, updated_at=ctx.now)
        apply(area, w)
        return area

    wanted_parent: dict[str, Area | None] = {}
    for level in AreaLevel:
        wanted = []
        for parent, f, geom in placed:
            if levels[f] is not level:
                continue
            code = f.code or ""
            wanted_parent[code] = up = parent_area(parent)
            props = {
                "level": level.value,
                "name_zh": f.values["name"],
                "name_en": f.values.get("name_en"),
                "parent": up.code if up is not None else None,
            }
            wanted.append(Wanted(code, props, geom, f))
        if not wanted and not (ctx.options.retire_missing and any(lv is level for lv in levels.values())):
            continue
        current = {c: a for c, a in stored.items() if a.level is level and a.retired_at is None}
        retired = {c: a for c, a in stored.items() if a.level is level and a.retired_at is not None}
        if ctx.options.retire_missing:
            _refuse_retiring_used(ctx, current, {w.code for w in wanted})
            if ctx.report.problems:
                return
        saved.update(
            save_by_code(
                ctx, wanted=wanted, current=current, retired=retired, snapshot=snapshot, create=create, apply=apply
            )
        )
    bump_revision(ctx.session, AREAS)
    publish(ctx.session, "area.changed", {"imported": True, "counts": dict(ctx.report.counts)})


def _refuse_retiring_used(ctx: ImportContext, current: dict[str, Area], kept: set[str]) -> None:
    """An area still holding live areas or grids is not retired: a problem names it."""
    for code, area in current.items():
        if code in kept:
            continue
        children = ctx.session.scalar(
            select(func.count()).select_from(Area).where(Area.parent_id == area.id, Area.retired_at.is_(None))
        )
        grids = ctx.session.scalar(
            select(func.count()).select_from(Grid).where(Grid.community_id == area.id, Grid.retired_at.is_(None))
        )
        if children or grids:
            ctx.problem(
                None,
                "retire_missing",
                "retire_in_use",
                f"{area.level.value} {code} is no longer in the file but still holds {children} area(s) and "
                f"{grids} grid(s); retire or move those first",
            )


KIND = KindSpec(
    name="areas",
    summary="city, district, township, community and compound boundaries",
    geometry="polygon",
    fields=FIELDS,
    run=run,
)
