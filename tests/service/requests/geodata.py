"""Independent geography for the request tests: metric distances, and walking distances on the
demo street network computed with networkx (from the fixture files), so the service's
assignments can be checked against a second, separate computation.

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
from shapely.geometry import LineString, Point, shape
from shapely.strtree import STRtree

from tests.service.helpers import PROJ


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
