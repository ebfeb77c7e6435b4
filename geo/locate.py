"""Which polygon (grid, compound, building) holds a point, with rules for the awkward cases.

Rules, shared by the HTTP ``grids/locate`` endpoint, request intake and bulk assignment:

1. A point inside exactly one polygon belongs to it.
2. A point on a shared boundary (or within ``snap_m``, default 1 mm, of more than one polygon)
   belongs to the polygon that contains the point nudged by ``10 * snap_m`` in a fixed direction
   (north-east-ish, at an irrational angle so it never runs along an edge). Every boundary point
   thus goes to exactly one polygon, deterministically; if the nudge is inconclusive (a polygon
   narrower than a centimetre) the first candidate in input order wins.
3. A point outside every polygon goes to the nearest polygon within ``max_distance_m``, flagged
   ``outside_coverage``; beyond that it goes to none.

Distances are metres in the index's local UTM projection.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from geo.crs import LocalProjection, metres_to_degrees

_NUDGE_ANGLE = 0.5 * (math.sqrt(5) - 1)  # radians; irrational so the nudge never follows an edge


@dataclass(frozen=True)
class Located:
    """The answer for one point: ``key`` is None when no polygon is within reach."""

    key: Hashable | None
    outside_coverage: bool
    distance_m: float | None


class PolygonIndex:
    """An STRtree over polygons, answering point lookups by the rules in the module docstring."""

    def __init__(
        self,
        keys: Sequence[Hashable],
        geoms: Sequence[BaseGeometry],
        *,
        snap_m: float = 0.001,
        projection: LocalProjection | None = None,
    ) -> None:
        if len(keys) != len(geoms):
            raise ValueError("keys and geoms must have the same length")
        self.keys = list(keys)
        self.geoms = np.asarray(geoms, dtype=object)
        self.tree = STRtree(self.geoms)
        self.snap_m = snap_m
        if projection is None and len(geoms):
            projection = LocalProjection.for_geometry(shapely.union_all(shapely.envelope(self.geoms)))
        self.projection = projection
        self._metric: np.ndarray | None = None
        if len(geoms):
            shapely.prepare(self.geoms)

    def __len__(self) -> int:
        return len(self.keys)

    def _metric_geoms(self) -> np.ndarray:
        if self._metric is None:
            assert self.projection is not None
            self._metric = np.asarray([self.projection.to_metric(g) for g in self.geoms], dtype=object)
        return self._metric

    def _snap_deg(self, lat: float) -> float:
        return metres_to_degrees(self.snap_m, lat)

    def _resolve_boundary(self, lon: float, lat: float, candidates: np.ndarray) -> int:
        """Pick one polygon among several touching the point, by the nudge rule."""
        step = 10 * self._snap_deg(lat)
        nudged = Point(lon + step * math.cos(_NUDGE_ANGLE), lat + step * math.sin(_NUDGE_ANGLE))
        holders = [i for i in sorted(candidates) if self.geoms[i].contains(nudged)]
        return holders[0] if len(holders) == 1 else int(min(candidates))

    def _inside(self, lon: float, lat: float) -> int | None:
        point = Point(lon, lat)
        candidates = self.tree.query(point, predicate="dwithin", distance=self._snap_deg(lat))
        if len(candidates) == 0:
            return None
        if len(candidates) == 1:
            return int(candidates[0])
        containing = [i for i in candidates if self.geoms[i].contains(point)]
        if len(containing) == 1 and all(
            self.geoms[i].distance(point) > self._snap_deg(lat) for i in candidates if i != containing[0]
        ):
            return int(containing[0])
        return self._resolve_boundary(lon, lat, candidates)

    def locate(self, lon: float, lat: float, *, max_distance_m: float = 200.0) -> Located:
        """Locate one WGS84 point."""
        if not len(self.keys):
            return Located(None, True, None)
        hit = self._inside(lon, lat)
        if hit is not None:
            return Located(self.keys[hit], False, 0.0)
        return self._nearest(lon, lat, max_distance_m)

    def _nearest(self, lon: float, lat: float, max_distance_m: float) -> Located:
        reach = metres_to_degrees(max_distance_m, lat) * 1.5
        candidates = self.tree.query(Point(lon, lat), predicate="dwithin", distance=reach)
        if len(candidates) == 0:
            return Located(None, True, None)
        assert self.projection is not None
        x, y = self.projection.forward(lon, lat)
        metric_point = Point(float(x), float(y))
        metric = self._metric_geoms()
        distances = sorted((metric[i].distance(metric_point), int(i)) for i in candidates)
        best_distance, best = distances[0]
        if best_distance > max_distance_m:
            return Located(None, True, None)
        return Located(self.keys[best], True, round(best_distance, 3))

    def locate_many(self, lons: np.ndarray, lats: np.ndarray, *, max_distance_m: float = 200.0) -> np.ndarray:
        """Bulk version: the index (position in ``keys``) for each point, -1 where none.

        Points strictly inside one polygon are resolved in one vectorised tree query; the few on
        boundaries or outside go through the single-point rules, so the answers are identical.
        """
        return self.locate_many_located(lons, lats, max_distance_m=max_distance_m)[0]

    def locate_many_located(
        self, lons: np.ndarray, lats: np.ndarray, *, max_distance_m: float = 200.0, points: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``locate_many`` with the rest of each ``Located``: ``(index, outside_coverage, distance_m)``,
        the index -1 and the distance NaN where no polygon is within reach (``outside_coverage`` True
        there, as ``locate`` says); distances rounded as ``locate`` rounds them. ``points``: the same
        points as shapely Points already made (a caller locating them in several indexes makes them once)."""
        lons = np.asarray(lons, dtype=float)
        lats = np.asarray(lats, dtype=float)
        result = np.full(len(lons), -1, dtype=np.int64)
        outside_flag = np.ones(len(lons), dtype=bool)
        distance = np.full(len(lons), np.nan)
        if not len(self.keys) or not len(lons):
            return result, outside_flag, distance
        if points is None:
            points = shapely.points(lons, lats)
        snap = self._snap_deg(float(np.nanmean(lats)))
        pt_idx, poly_idx = self.tree.query(points, predicate="dwithin", distance=snap * 1.01)
        counts = np.bincount(pt_idx, minlength=len(lons))
        single = counts == 1
        first = np.full(len(lons), -1, dtype=np.int64)
        first[pt_idx[::-1]] = poly_idx[::-1]
        result[single] = first[single]
        outside_flag[single] = False
        distance[single] = 0.0
        outside = np.flatnonzero(counts == 0)
        if len(outside) and max_distance_m > 0:
            found, metres = self._nearest_many(lons[outside], lats[outside], max_distance_m, points[outside])
            result[outside] = found
            distance[outside] = [round(float(m), 3) if k >= 0 else math.nan for k, m in zip(found, metres, strict=True)]
        index_of = {k: i for i, k in enumerate(self.keys)}
        for i in np.flatnonzero(counts > 1):  # on a shared boundary: the single-point rule
            located = self.locate(float(lons[i]), float(lats[i]), max_distance_m=max_distance_m)
            result[i] = -1 if located.key is None else index_of[located.key]
            outside_flag[i] = located.outside_coverage
            distance[i] = np.nan if located.distance_m is None else located.distance_m
        return result, outside_flag, distance

    def _nearest_many(
        self, lons: np.ndarray, lats: np.ndarray, max_distance_m: float, points: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised ``_nearest`` for points outside every polygon (same ties: lowest index): the
        index of the nearest polygon (-1: none within reach) and its distance in metres."""
        out = np.full(len(lons), -1, dtype=np.int64)
        dist = np.full(len(lons), np.nan)
        reach = metres_to_degrees(max_distance_m, float(np.max(np.abs(lats)))) * 1.5
        p_idx, g_idx = self.tree.query(points, predicate="dwithin", distance=reach)
        if not len(p_idx):
            return out, dist
        assert self.projection is not None
        x, y = self.projection.forward(lons[p_idx], lats[p_idx])
        metres = shapely.distance(self._metric_geoms()[g_idx], shapely.points(x, y))
        order = np.lexsort((g_idx, metres, p_idx))
        p_idx, g_idx, metres = p_idx[order], g_idx[order], metres[order]
        first = np.ones(len(p_idx), dtype=bool)
        first[1:] = p_idx[1:] != p_idx[:-1]
        keep = first & (metres <= max_distance_m)
        out[p_idx[keep]] = g_idx[keep]
        dist[p_idx[keep]] = metres[keep]
        return out, dist
