"""Buildings: footprints by code (stored as ``Building.ref``), with households, residents and floors.

Each building's compound is the one its ``compound`` field names, else the compound holding most of
its footprint (none is fine: not every building stands in a 小区). Its grid is the one-network grid
holding its anchor (the entrance when the file gives one, else a point inside the footprint,
``service.buildings.service.anchor_point``); a building in no grid is saved with a warning
(``outside_grid``); a grid the file names is only checked against it (``grid_mismatch``). The
entrance columns are in the file's coordinate system and converted like the footprints. A column
the file does not have keeps what is stored (re-importing a survey without the chairs' names keeps
them).

Warnings on the numbers (saved, but worth a look):

- ``oversized`` households: more than ``MAX_HOUSEHOLDS_PER_FLOOR`` (40) per floor, or households on a
  building of 0 floors (field ``floors``: the floors are probably missing);
- ``undersized`` households: residents but no households;
- ``oversized`` residents: more than ``MAX_RESIDENTS_PER_HOUSEHOLD`` (10) per household;
- ``entrance_far``: the entrance more than ``ENTRANCE_MAX_M`` (100 m) from its footprint (often a
  coordinate system mix-up between the entrance columns and the geometry).
"""

from __future__ import annotations

from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely import box, union_all
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select

from geo.crs import LocalProjection
from geo.layerchecks import containment
from geo.sourcecrs import in_range, point_to_wgs84
from service.areas.models import Area, AreaLevel
from service.buildings.models import Building
from service.buildings.service import anchor_point
from service.common.layer_cache import BUILDINGS, GRIDS
from service.common.revisions import bump_revision
from service.common.spatial import box_overlaps
from service.events.outbox import publish
from service.grids.models import Grid, GridLayer
from service.imports.context import Feature, ImportContext
from service.imports.kinds.grids import held_by
from service.imports.saving import Wanted, save_by_code, stored_shape
from service.imports.spec import FieldSpec, KindSpec

MAX_HOUSEHOLDS_PER_FLOOR = 40
MAX_RESIDENTS_PER_HOUSEHOLD = 10
ENTRANCE_MAX_M = 100.0
#: Entrances are compared at this many decimals of a degree (about 1 cm): a re-import is unchanged.
ENTRANCE_DIGITS = 7

FIELDS = {
    "code": FieldSpec(
        ("code", "ref", "建筑编码", "楼栋编码", "id", "bm", "osm_id"),
        required=True,
        max_length=80,
        description="the building's code (kept as its ref; OSM imports use way/123)",
    ),
    "number": FieldSpec(("number", "楼号", "楼栋号", "house_number"), max_length=40, description="building number"),
    "name": FieldSpec(("name_zh", "name", "名称", "楼栋名称"), description="name"),
    "name_en": FieldSpec(("name_en", "英文名称", "ename"), description="English name"),
    "households": FieldSpec(("households", "户数", "hh"), type="int", description="households"),
    "residents": FieldSpec(("residents", "人口", "常住人口"), type="int", description="residents"),
    "floors": FieldSpec(("floors", "层数", "building:levels", "levels"), type="int", description="floors"),
    "compound": FieldSpec(
        ("compound_code", "compound", "小区代码", "小区编码"),
        max_length=32,
        description="the compound's code (else the compound holding the footprint, if any)",
    ),
    "grid": FieldSpec(
        ("grid_code", "grid", "网格编码", "所属网格"),
        max_length=32,
        description="the one-network grid the survey names: checked against the grid holding the anchor, "
        "which decides (grid_mismatch warning)",
    ),
    "chair_name": FieldSpec(("chair_name", "楼栋长"), max_length=100, description="building chair (staff only)"),
    "chair_phone": FieldSpec(("chair_phone", "楼栋长电话"), max_length=32, description="the chair's phone"),
    "entrance_lon": FieldSpec(
        ("entrance_lon", "入口经度"), max_length=40, description="entrance x/longitude, in the file's coordinates"
    ),
    "entrance_lat": FieldSpec(
        ("entrance_lat", "入口纬度"), max_length=40, description="entrance y/latitude, in the file's coordinates"
    ),
}

#: The stored columns a feature's fields write (field -> Building attribute).
COLUMNS = {
    "number": "number",
    "name": "name_zh",
    "name_en": "name_en",
    "households": "households",
    "residents": "residents",
    "floors": "floors",
    "chair_name": "chair_name",
    "chair_phone": "chair_phone",
}
NOT_NULL = {"households": 0, "residents": 0}


def run(ctx: ImportContext) -> None:
    """Check every building (codes, entrance, compound, numbers), then save and find its grid."""
    seen: dict[str, Feature] = {}
    for f in ctx.features:
        if f.ok:
            ctx.first_with_code(seen, f)
    entrances = {f: _entrance(ctx, f) for f in seen.values() if f.ok}
    compounds = _compounds(ctx, [f for f in seen.values() if f.ok and f.geom is not None])
    for f in seen.values():
        if f.ok:
            _number_checks(ctx, f)
    if ctx.report.problems:
        return
    _save(ctx, list(seen.values()), entrances, compounds)


def _entrance(ctx: ImportContext, f: Feature) -> Point | None:
    """The entrance in WGS84 (None without one); problems for half a pair or a bad number."""
    x, y = f.values.get("entrance_lon"), f.values.get("entrance_lat")
    if x is None and y is None:
        return None
    if x is None or y is None:
        ctx.problem(f, "entrance_lon" if x is None else "entrance_lat", "missing", "give both entrance coordinates")
        return None
    try:
        fx, fy = float(str(x).replace(",", "")), float(str(y).replace(",", ""))
    except ValueError:
        ctx.problem(f, "entrance_lon", "bad_value", "the entrance coordinates must be numbers")
        return None
    lon, lat = point_to_wgs84(fx, fy, ctx.source) if ctx.source is not None else (fx, fy)
    if not in_range(lon, lat):
        ctx.problem(f, "entrance_lon", "bad_coordinates", "the entrance does not convert to a valid WGS84 position")
        return None
    point = Point(round(lon, ENTRANCE_DIGITS), round(lat, ENTRANCE_DIGITS))
    if f.geom is not None:
        projection = LocalProjection.for_geometry(f.geom)
        metres = projection.to_metric(point).distance(projection.to_metric(f.geom))
        if metres > ENTRANCE_MAX_M:
            ctx.warn(
                f,
                "entrance_lon",
                "entrance_far",
                f"the entrance lies {metres:,.0f} m from the footprint; are both in the same coordinate system?",
                where=point,
            )
    return point


def _compounds(ctx: ImportContext, features: list[Feature]) -> dict[Feature, Area | None]:
    """Each building's compound: the one its field names (a problem if unknown), else the compound
    holding most of its footprint, else none."""
    stored = {
        a.code: a
        for a in ctx.session.scalars(select(Area).where(Area.level == AreaLevel.COMPOUND, Area.retired_at.is_(None)))
    }
    out: dict[Feature, Area | None] = {}
    by_shape: list[Feature] = []
    for f in features:
        named = f.values.get("compound")
        if named is None:
            by_shape.append(f)
        elif named in stored:
            out[f] = stored[named]
        else:
            ctx.problem(
                f, "compound", "unknown_parent", f"the compound {named!r} is not stored; load the compounds first"
            )
    candidates = list(stored.values())
    found = containment([f.geom for f in by_shape], [to_shape(a.geom) for a in candidates])
    for f, (i, share) in zip(by_shape, found, strict=True):
        out[f] = candidates[i] if i is not None and share >= 0.5 else None
    return out


def _number_checks(ctx: ImportContext, f: Feature) -> None:
    households, residents, floors = (f.values.get(k) for k in ("households", "residents", "floors"))
    if households and floors == 0:
        ctx.warn(f, "floors", "undersized", f"{households} households on a building of 0 floors: floors missing?")
    elif households and floors and households > MAX_HOUSEHOLDS_PER_FLOOR * floors:
        ctx.warn(
            f,
            "households",
            "oversized",
            f"{households} households on {floors} floor(s): more than {MAX_HOUSEHOLDS_PER_FLOOR} per floor",
        )
    if residents and households == 0:
        ctx.warn(f, "households", "undersized", f"{residents} residents but no households")
    elif residents and households and residents > MAX_RESIDENTS_PER_HOUSEHOLD * households:
        ctx.warn(
            f,
            "residents",
            "oversized",
            f"{residents} residents in {households} households: more than {MAX_RESIDENTS_PER_HOUSEHOLD} per household",
        )


def _snapshot(b: Building, compound_codes: dict[int, str]) -> tuple[dict[str, Any], BaseGeometry | None]:
    """A stored building as comparable properties (its compound by code) and its footprint."""
    props: dict[str, Any] = {field: getattr(b, column) for field, column in COLUMNS.items()}
    props["compound"] = compound_codes.get(b.compound_id) if b.compound_id is not None else None
    props["entrance"] = _entrance_value(to_shape(b.entrance) if b.entrance is not None else None)
    return props, stored_shape(b.geom)


def _entrance_value(point: BaseGeometry | None) -> list[float] | None:
    if point is None:
        return None
    return [round(float(point.x), ENTRANCE_DIGITS), round(float(point.y), ENTRANCE_DIGITS)]


def _save(
    ctx: ImportContext,
    features: list[Feature],
    entrances: dict[Feature, Point | None],
    compounds: dict[Feature, Area | None],
) -> None:
    """Save by code (history in feature_versions), then give every building of the file its grid."""
    everyone = {b.ref: b for b in ctx.session.scalars(select(Building).where(Building.ref.is_not(None)))}
    current = {code: b for code, b in everyone.items() if code is not None and b.retired_at is None}
    retired = {code: b for code, b in everyone.items() if code is not None and b.retired_at is not None}
    compound_codes = {a.id: a.code for a in ctx.session.scalars(select(Area).where(Area.level == AreaLevel.COMPOUND))}
    compound_ids = {code: i for i, code in compound_codes.items()}

    def snapshot(b: Building) -> tuple[dict[str, Any], BaseGeometry | None]:
        return _snapshot(b, compound_codes)

    wanted = []
    for f in features:
        code = f.code or ""
        stored = everyone.get(code)
        props = snapshot(stored)[0] if stored is not None else dict.fromkeys(COLUMNS) | NOT_NULL
        for field in COLUMNS:
            if field in f.values:  # a column the file has; else the stored value stays
                value = f.values[field]
                props[field] = NOT_NULL[field] if value is None and field in NOT_NULL else value
        area = compounds.get(f)  # by the compound field, else by containment
        props["compound"] = area.code if area is not None else None
        if "entrance_lon" in f.values or stored is None:
            props["entrance"] = _entrance_value(entrances.get(f))
        wanted.append(Wanted(code, props, f.geom, f))

    def apply(b: Building, w: Wanted) -> None:
        for field, column in COLUMNS.items():
            setattr(b, column, w.props[field])
        b.compound_id = compound_ids[w.props["compound"]] if w.props["compound"] is not None else None
        entrance = w.props["entrance"]
        b.entrance = from_shape(Point(*entrance), srid=4326) if entrance is not None else None
        b.geom = from_shape(w.geom, srid=4326)

    def create(w: Wanted) -> Building:
        b = Building(ref=w.code, version=1)
        apply(b, w)
        return b

    before = {b.id: (b.grid_id, b.households) for b in current.values()}
    saved = save_by_code(
        ctx, wanted=wanted, current=current, retired=retired, snapshot=snapshot, create=create, apply=apply
    )
    regridded = _assign_grids(ctx, saved)
    households_moved = (
        regridded
        or any(before.get(b.id) != (b.grid_id, b.households) for b in saved.values())
        or (ctx.options.retire_missing and ctx.report.counts["retired"] > 0)
    )
    bump_revision(ctx.session, BUILDINGS)
    if households_moved:
        bump_revision(ctx.session, GRIDS)
    publish(ctx.session, "building.changed", {"imported": True, "counts": dict(ctx.report.counts)})
    if households_moved:
        publish(ctx.session, "grid.changed", {"layer": GridLayer.ONE_NETWORK.value, "households": True})


def _assign_grids(ctx: ImportContext, saved: dict[str, Building]) -> bool:
    """Each saved building's one-network grid, by its anchor; ``outside_grid`` for those in none.
    True when any building changed grid."""
    if not saved:
        return False
    features = {f.code: f for f in ctx.features}
    anchors = {code: anchor_point(b) for code, b in saved.items()}
    frame = box(*union_all([box(*p.buffer(1e-4).bounds) for p in anchors.values()]).bounds)
    grids = ctx.session.execute(
        select(Grid.id, Grid.code, Grid.geom).where(
            Grid.layer == GridLayer.ONE_NETWORK, Grid.retired_at.is_(None), box_overlaps(ctx.session, Grid.geom, frame)
        )
    ).all()
    layer = {gid: to_shape(geom) for gid, _, geom in grids}
    grid_codes = {gid: code for gid, code, _ in grids}
    held = held_by(layer, [(code, float(p.x), float(p.y)) for code, p in anchors.items()])
    moved = False
    for code, b in saved.items():
        target = held[code]
        if target is None:
            ctx.warn(
                features.get(code),
                "geometry",
                "outside_grid",
                "the building lies in no one-network grid",
                where=anchors[code],
            )
        named = features[code].values.get("grid") if code in features else None
        if named is not None and named != grid_codes.get(target):
            ctx.warn(
                features[code],
                "grid",
                "grid_mismatch",
                f"the file puts the building in grid {named!r}, but its anchor lies in "
                + (f"grid {grid_codes[target]}" if target is not None else "no grid")
                + "; the anchor decides",
                where=anchors[code],
            )
        if b.grid_id != target:
            b.grid_id = target
            moved = True
    ctx.session.flush()
    return moved


KIND = KindSpec(
    name="buildings",
    summary="building footprints with households, residents, floors, entrance, compound and chair",
    geometry="polygon",
    fields=FIELDS,
    run=run,
)
