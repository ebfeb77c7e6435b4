"""Service circles: the 5/10/15-minute walking areas of a station, as polygons.

Built from what the walk reaches on the street network (``WalkGraph.reach``, partial edges
included), not from straight-line buffers:

1. the reached edge parts are merged into longer lines, each is buffered by ``corridor_m`` (the
   strip of homes a street serves) and the buffers are unioned (on Helsinki 60-130x faster, in
   three runs, than one buffer of the whole MultiLineString, whose area differs by 0.04 % in the
   median, 0.12 % at most: the round joins are approximated differently);
2. holes smaller than ``fill_holes_m2`` are filled: a block enclosed on every side by reached
   streets is served, even if its middle is more than ``corridor_m`` from a street;
3. the circles are made to nest: the 10-minute area is unioned with the 5-minute one (grown by a
   5 cm margin, so that the nesting survives reprojection and the 7-decimal rounding of storage)
   and the 15-minute with the 10-minute one.

The walk starts at the station's door: the straight walk from the station to its street counts
against the limit, and that path is part of the area (so the station always lies in its circle).

Trade-off: area error against time, measured with ``bench/circles.py`` (120 stations on the
Helsinki network x 5/10/15 minutes, on a loaded 2-core machine; symmetric difference relative to
the corridor area, median over the circles). The buffered corridors take about 100 ms a circle
(the reachability before them about 7 ms). A concave hull of the reached points
(``shapely.concave_hull``, ratio 0.3-0.5) is about 6x faster but differs by about 20 % of the
area (25-33 % for 5-minute circles, 90th percentile up to 66 %), mostly by leaving out the strips
along the outermost streets; tighter ratios are worse (0.1: 43 %, 0.05: 67 %). A convex hull is
about 11x faster and differs by about 21 %, as much as the best concave hull, but it over-covers
(10 % of the area is outside any corridor, against 3 % for ratio 0.3). We store the buffered
corridors, because planners read coverage off these polygons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.network import Snap, WalkGraph


@dataclass(frozen=True)
class CircleStyle:
    corridor_m: float = 30.0
    fill_holes_m2: float = 20_000.0
    quad_segs: int = 2
    simplify_m: float = 1.0
    nest_margin_m: float = 0.05


def minutes_to_metres(minutes: float, speed_mps: float) -> float:
    return minutes * 60.0 * speed_mps


def _fill_small_holes(geom: BaseGeometry, max_area: float) -> BaseGeometry:
    def fill(poly: Polygon) -> Polygon:
        keep = [ring for ring in poly.interiors if Polygon(ring).area > max_area]
        return Polygon(poly.exterior, keep)

    if geom.is_empty:
        return geom
    if isinstance(geom, Polygon):
        return fill(geom)
    return shapely.union_all([fill(p) for p in getattr(geom, "geoms", [])])


def corridor_polygon(graph: WalkGraph, parts: Sequence[BaseGeometry], style: CircleStyle) -> BaseGeometry:
    """Union of buffered reached edge parts, small enclosed holes filled (metric coordinates)."""
    lines = [p for p in parts if not p.is_empty and p.length > 0]
    if not lines:
        return Polygon()
    merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(lines)))
    buffers = shapely.buffer(merged, style.corridor_m, quad_segs=style.quad_segs)
    area = shapely.union_all(buffers)
    area = _fill_small_holes(area, style.fill_holes_m2)
    if style.simplify_m > 0:
        area = area.simplify(style.simplify_m, preserve_topology=True)
    return shapely.make_valid(area) if not area.is_valid else area


def service_areas(
    graph: WalkGraph, station: Snap, limits_m: Sequence[float], style: CircleStyle = CircleStyle()
) -> list[BaseGeometry]:
    """Nested metric polygons for each walking limit (ascending), from the station's door."""
    out: list[BaseGeometry] = []
    previous: BaseGeometry = Polygon()
    for limit in sorted(limits_m):
        budget = limit - station.offset_m
        if budget <= 0:
            # the station is farther from any street than the walk: only its own surroundings
            area: BaseGeometry = station.origin.buffer(style.corridor_m, quad_segs=style.quad_segs)
        else:
            reach = graph.reach(station, budget)
            door = [LineString([station.origin, station.point])] if station.offset_m > 0 else []
            area = corridor_polygon(graph, [*graph.reach_geometries(reach), *door], style)
        if not previous.is_empty:
            # a 5 cm margin keeps the nesting exact after reprojection and 7-decimal rounding (< 1 cm)
            area = shapely.union_all([area, previous.buffer(style.nest_margin_m, quad_segs=1)])
        out.append(area)
        previous = area
    return out


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """Polygons only, as one MultiPolygon (what the database column holds)."""
    if geom.is_empty:
        return MultiPolygon()
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    polys += [p for g in getattr(geom, "geoms", []) if isinstance(g, MultiPolygon) for p in g.geoms]
    return MultiPolygon(polys)
