"""Checks and consequences of grid-layer edits: validity, containment, overlaps, gaps, impact.

A wrong edit leaves homes with no grid worker, or with two. Everything here answers in plain data
(areas in square metres in a local metric projection, locations in lon/lat) so the API can show the
planner exactly where the problem is before anything is saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import split

from geo.crs import LocalProjection
from geo.locate import PolygonIndex

Key = Hashable


@dataclass
class Issue:
    """One problem: ``rule`` is a stable code, ``grid`` the grid at fault (None: the layer)."""

    rule: str
    message: str
    grid: Key | None = None
    other: Key | None = None
    area_m2: float | None = None
    location: tuple[float, float] | None = None
    geometry: BaseGeometry | None = None
    suggestion: BaseGeometry | None = None


@dataclass
class Report:
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def extend(self, issues: Iterable[Issue]) -> Report:
        self.issues.extend(issues)
        return self


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Only the polygons of a geometry (``make_valid`` can return lines and points too)."""
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, (Polygon, MultiPolygon))]
    return shapely.union_all(parts) if parts else Polygon()


def as_multi(geom: BaseGeometry) -> MultiPolygon:
    geom = polygonal(geom)
    if isinstance(geom, MultiPolygon):
        return geom
    return MultiPolygon([geom]) if not geom.is_empty else MultiPolygon()


def _location(reason: str) -> tuple[float, float] | None:
    found = re.search(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)", reason)
    return (float(found.group(1)), float(found.group(2))) if found else None


def check_shape(key: Key, geom: BaseGeometry | None, *, max_vertices: int, region: BaseGeometry | None) -> list[Issue]:
    """Rules that need only the geometry: type, emptiness, size, coordinate range and order, validity."""
    if geom is None or geom.is_empty:
        return [Issue("empty", "the geometry is empty", key)]
    if not isinstance(geom, (Polygon, MultiPolygon)):
        return [Issue("not_polygon", f"a grid must be a Polygon or MultiPolygon, not a {geom.geom_type}", key)]
    vertices = shapely.get_num_coordinates(geom)
    if vertices > max_vertices:
        return [Issue("too_many_vertices", f"{vertices} vertices; the limit is {max_vertices}", key)]
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all() or (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
        if (np.abs(xy[:, 1]) > 90).any() and (np.abs(xy[:, 0]) <= 90).all():
            return [Issue("swapped_coordinates", "latitudes beyond ±90: are longitude and latitude swapped?", key)]
        return [Issue("out_of_range", "coordinates must be WGS84 longitude/latitude", key)]
    issues = []
    if region is not None and not geom.intersects(region):
        swapped = shapely.transform(geom, lambda c: c[:, ::-1])
        if swapped.intersects(region):
            return [
                Issue(
                    "swapped_coordinates",
                    "the grid lies outside its community, but would lie inside with "
                    "longitude and latitude swapped: send [lon, lat] (RFC 7946)",
                    key,
                )
            ]
        return [
            Issue(
                "wrong_place",
                "the grid lies nowhere near its community (wrong coordinate system? GeoJSON "
                "is WGS84; declare GCJ-02 or BD-09 input)",
                key,
            )
        ]
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        fixed = polygonal(shapely.make_valid(geom))
        issues.append(
            Issue(
                "invalid",
                f"invalid polygon: {reason}",
                key,
                location=_location(reason),
                suggestion=as_multi(fixed) if not fixed.is_empty else None,
            )
        )
    return issues


def _pieces(geom: BaseGeometry, projection: LocalProjection, tol_m2: float) -> list[tuple[BaseGeometry, float]]:
    """Polygon parts larger than the tolerance, with their metric areas."""
    out = []
    for part in shapely.get_parts(polygonal(geom)):
        area = projection.to_metric(part).area
        if area > tol_m2:
            out.append((part, area))
    return out


def _where(geom: BaseGeometry) -> tuple[float, float]:
    p = geom.representative_point()
    return round(p.x, 7), round(p.y, 7)


def validate_layer(
    proposed: Mapping[Key, BaseGeometry | None],
    current: Mapping[Key, BaseGeometry],
    region: BaseGeometry,
    *,
    tolerance_m2: float = 1.0,
    max_vertices: int = 20_000,
    projection: LocalProjection | None = None,
) -> Report:
    """Check a proposed edit of a layer of grids that must tile ``region`` (the community).

    ``proposed`` maps grid keys to new geometries (``None`` retires a grid; a key not in ``current``
    is a new grid). Rules: each geometry is a valid, non-empty polygon of sane size and coordinates;
    it lies inside the region; no two grids overlap by more than ``tolerance_m2``; the grids leave no
    gap larger than ``tolerance_m2`` in the region.
    """
    projection = projection or LocalProjection.for_geometry(region)
    report = Report()
    for key, geom in proposed.items():
        if geom is not None:
            report.extend(check_shape(key, geom, max_vertices=max_vertices, region=region))
    if not report.ok:
        return report  # the layer rules need sane shapes
    layer = {k: g for k, g in current.items() if k not in proposed}
    layer.update({k: g for k, g in proposed.items() if g is not None})

    for key, geom in proposed.items():
        if geom is None:
            continue
        for part, area in _pieces(geom.difference(region), projection, tolerance_m2):
            report.issues.append(
                Issue(
                    "outside_community",
                    f"{area:.1f} m² lie outside the community",
                    key,
                    area_m2=round(area, 2),
                    location=_where(part),
                    geometry=part,
                )
            )
    keys = list(layer)
    index = PolygonIndex(keys, [layer[k] for k in keys], projection=projection)
    changed = {k for k, g in proposed.items() if g is not None}
    seen: set[tuple[Key, Key]] = set()
    for key in changed:
        for j in index.tree.query(layer[key], predicate="intersects"):
            other = keys[int(j)]
            pair = (key, other) if str(key) <= str(other) else (other, key)  # as sorted(key=str)
            if other == key or pair in seen:
                continue
            seen.add(pair)
            for part, area in _pieces(layer[key].intersection(layer[other]), projection, tolerance_m2):
                report.issues.append(
                    Issue(
                        "overlap",
                        f"overlaps grid {other} by {area:.1f} m²",
                        key,
                        other=other,
                        area_m2=round(area, 2),
                        location=_where(part),
                        geometry=part,
                    )
                )
    covered = shapely.union_all(list(layer.values())) if layer else Polygon()
    for part, area in _pieces(region.difference(covered), projection, tolerance_m2):
        report.issues.append(
            Issue(
                "gap",
                f"{area:.1f} m² of the community belong to no grid",
                None,
                area_m2=round(area, 2),
                location=_where(part),
                geometry=part,
            )
        )
    return report


@dataclass(frozen=True)
class Move:
    item: Key
    before: Key | None
    after: Key | None
    weight: int = 0


def assignments(layer: Mapping[Key, BaseGeometry], points: Sequence[tuple[Key, float, float]]) -> dict[Key, Key | None]:
    """Which grid holds each point, by the rules of ``geo.locate`` (no outside-coverage reach)."""
    keys = sorted(layer, key=str)
    if not keys or not points:
        return {p[0]: None for p in points}
    index = PolygonIndex(keys, [layer[k] for k in keys])
    found = index.locate_many(np.array([p[1] for p in points]), np.array([p[2] for p in points]), max_distance_m=0)
    return {p[0]: (keys[i] if i >= 0 else None) for p, i in zip(points, found, strict=True)}


def impact(
    before: Mapping[Key, BaseGeometry],
    after: Mapping[Key, BaseGeometry],
    buildings: Sequence[tuple[Key, float, float, int]],
    requests: Sequence[tuple[Key, float, float]] = (),
    *,
    band: tuple[int, int] = (300, 500),
) -> dict[str, Any]:
    """Buildings and households that change grid, open requests reassigned, households per grid."""
    points = [(b[0], b[1], b[2]) for b in buildings]
    weight = {b[0]: int(b[3]) for b in buildings}
    was, now = assignments(before, points), assignments(after, points)
    moves = [Move(k, was[k], now[k], weight[k]) for k in was if was[k] != now[k]]
    req_was, req_now = assignments(before, requests), assignments(after, requests)
    req_moves = [Move(k, req_was[k], req_now[k]) for k in req_was if req_was[k] != req_now[k]]

    def totals(assigned: Mapping[Key, Key | None], layer: Mapping[Key, BaseGeometry]) -> dict[Key, int]:
        out = dict.fromkeys(layer, 0)
        for item, grid in assigned.items():
            if grid is not None:
                out[grid] = out.get(grid, 0) + weight[item]
        return out

    hh_before, hh_after = totals(was, before), totals(now, after)
    low, high = band
    per_grid = []
    for key in sorted(set(hh_before) | set(hh_after), key=str):
        b, a = hh_before.get(key), hh_after.get(key)
        warn = None
        if key in after and not low <= (a or 0) <= high:
            warn = f"{a} households, outside the {low}-{high} band"
        per_grid.append(
            {"grid": key, "households_before": b, "households_after": a if key in after else None, "warning": warn}
        )
    return {
        "buildings_moved": [m.__dict__ for m in moves],
        "households_moved": sum(m.weight for m in moves),
        "requests_reassigned": [{"item": m.item, "before": m.before, "after": m.after} for m in req_moves],
        "households": per_grid,
        "homeless_buildings": [m.item for m in moves if m.after is None],
    }


def split_by_line(geom: BaseGeometry, line: LineString) -> list[Polygon]:
    """Cut a grid in two (or more) along a line that crosses it from edge to edge."""
    if not isinstance(line, LineString) or line.is_empty:
        raise ValueError("the cut must be a LineString")
    parts = [p for p in shapely.get_parts(split(polygonal(geom), line)) if isinstance(p, Polygon) and p.area > 0]
    if len(parts) < 2:
        raise ValueError("the line does not cut the grid in two: it must cross it from edge to edge")
    return sorted(parts, key=lambda p: -p.area)


#: Coordinates closer than this (about 0.1 mm) are one point up to float rounding: a split computes
#: where its line crosses an edge, and the point it stores lies on that edge only up to rounding.
NOISE_DEG = 1e-9


def merge_neighbours(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    """The union of two neighbouring grids, moving no boundary either shares with anything else.

    Each is first snapped onto the other's vertices within float noise (``NOISE_DEG``): a split puts
    its cut point on the edge the grid shares with a neighbour, which keeps that edge whole, so the
    two lines differ by rounding and a plain union keeps a zero-width spike or hole there. The union
    itself is exact. Not on the 1e-7° grid of GeoJSON: stored coordinates are not on it (a cut
    through the middle of a grid lies half a step off), so snap rounding there moved the outline of
    the merged grid by up to 5 mm, off the neighbour and the community that keep it: a gap or
    overlap of metres along a long boundary.
    """
    b = shapely.snap(b, a, NOISE_DEG)
    a = shapely.snap(a, b, NOISE_DEG)
    return polygonal(shapely.union(a, b))


def shared_boundary_m(a: BaseGeometry, b: BaseGeometry, projection: LocalProjection) -> float:
    """Length in metres of the boundary two grids share."""
    common = a.boundary.intersection(b.boundary)
    return projection.to_metric(common).length if not common.is_empty else 0.0


# -- a merged layer from department layers -----------------------------------------------------

#: Department overlays run on the 1e-7° grid of storage and GeoJSON, so the pieces come out exactly
#: as they are written (rounding cannot make them invalid) and microscopic slivers collapse. (Merging
#: two neighbouring grids does not: see ``merge_neighbours``.)
OVERLAY_GRID_DEG = 1e-7


def clip_to_region(
    grids: Iterable[BaseGeometry], region: BaseGeometry, projection: LocalProjection, *, min_m2: float = 1.0
) -> list[BaseGeometry]:
    """The polygonal parts of ``grids`` inside ``region`` (on the overlay grid), those over ``min_m2``."""
    clipped = [polygonal(shapely.intersection(g, region, grid_size=OVERLAY_GRID_DEG)) for g in grids]
    return [g for g in clipped if not g.is_empty and projection.to_metric(g).area > min_m2]


def overlay(region: BaseGeometry, layers: Sequence[Sequence[BaseGeometry]]) -> list[BaseGeometry]:
    """Cut ``region`` by every grid of every layer: the pieces no two grids of any layer disagree on
    (a part no grid of a layer covers stays a piece of its own)."""
    pieces: list[BaseGeometry] = [region]
    for grids in layers:
        cut: list[BaseGeometry] = []
        for piece in pieces:
            inside = [polygonal(shapely.intersection(piece, g, grid_size=OVERLAY_GRID_DEG)) for g in grids]
            covered = shapely.union_all(inside, grid_size=OVERLAY_GRID_DEG)
            cut.extend(polygonal(x) for x in inside)
            rest = shapely.difference(piece, covered, grid_size=OVERLAY_GRID_DEG)
            if not rest.is_empty:
                cut.append(polygonal(rest))
        pieces = [p for c in cut for p in shapely.get_parts(polygonal(c)) if not p.is_empty]
    return pieces


def _absorb(
    pieces: list[BaseGeometry],
    too_small: Callable[[BaseGeometry], bool],
    households: Callable[[BaseGeometry], int],
    projection: LocalProjection,
    *,
    slivers: bool,
) -> None:
    """Join each piece ``too_small`` says is too small to a neighbour, until none is left to join.

    Slivers join the neighbour they share most boundary with (a speck touching only at corners: the
    nearest piece); pieces short of households join the neighbour with fewest households."""
    changed = True
    while changed:
        changed = False
        for i, piece in enumerate(pieces):
            if not too_small(piece):
                continue
            neighbours = [
                (projection.to_metric(piece.boundary.intersection(other.boundary)).length, households(other), j)
                for j, other in enumerate(pieces)
                if j != i
            ]
            touching = [n for n in neighbours if n[0] > 0.5]
            if not touching and slivers:
                nearest = min((piece.distance(other), j) for j, other in enumerate(pieces) if j != i)[1]
                touching = [(0.0, 0, nearest)]
            if not touching:
                continue
            target = max(touching)[2] if slivers else min(touching, key=lambda n: (n[1], -n[0]))[2]
            pieces[target] = polygonal(shapely.union(pieces[target], piece, grid_size=OVERLAY_GRID_DEG))
            del pieces[i]
            changed = True
            break


def merged_layer(
    region: BaseGeometry,
    layers: Sequence[Sequence[BaseGeometry]],
    homes: Sequence[tuple[int, BaseGeometry]],
    *,
    projection: LocalProjection,
    sliver_m2: float,
    households_min: int,
) -> list[tuple[BaseGeometry, int]]:
    """A merged layer for ``region`` from department layers (each already clipped to it, see
    ``clip_to_region``): their overlay, whose slivers (under ``sliver_m2``) then join a neighbour,
    then whose pieces with fewer than ``households_min`` households (``homes``: households and a
    point per building) join their smallest neighbour until every piece reaches the band or has no
    neighbour left. Pieces with their households, north to south then west to east."""
    pieces = overlay(region, layers)

    def households(geom: BaseGeometry) -> int:
        return sum(h for h, p in homes if geom.covers(p))

    _absorb(pieces, lambda p: projection.to_metric(p).area < sliver_m2, households, projection, slivers=True)
    _absorb(pieces, lambda p: households(p) < households_min, households, projection, slivers=False)
    ordered = sorted(pieces, key=lambda g: (-g.centroid.y, g.centroid.x))
    return [(p, households(p)) for p in ordered]
