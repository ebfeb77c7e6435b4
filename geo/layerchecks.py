"""The spatial checks an import runs on a layer of areas, grids or points before it is saved.

Pure functions over shapely geometries in WGS84; areas and distances are measured in a local metric
projection (``geo.crs.LocalProjection``). Every location handed back is a WGS84 ``Point`` a report
can show. What they answer, and which import warning each feeds:

- ``normalized_code`` / ``level_of_code`` / ``parent_by_code``: the national statistical division
  codes nest by prefix (35 province, 3506 city, 350625 district, 350625100 township,
  350625100001 community); the 12-digit zero-padded form is reduced to its meaningful prefix first.
- ``containment``: the parent holding most of a child's area (parent by containment).
- ``clip_to_parent``: a child overhanging its parent within a tolerance band is clipped to it,
  beyond it is left alone and measured (``outside_parent``).
- ``sibling_overlaps`` / ``sibling_gaps``: siblings overlapping, or leaving parts of their parent
  uncovered, above an area tolerance (``overlap``, ``gap``).
- ``size_outliers``: areas (or household counts) outside a level's usual range or far from the
  siblings' median (``oversized``, ``undersized``).
- ``crs_offset``: a layer sitting a near-constant few hundred metres off an existing layer of the
  city, as GCJ-02 or BD-09 coordinates read as WGS84 do (``crs_offset``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from geo.coords import from_wgs84, to_wgs84
from geo.crs import LocalProjection
from geo.topology import as_multi, polygonal

T = TypeVar("T")

# -- statistical division codes ----------------------------------------------------------------

#: Level of a statistical division code by the length of its normalized form.
LEVEL_BY_LENGTH: dict[int, str] = {2: "province", 4: "city", 6: "district", 9: "township", 12: "community"}

_DIGITS = re.compile(r"[0-9]+")
#: (start, end) of the province, city, district, township and village parts of a 12-digit code.
_PARTS = ((0, 2), (2, 4), (4, 6), (6, 9), (9, 12))


def normalized_code(code: str) -> str:
    """A statistical division code without its zero padding; any other code unchanged (stripped).

    The 12-digit form pads with zeros (350625000000 is the district 350625, 350625100000 the
    township 350625100, 350600000000 the city 3506, 350000000000 the province 35); so do the 6-digit
    forms of provinces and cities (350600 → 3506, 350000 → 35) and a zero-padded 9-digit form.
    """
    text = str(code).strip()
    if len(text) not in (6, 9, 12) or not _DIGITS.fullmatch(text):
        return text
    kept = text
    for start, end in reversed(_PARTS):
        if end > len(kept):
            continue
        if start == 0 or set(kept[start:end]) != {"0"}:
            break
        kept = kept[:start]
    return kept


def level_of_code(code: str) -> str | None:
    """``province``, ``city``, ``district``, ``township`` or ``community`` for a statistical division
    code (by its normalized length: 2, 4, 6, 9, 12 digits, the first two a province 11..82); None for
    anything else (compound and grid codes are local)."""
    norm = normalized_code(code)
    if not _DIGITS.fullmatch(norm) or not 11 <= int(norm[:2] or 0) <= 82:
        return None
    return LEVEL_BY_LENGTH.get(len(norm))


class CodeParents(Generic[T]):
    """Parent lookup by code prefix over a fixed set of candidates (build once, ask per feature)."""

    def __init__(self, candidates: Mapping[str, T]) -> None:
        self._by_code: dict[str, T] = {}
        for code, value in candidates.items():
            self._by_code.setdefault(normalized_code(code), value)
        self._lengths = sorted({len(c) for c in self._by_code if c}, reverse=True)

    def parent(self, code: str) -> T | None:
        """The candidate whose normalized code is the longest proper prefix of ``code``'s."""
        norm = normalized_code(code)
        for length in self._lengths:
            if length < len(norm) and norm[:length] in self._by_code:
                return self._by_code[norm[:length]]
        return None


def parent_by_code(code: str, candidates: Mapping[str, T]) -> T | None:
    """The candidate whose normalized code is the longest proper prefix of ``code``'s normalized code
    (``350625100000`` → the candidate ``350625``, or ``350625000000``). For many features build one
    ``CodeParents`` instead."""
    return CodeParents(candidates).parent(code)


# -- shared helpers ----------------------------------------------------------------------------


def _projection(geoms: Sequence[BaseGeometry | None]) -> LocalProjection:
    present = [g for g in geoms if g is not None and not g.is_empty]
    if not present:
        return LocalProjection.for_lonlat(0.0, 0.0)
    x0, y0, x1, y1 = shapely.total_bounds(np.asarray(present, dtype=object))
    return LocalProjection.for_lonlat((x0 + x1) / 2, (y0 + y1) / 2)


def _metric(projection: LocalProjection, geoms: np.ndarray) -> np.ndarray:
    """Many WGS84 geometries in the projection's metres, in one vectorised transform."""

    def forward(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(projection.forward(xy[:, 0], xy[:, 1]))

    return np.asarray(shapely.transform(geoms, forward), dtype=object)


def _valid(geoms: Sequence[BaseGeometry | None]) -> np.ndarray:
    """An object array of the geometries, invalid ones repaired (``make_valid``), None kept."""
    arr = np.asarray(list(geoms), dtype=object)
    bad = ~shapely.is_valid(arr) & ~shapely.is_missing(arr)
    if bad.any():
        arr[bad] = shapely.make_valid(arr[bad])
    return arr


def _where(geom: BaseGeometry) -> Point:
    """A point on the largest polygonal piece (or on the geometry), rounded to 1e-7°."""
    parts = [p for p in shapely.get_parts(geom) if not p.is_empty]
    if not parts:
        return Point()
    best = max(parts, key=lambda p: (p.area, p.length))
    rp = best.representative_point()
    return Point(round(rp.x, 7), round(rp.y, 7))


def _is_point(geom: BaseGeometry) -> bool:
    return geom.geom_type in ("Point", "MultiPoint")


# -- containment and clipping --------------------------------------------------------------------


def containment(
    children: Sequence[BaseGeometry],
    parents: Sequence[BaseGeometry],
    *,
    projection: LocalProjection | None = None,
) -> list[tuple[int | None, float]]:
    """For each child, the index of the parent holding most of it and that share (0..1).

    Polygons: share of the child's area (metric); lines: of its length; points: the first parent
    (lowest index) covering the point, share 1.0. A child no parent touches (or an empty one) gets
    ``(None, 0.0)``.
    """
    out: list[tuple[int | None, float]] = [(None, 0.0)] * len(children)
    if not len(children) or not len(parents):
        return out
    kids, pars = _valid(children), _valid(parents)
    projection = projection or _projection(list(pars))
    tree = STRtree(pars)
    ci, pi = tree.query(kids, predicate="intersects")
    if not len(ci):
        return out
    point_pair = np.array([_is_point(kids[c]) for c in ci], dtype=bool)
    best: dict[int, tuple[float, int]] = {}
    # points: covered by the parent (a point on a shared boundary goes to the lowest index)
    for c, p in zip(ci[point_pair], pi[point_pair], strict=True):
        if shapely.covers(pars[p], kids[c]) and (int(c) not in best or int(p) < best[int(c)][1]):
            best[int(c)] = (1.0, int(p))
    rest = ~point_pair
    if rest.any():
        ci_r, pi_r = ci[rest], pi[rest]
        used_k, k_inv = np.unique(ci_r, return_inverse=True)
        used_p, p_inv = np.unique(pi_r, return_inverse=True)
        mk, mp = _metric(projection, kids[used_k]), _metric(projection, pars[used_p])
        inter = shapely.intersection(mk[k_inv], mp[p_inv])
        areal = shapely.area(mk) > 0
        size = np.where(areal, shapely.area(mk), shapely.length(mk))
        common = np.where(areal[k_inv], shapely.area(inter), shapely.length(inter))
        for k, p, amount in zip(k_inv, pi_r, common, strict=True):
            total = size[k]
            share = float(min(1.0, amount / total)) if total > 0 else 0.0
            c = int(used_k[k])
            if share > 0 and (c not in best or share > best[c][0]):
                best[c] = (share, int(p))
    for c, (share, p) in best.items():
        out[c] = (p, share)
    return out


@dataclass(frozen=True)
class Clip:
    """A child against its parent: ``geom`` is the clipped MultiPolygon when ``clipped``, else the
    child unchanged; ``outside_m2`` / ``outside_share`` measure the part outside the parent (before
    clipping), ``where`` a point on it (None when nothing lies outside)."""

    geom: BaseGeometry
    outside_m2: float
    outside_share: float
    clipped: bool
    where: Point | None


def clip_to_parent(
    child: BaseGeometry,
    parent: BaseGeometry,
    *,
    tolerance_m: float,
    projection: LocalProjection | None = None,
) -> Clip:
    """Clip a polygonal child to its parent when its overhang is only a boundary mismatch.

    The part outside the parent counts as a mismatch when its area is at most ``tolerance_m`` times
    the child's perimeter (a band ``tolerance_m`` wide along the boundary), or when it vanishes under
    a negative buffer of ``tolerance_m`` (slivers up to twice that wide). Such a child comes back
    clipped (``child ∩ parent``, valid, MultiPolygon, ``clipped=True``); any other child comes back
    unchanged with ``clipped=False`` and its overhang measured, for an ``outside_parent`` warning.
    Nothing outside: unchanged, ``outside_m2=0``, ``where=None``.
    """
    child = polygonal(shapely.make_valid(child)) if not child.is_valid else child
    parent = polygonal(shapely.make_valid(parent)) if not parent.is_valid else parent
    projection = projection or LocalProjection.for_geometry(parent if not parent.is_empty else child)
    outside = polygonal(child.difference(parent))
    if outside.is_empty:
        return Clip(child, 0.0, 0.0, False, None)
    outside_m = projection.to_metric(outside)
    child_m = projection.to_metric(child)
    outside_m2 = float(outside_m.area)
    if outside_m2 <= 0.0:
        return Clip(child, 0.0, 0.0, False, None)
    share = outside_m2 / child_m.area if child_m.area > 0 else 1.0
    where = _where(outside)
    within = outside_m2 <= tolerance_m * child_m.length or outside_m.buffer(-tolerance_m).is_empty
    if within:
        inside = as_multi(shapely.make_valid(child.intersection(parent)))
        if not inside.is_empty and inside.is_valid:
            return Clip(inside, outside_m2, share, True, where)
    return Clip(child, outside_m2, share, False, where)


# -- siblings: overlaps and gaps -----------------------------------------------------------------


@dataclass(frozen=True)
class Overlap:
    """Siblings ``i`` < ``j`` overlap by ``area_m2``; ``where`` is a point in the largest piece."""

    i: int
    j: int
    area_m2: float
    where: Point


@dataclass(frozen=True)
class Gap:
    """A part of the parent no child covers: its area, a point in it, and the piece (WGS84)."""

    area_m2: float
    where: Point
    geom: BaseGeometry


def sibling_overlaps(
    geoms: Sequence[BaseGeometry | None],
    *,
    min_m2: float,
    projection: LocalProjection | None = None,
) -> list[Overlap]:
    """Every pair of polygons overlapping by more than ``min_m2`` (STRtree; sorted by i, j).
    Touching along a boundary is no overlap; None and empty entries are skipped."""
    arr = _valid(geoms)
    present = ~shapely.is_missing(arr) & ~shapely.is_empty(arr)
    if present.sum() < 2:
        return []
    projection = projection or _projection(list(arr[present]))
    tree = STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if not len(left):
        return []
    used, inv = np.unique(np.concatenate([left, right]), return_inverse=True)
    metric = _metric(projection, arr[used])
    inter = shapely.intersection(metric[inv[: len(left)]], metric[inv[len(left) :]])
    areas = shapely.area(inter)
    out = []
    for i, j, piece, area in zip(left, right, inter, areas, strict=True):
        if area > min_m2:
            out.append(Overlap(int(i), int(j), round(float(area), 2), _where(projection.to_wgs84(polygonal(piece)))))
    return sorted(out, key=lambda o: (o.i, o.j))


def sibling_gaps(
    parent: BaseGeometry,
    children: Sequence[BaseGeometry | None],
    *,
    min_m2: float,
    projection: LocalProjection | None = None,
) -> list[Gap]:
    """The parts of ``parent`` no child covers, each piece over ``min_m2``, largest first.

    The difference is taken in WGS84, so children sharing the parent's exact vertices leave no
    slivers; only the children touching the parent enter the union (STRtree)."""
    parent = polygonal(shapely.make_valid(parent)) if not parent.is_valid else polygonal(parent)
    if parent.is_empty:
        return []
    projection = projection or LocalProjection.for_geometry(parent)
    arr = _valid(children)
    arr = arr[~shapely.is_missing(arr)] if len(arr) else arr
    near = arr[STRtree(arr).query(parent, predicate="intersects")] if len(arr) else arr
    covered = shapely.union_all(near) if len(near) else Polygon()
    rest = polygonal(parent.difference(covered))
    out = []
    for piece in shapely.get_parts(rest):
        area = float(projection.to_metric(piece).area)
        if area > min_m2:
            out.append(Gap(round(area, 2), _where(piece), piece))
    return sorted(out, key=lambda g: -g.area_m2)


# -- size outliers -------------------------------------------------------------------------------

#: The usual area of one area or grid of each level in Chinese practice, km² (low, high). Wide on
#: purpose: outside it a value is far from anything usual, not merely big or small. Cities
#: (地级市) run from ~1,000 km² (Xiamen 1,700) to the 250,000 km² of Hulunbuir; districts and
#: counties from the ~20 km² central districts of big cities to the desert counties of Xinjiang;
#: subdistricts (街道) can be under 1 km², rural townships several thousand; urban communities are
#: 0.05-2 km², villages up to a few hundred; a compound (小区) is 0.5-100 ha; a grid of 300-500
#: households is typically 0.01-2 km² in town and larger in the countryside.
USUAL_AREA_KM2: dict[str, tuple[float, float]] = {
    "city": (300.0, 300_000.0),
    "district": (5.0, 200_000.0),
    "township": (0.3, 10_000.0),
    "community": (0.02, 1_000.0),
    "compound": (0.002, 5.0),
    "grid": (0.005, 100.0),
}

#: The usual households of a one-network grid: the 300-500 band, widened three times either way
#: (a warning is about a grid far outside the band, the band itself is a planning rule).
USUAL_GRID_HOUSEHOLDS: tuple[float, float] = (100.0, 1500.0)


@dataclass(frozen=True)
class Outlier:
    """Value ``i`` is ``kind`` ("oversized"/"undersized"), judged on ``basis`` "usual" (``reference``
    is the range bound crossed) or "siblings" (``reference`` is the siblings' median)."""

    i: int
    value: float
    kind: Literal["oversized", "undersized"]
    basis: Literal["usual", "siblings"]
    reference: float


def size_outliers(
    values: Sequence[float | None],
    *,
    usual: tuple[float, float] | None,
    factor: float = 10.0,
) -> list[Outlier]:
    """Values outside ``usual`` (low, high), else more than ``factor`` times above or below the median
    of all the values, siblings and itself (only with at least 3 values and a positive median). One outlier per value,
    the usual range first; None and NaN are skipped.

    Works on anything sized: areas in km² with ``USUAL_AREA_KM2[level]``, or households per grid
    with ``USUAL_GRID_HOUSEHOLDS`` (or ``usual=None`` to compare with the siblings only)."""
    vals = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    finite = np.isfinite(vals)
    siblings = vals[finite]
    median = float(np.median(siblings)) if len(siblings) else 0.0
    out: list[Outlier] = []
    for i, value in enumerate(vals):
        if not finite[i]:
            continue
        if usual is not None:
            low, high = usual
            if value < low:
                out.append(Outlier(i, float(value), "undersized", "usual", float(low)))
                continue
            if value > high:
                out.append(Outlier(i, float(value), "oversized", "usual", float(high)))
                continue
        if len(siblings) < 3 or median <= 0:
            continue
        if value > factor * median:
            out.append(Outlier(i, float(value), "oversized", "siblings", median))
        elif value < median / factor:
            out.append(Outlier(i, float(value), "undersized", "siblings", median))
    return out


# -- a layer sitting off by a GCJ-02 / BD-09 shift -----------------------------------------------

#: The shift each fix implies must lie in this range (metres) to be reported. GCJ-02 moves points
#: 100-800 m across China (about 585 m in Zhangzhou); BD-09 adds roughly another 0.9 km (about
#: 1.19 km from WGS84 in Zhangzhou), so a BD-09 file read as WGS84 sits up to 1.5 km off.
SHIFT_RANGE_M: dict[tuple[str, str], tuple[float, float]] = {
    ("wgs84", "gcj02"): (100.0, 800.0),
    ("gcj02", "wgs84"): (100.0, 800.0),
    ("wgs84", "bd09"): (100.0, 1500.0),
    ("bd09", "wgs84"): (100.0, 1500.0),
    ("gcj02", "bd09"): (100.0, 1500.0),
    ("bd09", "gcj02"): (100.0, 1500.0),
}
#: A layer vertex within this distance of a reference boundary counts as on it.
BOUNDARY_TOL_M = 30.0
_MAX_FEATURES = 200
_MAX_VERTICES = 2000
_MAX_POINTS = 2000
_CHUNK = 64


@dataclass(frozen=True)
class Offset:
    """The layer sits ``distance_m`` off towards ``bearing_deg`` (clockwise from north) of where it
    would be if its coordinates were ``coord_type`` instead of ``declared``: declaring
    ``coord_type`` fixes it. ``fit_*`` are (boundary agreement, share inside) as given and fixed;
    ``where`` is the median of the sampled coordinates (the middle of the layer, as given)."""

    coord_type: str
    declared: str
    distance_m: float
    bearing_deg: float
    fit_given: tuple[float, float]
    fit_fixed: tuple[float, float]
    where: Point

    @property
    def message(self) -> str:
        directions = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")
        toward = directions[round(self.bearing_deg / 45.0) % 8]
        names = {"wgs84": "WGS84", "gcj02": "GCJ-02", "bd09": "BD-09"}
        return (
            f"the layer sits about {self.distance_m:.0f} m {toward} of the existing layer, as "
            f"{names[self.coord_type]} coordinates read as {names[self.declared]} would: "
            f"declare coord_type={self.coord_type}"
        )


def _evenly(n: int, most: int) -> np.ndarray:
    """Up to ``most`` indices spread evenly over range(n) (deterministic sampling)."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


Shift = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _shifter(declared: str, true: str) -> Shift:
    """Where a point would be had its source coordinates been ``true`` rather than ``declared``."""

    def shift(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slon, slat = from_wgs84(np.asarray(lon, float), np.asarray(lat, float), declared)
        return to_wgs84(slon, slat, true)

    return shift


def _scaled(shift: Shift, factor: float) -> Shift:
    """``shift`` with its displacement scaled by ``factor``."""

    def scaled(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        slon, slat = shift(lon, lat)
        return lon + factor * (slon - lon), lat + factor * (slat - lat)

    return scaled


def _reference_lines(reference: np.ndarray, projection: LocalProjection) -> STRtree | None:
    """The reference's boundaries in metres, cut into chunks of at most ``_CHUNK`` vertices (fast
    nearest queries however long a boundary is)."""
    lines = shapely.get_parts(shapely.boundary(reference[shapely.area(reference) > 0]))
    if not len(lines):
        return None
    xy, line = shapely.get_coordinates(lines, return_index=True)
    starts = np.searchsorted(line, np.arange(len(lines)))
    pos = np.arange(len(xy)) - starts[line]
    chunk = pos // (_CHUNK - 1)
    # the first vertex of every chunk but a line's first also ends the chunk before it
    again = (pos % (_CHUNK - 1) == 0) & (pos > 0)
    all_line = np.concatenate([line, line[again]])
    all_chunk = np.concatenate([chunk, chunk[again] - 1])
    all_pos = np.concatenate([pos, pos[again]])
    all_xy = np.concatenate([xy, xy[again]])
    keys, ids = np.unique(all_line.astype(np.int64) * (len(xy) + 1) + all_chunk, return_inverse=True)
    order = np.lexsort((all_pos, ids))
    ids, all_xy = ids[order], all_xy[order]
    counts = np.bincount(ids, minlength=len(keys))
    keep = counts[ids] >= 2
    ids, all_xy = ids[keep], all_xy[keep]
    if not len(ids):
        return None
    mx, my = projection.forward(all_xy[:, 0], all_xy[:, 1])
    _, ids = np.unique(ids, return_inverse=True)
    return STRtree(shapely.linestrings(np.column_stack([mx, my]), indices=ids))


def _interior_points(features: np.ndarray, per: int) -> tuple[np.ndarray, np.ndarray]:
    """About ``per`` points spread at random (fixed seed) over each feature's area: (xy, owner)."""
    rng = np.random.default_rng(0)
    xys, owners = [], []
    for i, geom in enumerate(features):
        x0, y0, x1, y1 = geom.bounds
        shapely.prepare(geom)
        found = np.empty((0, 2))
        for _ in range(6):
            cand = np.column_stack([rng.uniform(x0, x1, per * 4), rng.uniform(y0, y1, per * 4)])
            found = np.concatenate([found, cand[shapely.contains_xy(geom, cand[:, 0], cand[:, 1])]])
            if len(found) >= per:
                break
        if not len(found):
            rp = geom.representative_point()
            found = np.array([[rp.x, rp.y]])
        found = found[:per]
        xys.append(found)
        owners.append(np.full(len(found), i))
    return np.concatenate(xys), np.concatenate(owners)


def _bearing(dx: float, dy: float) -> float:
    return (math.degrees(math.atan2(dx, dy)) + 360.0) % 360.0


def crs_offset(
    layer: Sequence[BaseGeometry | None],
    reference: Sequence[BaseGeometry | None],
    *,
    declared: str | None = None,
) -> Offset | None:
    """A layer that sits a near-constant shift off ``reference`` (an existing layer of the same city)
    the way a wrong ``coord_type`` declaration puts it; None when it fits as given.

    ``layer`` is the import's geometry already converted to WGS84 under ``declared`` ("wgs84" for
    WGS84, CGCS2000 or projected files; "gcj02"; "bd09"; None: unknown, treated as "wgs84" plus the
    reverse cases GCJ-02 → WGS84 and BD-09 → WGS84). Each alternative reading is tried on a sample
    (≤ 200 features, ≤ 2000 boundary vertices, ~4000 points spread over their area, or ≤ 2000
    points of a point layer) and measured against the reference by:

    - boundary agreement: the share of the layer's vertices within ``BOUNDARY_TOL_M`` of a
      reference boundary (polygon layers: shared outlines line up);
    - share inside: the share of the layer's area (or points) inside the reference polygons.

    A reading is reported when it fits clearly better than the layer as given (agreement at least
    doubled and over 5 %, or the outside share at least halved by over half a percentage point with
    80 % of the affected features improving) and not worse on the other measure, and its implied
    shift lies in ``SHIFT_RANGE_M``. A correctly declared layer, or one with no relation to the
    reference, fits no better read otherwise, so it gives None.
    """
    geoms = _valid(layer)
    geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)] if len(geoms) else geoms
    refs = _valid(reference)
    refs = refs[~shapely.is_missing(refs) & ~shapely.is_empty(refs)] if len(refs) else refs
    if not len(geoms) or not len(refs):
        return None
    refs = refs[shapely.area(refs) > 0]
    if not len(refs):
        return None
    # only the reference near the layer (the largest shift is ~1.5 km, about 0.02°)
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    near = shapely.box(x0 - 0.03, y0 - 0.03, x1 + 0.03, y1 + 0.03)
    refs = refs[STRtree(refs).query(near, predicate="intersects")]
    if not len(refs):
        return None
    projection = LocalProjection.for_lonlat((x0 + x1) / 2, (y0 + y1) / 2)
    ref_tree = STRtree(refs)
    points_layer = bool(np.all([_is_point(g) for g in geoms[_evenly(len(geoms), 50)]]))

    if points_layer:
        xy = shapely.get_coordinates(geoms)
        xy = xy[_evenly(len(xy), _MAX_POINTS)]
        lines = None
        inner, owner, weight = xy, np.arange(len(xy)), np.ones(len(xy))
    else:
        sample = geoms[_evenly(len(geoms), _MAX_FEATURES)]
        sample = sample[shapely.area(sample) > 0]
        if not len(sample):
            return None
        xy = shapely.get_coordinates(shapely.boundary(sample))
        xy = xy[_evenly(len(xy), _MAX_VERTICES)]
        lines = _reference_lines(refs, projection)
        inner, owner = _interior_points(sample, max(20, _MAX_POINTS // len(sample)))
        weight = shapely.area(sample)

    def fit(shift: Shift | None) -> tuple[float, float, np.ndarray]:
        """(boundary agreement, outside share, per-item inside share) of one reading of the layer:
        vertices near a reference boundary; sample points (area-weighted) inside the reference."""
        agree = 0.0
        if lines is not None:
            lon, lat = (xy[:, 0], xy[:, 1]) if shift is None else shift(xy[:, 0], xy[:, 1])
            mx, my = projection.forward(lon, lat)
            idx, _ = lines.query_nearest(shapely.points(mx, my), max_distance=BOUNDARY_TOL_M, return_distance=True)
            agree = len(np.unique(idx)) / len(xy)
        lon, lat = (inner[:, 0], inner[:, 1]) if shift is None else shift(inner[:, 0], inner[:, 1])
        hits, _ = ref_tree.query(shapely.points(lon, lat), predicate="within")
        inside = np.zeros(len(inner))
        inside[np.unique(hits)] = 1.0
        share = np.bincount(owner, inside, minlength=len(weight)) / np.maximum(
            np.bincount(owner, minlength=len(weight)), 1
        )
        return agree, 1.0 - float((share * weight).sum() / weight.sum()), share

    given_agree, given_out, per_given = fit(None)

    if declared is None:
        readings = [("wgs84", "gcj02"), ("wgs84", "bd09"), ("gcj02", "wgs84"), ("bd09", "wgs84")]
    else:
        base = "wgs84" if declared not in ("gcj02", "bd09") else declared
        readings = [(base, t) for t in ("wgs84", "gcj02", "bd09") if t != base]

    mx0, my0 = projection.forward(xy[:, 0], xy[:, 1])
    best: tuple[float, Offset] | None = None
    for assumed, true in readings:
        shift = _shifter(assumed, true)
        slon, slat = shift(xy[:, 0], xy[:, 1])
        mx1, my1 = projection.forward(slon, slat)
        dx, dy = mx0 - mx1, my0 - my1  # from where it belongs to where it sits
        distance = float(np.median(np.hypot(dx, dy)))
        low, high = SHIFT_RANGE_M[(assumed, true)]
        if not low <= distance <= high:
            continue
        agree, out, per = fit(shift)
        changed = np.abs(per - per_given) > 1e-3
        improving = float((per[changed] > per_given[changed]).mean()) if changed.any() else 0.0
        enough = changed.sum() >= (5 if points_layer else 1)
        area_better = out <= 0.3 * given_out and given_out - out >= 0.005 and improving >= 0.8 and enough
        agree_better = not points_layer and agree >= 0.1 and agree * len(xy) >= 20 and agree >= 3 * given_agree + 0.05
        if not (area_better or agree_better) or out > given_out + 0.005 or agree < given_agree - 0.02:
            continue
        # a real mix-up fits sharply: half the shift, or half as much again, fits clearly worse
        half_agree, half_out, _ = fit(_scaled(shift, 0.5))
        over_agree, over_out, _ = fit(_scaled(shift, 1.5))
        area_sharp = area_better and min(half_out, over_out) >= out + 0.2 * (given_out - out)
        agree_sharp = agree_better and agree >= 3 * max(half_agree, over_agree) + 0.05
        if not (area_sharp or agree_sharp):
            continue
        score = (agree - given_agree) + (given_out - out)
        offset = Offset(
            coord_type=true,
            declared=assumed,
            distance_m=round(distance, 1),
            bearing_deg=round(_bearing(float(np.median(dx)), float(np.median(dy))), 1),
            fit_given=(round(given_agree, 4), round(1.0 - given_out, 4)),
            fit_fixed=(round(agree, 4), round(1.0 - out, 4)),
            where=Point(round(float(np.median(xy[:, 0])), 7), round(float(np.median(xy[:, 1])), 7)),
        )
        if best is None or score > best[0]:
            best = (score, offset)
    return best[1] if best else None


__all__ = [
    "LEVEL_BY_LENGTH",
    "SHIFT_RANGE_M",
    "USUAL_AREA_KM2",
    "USUAL_GRID_HOUSEHOLDS",
    "Clip",
    "CodeParents",
    "Gap",
    "Offset",
    "Outlier",
    "Overlap",
    "clip_to_parent",
    "containment",
    "crs_offset",
    "level_of_code",
    "normalized_code",
    "parent_by_code",
    "sibling_gaps",
    "sibling_overlaps",
    "size_outliers",
]
