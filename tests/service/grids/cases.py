"""Proposed grid boundaries that break (or just respect) one validation rule each.

Each case is built from the layer the API reports, with the expected outcome computed here
independently: areas with shapely in the town's metric projection, crossing points by plain
arithmetic, and so on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.affinity import translate
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.coords import from_wgs84
from tests.service.grids.town import gj, lonlat, m2, metric, polygons, strip
from tests.support.town import Town

#: How many metres a deliberate overlap or gap reaches: well above the 1 m² tolerance.
DEPTH_M = 6.0


@dataclass
class Case:
    name: str
    grid_id: int
    geometry: Any  # a GeoJSON geometry dict (or something that is not one)
    coord_type: str = "wgs84"
    #: rules expected in ``validation`` (empty: valid); None when the request itself is refused
    rules: list[str] | None = None
    #: (status, field) when the geometry is refused before validation
    refused: tuple[int, str] | None = None
    expect: dict[str, Any] = field(default_factory=dict)

    def grids(self, version: int | None = None) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"id": self.grid_id, "geometry": self.geometry}
        if version is not None:
            item["version"] = version
        return [item]

    def preview_body(self) -> dict[str, Any]:
        return {"grids": self.grids(), "coord_type": self.coord_type}

    def apply_body(self, version: int) -> dict[str, Any]:
        return {"grids": self.grids(version), "coord_type": self.coord_type, "comment": f"test: {self.name}"}

    def put_body(self) -> dict[str, Any]:
        return {"geometry": self.geometry, "coord_type": self.coord_type, "comment": f"test: {self.name}"}


def _pair(town: Town) -> tuple[int, int]:
    return town.neighbours()[0]


def _edge_grid(town: Town) -> tuple[int, BaseGeometry]:
    """A grid with a long stretch of its community's outline, and its outward bulge."""
    best = None
    for gid, geom in sorted(town.grids.items()):
        region = town.communities[town.community_of(gid)]
        bulge = lonlat(metric(geom).buffer(15.0)).difference(region)
        if best is None or m2(bulge) > m2(best[1]):
            best = (gid, bulge)
    assert best is not None and m2(best[1]) > 500
    return best


def self_intersecting(town: Town) -> Case:
    a, _ = _pair(town)
    core = lonlat(metric(town.grids[a]).buffer(-20).envelope)
    # corners with 6 decimals, so the crossing (their midpoint) is exact in the API's 7 decimals
    minx, miny, maxx, maxy = (round(v, 6) for v in core.bounds)
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[minx, miny], [maxx, maxy], [maxx, miny], [minx, maxy], [minx, miny]]],
    }
    # the two diagonals cross at the box's centre; make_valid keeps the two triangles
    triangles = shapely.union(
        Polygon([(minx, miny), ((minx + maxx) / 2, (miny + maxy) / 2), (minx, maxy)]),
        Polygon([(maxx, miny), ((minx + maxx) / 2, (miny + maxy) / 2), (maxx, maxy)]),
    )
    return Case(
        "self-intersecting",
        a,
        bowtie,
        rules=["invalid"],
        expect={"location": ((minx + maxx) / 2, (miny + maxy) / 2), "make_valid": triangles},
    )


def outside_community(town: Town) -> Case:
    gid, bulge = _edge_grid(town)
    grown = shapely.union(town.grids[gid], bulge)
    return Case(
        "outside community",
        gid,
        gj(grown),
        rules=["outside_community"],
        expect={"area_m2": m2(grown.difference(town.communities[town.community_of(gid)]))},
    )


def _overlap(town: Town, target_m2: float | None, name: str, rules: list[str]) -> Case:
    a, b = _pair(town)
    depth = DEPTH_M
    if target_m2 is not None:  # a strip thin enough to hold about target_m2
        depth = DEPTH_M * target_m2 / m2(strip(town.grids[b], town.grids[a], DEPTH_M))
    taken = strip(town.grids[b], town.grids[a], depth)
    grown = shapely.union(town.grids[a], taken)
    overlap = m2(grown.intersection(town.grids[b]))
    return Case(name, a, gj(grown), rules=rules, expect={"area_m2": overlap, "other": b, "depth_m": depth})


def overlap_above(town: Town) -> Case:
    return _overlap(town, None, "overlap above tolerance", ["overlap"])


def overlap_just_above(town: Town) -> Case:
    return _overlap(town, 3.0, "overlap of about 3 m²", ["overlap"])


def overlap_below(town: Town) -> Case:
    return _overlap(town, 0.4, "overlap below tolerance", [])


def _gap(town: Town, target_m2: float | None, name: str, rules: list[str]) -> Case:
    a, b = _pair(town)
    depth = DEPTH_M
    if target_m2 is not None:
        depth = DEPTH_M * target_m2 / m2(strip(town.grids[a], town.grids[b], DEPTH_M))
    lost = strip(town.grids[a], town.grids[b], depth)
    shrunk = MultiPolygon(polygons(town.grids[a].difference(lost)))
    return Case(name, a, gj(shrunk), rules=rules, expect={"area_m2": m2(lost), "lost": lost})


def gap_above(town: Town) -> Case:
    return _gap(town, None, "gap", ["gap"])


def gap_below(town: Town) -> Case:
    return _gap(town, 0.4, "gap below tolerance", [])


def swapped(town: Town) -> Case:
    a, _ = _pair(town)
    g = gj(town.grids[a])
    g["coordinates"] = [[[[lat, lon] for lon, lat in ring] for ring in poly] for poly in g["coordinates"]]
    return Case("latitude-longitude swap", a, g, rules=["swapped_coordinates"])


def empty_polygon(town: Town) -> Case:
    a, _ = _pair(town)
    return Case("empty Polygon", a, {"type": "Polygon", "coordinates": []}, rules=["empty"])


def empty_multipolygon(town: Town) -> Case:
    a, _ = _pair(town)
    return Case("empty MultiPolygon", a, {"type": "MultiPolygon", "coordinates": []}, rules=["empty"])


def line(town: Town) -> Case:
    a, _ = _pair(town)
    ring = polygons(town.grids[a])[0].exterior
    return Case("a LineString", a, gj(ring), refused=(422, "geometry"))


def point(town: Town) -> Case:
    a, _ = _pair(town)
    return Case("a Point", a, gj(town.grids[a].representative_point()), refused=(422, "geometry"))


def collection(town: Town) -> Case:
    a, _ = _pair(town)
    return Case(
        "a GeometryCollection",
        a,
        {"type": "GeometryCollection", "geometries": [gj(town.grids[a])]},
        refused=(422, "geometry"),
    )


def not_geojson(town: Town) -> Case:
    a, _ = _pair(town)
    return Case("not GeoJSON", a, {"type": "Polygon", "coordinates": "here"}, refused=(422, "geometry"))


def with_vertices(geom: BaseGeometry, total: int) -> dict[str, Any]:
    """The same shape with exactly ``total`` coordinates: points inserted along the first edge."""
    parts = polygons(geom)
    ring = list(parts[0].exterior.coords)
    now = sum(len(p.exterior.coords) + sum(len(r.coords) for r in p.interiors) for p in parts)
    extra = total - now
    assert extra >= 0
    (x1, y1), (x2, y2) = ring[0], ring[1]
    t = np.arange(1, extra + 1) / (extra + 1)
    inserted = [[round(x1 + (x2 - x1) * s, 9), round(y1 + (y2 - y1) * s, 9)] for s in t]
    first = [list(ring[0]), *inserted, *[list(c) for c in ring[1:]]]
    others = [gj(p)["coordinates"] for p in parts[1:]]
    rings = [first, *[[list(c) for c in r.coords] for r in parts[0].interiors]]
    return {"type": "MultiPolygon", "coordinates": [rings, *others]}


def at_vertex_limit(town: Town, limit: int) -> Case:
    a, _ = _pair(town)
    return Case("exactly at the vertex limit", a, with_vertices(town.grids[a], limit), rules=[])


def over_vertex_limit(town: Town, limit: int) -> Case:
    a, _ = _pair(town)
    return Case(
        "one vertex over the limit",
        a,
        with_vertices(town.grids[a], limit + 1),
        rules=["too_many_vertices"],
        expect={"vertices": limit + 1, "limit": limit},
    )


def gcj02_declared(town: Town) -> Case:
    a, _ = _pair(town)
    shifted = shapely.transform(town.grids[a], lambda c: np.column_stack(from_wgs84(c[:, 0], c[:, 1], "gcj02")))
    return Case("GCJ-02 declared", a, gj(shifted), coord_type="gcj02", rules=[])


def gcj02_undeclared(town: Town) -> Case:
    a, _ = _pair(town)
    shifted = shapely.transform(town.grids[a], lambda c: np.column_stack(from_wgs84(c[:, 0], c[:, 1], "gcj02")))
    shift = metric(town.grids[a].centroid).distance(metric(shifted.centroid))
    assert shift > 100, shift  # GCJ-02 is hundreds of metres off here
    region = town.communities[town.community_of(a)]
    rules = None if shifted.intersects(region) else ["wrong_place"]  # wholly off its community?
    return Case("GCJ-02 sent as WGS84", a, gj(shifted), rules=rules, expect={"shift_m": shift})


def far_away(town: Town) -> Case:
    a, _ = _pair(town)
    c = town.grids[a].centroid
    moved = translate(town.grids[a], 116.397 - c.x, 39.909 - c.y)  # Tian'anmen
    return Case("in Beijing", a, gj(moved), rules=["wrong_place"])


def unchanged(town: Town) -> Case:
    a, _ = _pair(town)
    return Case("the grid as it is", a, town.grid_json[a], rules=[])


BUILDERS: dict[str, Callable[..., Case]] = {
    "self-intersecting": self_intersecting,
    "outside community": outside_community,
    "overlap above tolerance": overlap_above,
    "overlap of about 3 m²": overlap_just_above,
    "overlap below tolerance": overlap_below,
    "gap": gap_above,
    "gap below tolerance": gap_below,
    "latitude-longitude swap": swapped,
    "empty Polygon": empty_polygon,
    "empty MultiPolygon": empty_multipolygon,
    "a LineString": line,
    "a Point": point,
    "a GeometryCollection": collection,
    "not GeoJSON": not_geojson,
    "exactly at the vertex limit": at_vertex_limit,
    "one vertex over the limit": over_vertex_limit,
    "GCJ-02 declared": gcj02_declared,
    "GCJ-02 sent as WGS84": gcj02_undeclared,
    "in Beijing": far_away,
    "the grid as it is": unchanged,
}
NEEDS_LIMIT = {"exactly at the vertex limit", "one vertex over the limit"}


def build(name: str, town: Town, *, max_vertices: int) -> Case:
    builder = BUILDERS[name]
    return builder(town, max_vertices) if name in NEEDS_LIMIT else builder(town)


def all_cases(town: Town, *, max_vertices: int) -> list[Case]:
    return [build(name, town, max_vertices=max_vertices) for name in BUILDERS]


def million_vertices(town: Town) -> str:
    """A 1,000,000-vertex polygon around a grid's centre, as raw JSON text (about 40 MB)."""
    a, _ = _pair(town)
    c = town.grids[a].centroid
    t = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    xs, ys = c.x + 0.001 * np.cos(t), c.y + 0.001 * np.sin(t)
    coords = ",".join(f"[{x:.7f},{y:.7f}]" for x, y in zip(xs, ys, strict=True))
    return f'{{"type":"Polygon","coordinates":[[{coords},[{xs[0]:.7f},{ys[0]:.7f}]]]}}'
