"""Independent geography for the request tests: grids and buildings as shapely shapes (from the
API), and walking distances on the demo street network computed with networkx (from the fixture
files), so the service's assignments can be checked against a second, separate computation.

Walking follows the model the issue asks for: a point is snapped onto the nearest street *edge*
(the foot of the perpendicular, not the nearest node), walks the perpendicular, then along the
streets (Dijkstra over edge lengths), then the perpendicular to the target.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

from geo.crs import LocalProjection

PROJ = LocalProjection.for_lonlat(117.755, 24.622)  # UTM 50N, the demo town's metric frame


def metric(lon: float, lat: float) -> Point:
    x, y = PROJ.forward(lon, lat)
    return Point(float(x), float(y))


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    return metric(*a).distance(metric(*b))


def offset(lon: float, lat: float, *, east_m: float = 0.0, north_m: float = 0.0) -> tuple[float, float]:
    """The point ``east_m``/``north_m`` metres away from (lon, lat)."""
    p = metric(lon, lat)
    x, y = PROJ.inverse(p.x + east_m, p.y + north_m)
    return float(x), float(y)


@dataclass(frozen=True)
class Foot:
    """Where a point meets the street network."""

    edge: int
    along_m: float  # metres from the edge's u end, in edge-length units
    offset_m: float  # the perpendicular walk from the point to the street


class StreetNet:
    """The demo street network as a networkx graph with metric edge geometries."""

    def __init__(self, nodes: dict[str, tuple[float, float]], edges: Sequence[tuple[str, str, float, LineString]]):
        self.graph = nx.Graph()
        self.edges: list[tuple[str, str, float, LineString]] = []
        node_xy = {k: metric(*ll) for k, ll in nodes.items()}
        for u, v, length, line in edges:
            geom = PROJ.to_metric(line)
            if Point(geom.coords[0]).distance(node_xy[u]) > Point(geom.coords[0]).distance(node_xy[v]):
                geom = LineString(list(geom.coords)[::-1])
            self.edges.append((u, v, float(length), geom))
            old = self.graph.get_edge_data(u, v)
            if old is None or old["length"] > length:
                self.graph.add_edge(u, v, length=float(length))
        self.tree = STRtree([e[3] for e in self.edges])

    @classmethod
    def from_fixtures(cls, demo_dir: Path) -> StreetNet:
        nodes = {
            f["properties"]["key"]: tuple(f["geometry"]["coordinates"])
            for f in json.loads((demo_dir / "street_nodes.geojson").read_text(encoding="utf-8"))["features"]
        }
        edges = [
            (f["properties"]["u"], f["properties"]["v"], f["properties"]["length_m"], shape(f["geometry"]))
            for f in json.loads((demo_dir / "street_edges.geojson").read_text(encoding="utf-8"))["features"]
        ]
        return cls(nodes, edges)

    def foot(self, lon: float, lat: float) -> Foot:
        p = metric(lon, lat)
        i = int(self.tree.nearest(p))
        _, _, length, line = self.edges[i]
        t = line.project(p)
        return Foot(i, length * t / line.length if line.length else 0.0, line.distance(p))

    def walks_from(self, source: tuple[float, float], targets: Iterable[tuple[float, float]]) -> list[float]:
        """Walking metres from ``source`` to each target (lon, lat)."""
        s = self.foot(*source)
        su, sv, slen, _ = self.edges[s.edge]
        from_u = nx.single_source_dijkstra_path_length(self.graph, su, weight="length")
        from_v = nx.single_source_dijkstra_path_length(self.graph, sv, weight="length")

        def to_node(n: str) -> float:
            return min(s.along_m + from_u.get(n, math.inf), slen - s.along_m + from_v.get(n, math.inf))

        out = []
        for target in targets:
            t = self.foot(*target)
            tu, tv, tlen, _ = self.edges[t.edge]
            along_streets = min(to_node(tu) + t.along_m, to_node(tv) + tlen - t.along_m)
            if t.edge == s.edge:
                along_streets = min(along_streets, abs(t.along_m - s.along_m))
            out.append(s.offset_m + along_streets + t.offset_m)
        return out


@cache
def street_net(demo_dir: Path) -> StreetNet:
    return StreetNet.from_fixtures(demo_dir)


@dataclass
class Town:
    """What the API says about the demo town, as shapes and plain dicts."""

    grids: dict[int, BaseGeometry]
    grid_props: dict[int, dict]
    buildings: dict[int, BaseGeometry]
    building_props: dict[int, dict]
    workers: list[dict]
    volunteers: list[dict]  # {"id", "lonlat", "on_duty", "skills"}
    categories: dict[str, dict]
    departments: dict[str, dict]
    streets: StreetNet
    _buildings_union: BaseGeometry | None = None

    @classmethod
    def load(cls, backend) -> Town:
        with backend.client("dispatcher") as c:
            grids = c.get("/api/v1/grids").json()["features"]
            buildings = c.get("/api/v1/buildings", params={"limit": 20000}).json()["features"]
            workers = c.get("/api/v1/grid-workers").json()
            volunteers = c.get("/api/v1/volunteers").json()["features"]
            groups = c.get("/api/v1/categories").json()
            departments = c.get("/api/v1/departments").json()
        return cls(
            grids={f["id"]: shape(f["geometry"]) for f in grids},
            grid_props={f["id"]: f["properties"] for f in grids},
            buildings={f["id"]: shape(f["geometry"]) for f in buildings},
            building_props={f["id"]: f["properties"] for f in buildings},
            workers=workers,
            volunteers=[
                {
                    "id": f["id"],
                    "lonlat": tuple(f["geometry"]["coordinates"]) if f["geometry"] else None,
                    "on_duty": f["properties"]["on_duty"],
                    "skills": f["properties"]["skills"],
                }
                for f in volunteers
            ],
            categories={k["code"]: k for g in groups for k in g["kinds"]},
            departments={d["code"]: d for d in departments},
            streets=street_net(Path(backend.settings.demo_dir)),
        )

    # -- grids and buildings ------------------------------------------------------------------

    def grids_holding(self, lon: float, lat: float) -> set[int]:
        p = Point(lon, lat)
        return {gid for gid, g in self.grids.items() if g.covers(p)}

    def coverage(self) -> BaseGeometry:
        return shapely.union_all(list(self.grids.values()))

    def grid_distances_m(self, lon: float, lat: float) -> dict[int, float]:
        p = metric(lon, lat)
        return {gid: PROJ.to_metric(g).distance(p) for gid, g in self.grids.items()}

    def building_holding(self, lon: float, lat: float) -> set[int]:
        p = Point(lon, lat)
        return {bid for bid, b in self.buildings.items() if b.covers(p)}

    def grid_with_code(self, code: str) -> int:
        return next(gid for gid, p in self.grid_props.items() if p["code"] == code)

    def inner_point(self, grid_id: int, *, away_from_buildings: bool = False, seed: int = 0) -> tuple[float, float]:
        """A point well inside a grid (at least 20 m from its boundary), optionally off every building."""
        g = self.grids[grid_id]
        core = PROJ.to_wgs84(PROJ.to_metric(g).buffer(-20))
        rng = np.random.default_rng(seed + grid_id)
        minx, miny, maxx, maxy = core.bounds
        while True:
            p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if not core.contains(p):
                continue
            if away_from_buildings and self._all_buildings().distance(p) < 0.00006:  # about 6 m
                continue
            return p.x, p.y

    def _all_buildings(self) -> BaseGeometry:
        if self._buildings_union is None:
            self._buildings_union = shapely.union_all(list(self.buildings.values()))
        return self._buildings_union

    def on_duty_worker(self, grid_id: int) -> dict | None:
        """The grid's worker on duty, the lead first (then members by id)."""
        mine = [w for w in self.workers if grid_id in w["grid_ids"] and w["on_duty"]]
        mine.sort(key=lambda w: (w["role"] != "lead", w["id"]))
        return mine[0] if mine else None

    # -- volunteers ---------------------------------------------------------------------------

    def qualifying(self, skill: str, loads: dict[int, int], max_open: int) -> list[dict]:
        """On-duty volunteers with a position, the skill (anyone for general work) and spare capacity."""
        return [
            v
            for v in self.volunteers
            if v["on_duty"]
            and v["lonlat"] is not None
            and (skill == "general" or skill in v["skills"])
            and loads.get(v["id"], 0) < max_open
        ]

    def walking(self, point: tuple[float, float], volunteers: list[dict]) -> dict[int, float]:
        metres = self.streets.walks_from(point, [v["lonlat"] for v in volunteers])
        return {v["id"]: m for v, m in zip(volunteers, metres, strict=True)}

    def straight(self, point: tuple[float, float], volunteers: list[dict]) -> dict[int, float]:
        return {v["id"]: metres_between(point, v["lonlat"]) for v in volunteers}

    def volunteer(self, volunteer_id: int) -> dict:
        return next(v for v in self.volunteers if v["id"] == volunteer_id)
