"""WalkGraph on a hand-made network whose answers are known exactly.

        D (0,100) ─────── C (100,100)
        │                 │
        │                 │
        A (0,0) ───────── B (100,0) ───── E (200,0)

All edges are 100 m. The source point S is at (30, -5): 5 m south of edge AB, 30 m from A.
"""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import LineString

from geo.crs import LocalProjection
from geo.network import WalkGraph

PROJ = LocalProjection.for_lonlat(117.755, 24.622)
ORIGIN = PROJ.forward(117.755, 24.622)
NODES = {"A": (0, 0), "B": (100, 0), "C": (100, 100), "D": (0, 100), "E": (200, 0)}
EDGES = [("A", "B"), ("B", "C"), ("C", "D"), ("D", "A"), ("B", "E")]


def lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = PROJ.inverse(ORIGIN[0] + x, ORIGIN[1] + y)
    return float(lon), float(lat)


@pytest.fixture(scope="module")
def graph() -> WalkGraph:
    ids = list(NODES)
    coords = np.array([lonlat(*NODES[n]) for n in ids])
    edges = [(u, v, 100.0, LineString([lonlat(*NODES[u]), lonlat(*NODES[v])])) for u, v in EDGES]
    return WalkGraph(ids, coords, edges, projection=PROJ)


def edge_index(u: str, v: str) -> int:
    return EDGES.index((u, v))


def test_snap_lands_on_the_edge_not_the_nearest_node(graph):
    s = graph.snap(*lonlat(30, -5))
    assert s.edge == edge_index("A", "B")
    assert s.along_m == pytest.approx(30, abs=1e-6)
    assert s.offset_m == pytest.approx(5, abs=1e-6)


def test_node_distances_leave_by_both_ends(graph):
    s = graph.snap(*lonlat(30, -5))
    d = dict(zip(graph.node_ids, graph.node_distances(s), strict=True))
    assert d == pytest.approx({"A": 30, "B": 70, "C": 170, "D": 130, "E": 170}, abs=1e-6)


def test_walk_includes_both_perpendiculars_and_same_edge_shortcut(graph):
    s = graph.snap(*lonlat(30, -5))
    targets = [graph.snap(*lonlat(103, 50)), graph.snap(*lonlat(60, 2))]
    walk = graph.distances_to(s, targets)
    assert walk == pytest.approx([5 + 70 + 50 + 3, 5 + 30 + 2], abs=1e-6)
    assert graph.distances_to(s, targets, limit_m=100)[0] == np.inf


def reached(graph, limit):
    return {
        (EDGES[e], round(a, 6), round(b, 6)) for e, a, b in graph.reach(graph.snap(*lonlat(30, -5)), limit).segments
    }


def test_partial_edges_count_from_each_end(graph):
    # 100 m from S: all of AB, 70 m of DA from A, 30 m of BC and of BE from B; nothing of CD.
    assert reached(graph, 100) == {
        (("A", "B"), 0, 100),
        (("D", "A"), 30, 100),
        (("B", "C"), 0, 30),
        (("B", "E"), 0, 30),
    }
    assert graph.reached_length(graph.reach(graph.snap(*lonlat(30, -5)), 100)) == pytest.approx(230)


def test_an_edge_reached_from_both_ends_keeps_both_parts(graph):
    # 190 m: C is at 170 (20 m left), D at 130 (60 m left): CD has 0-20 and 40-100.
    segments = reached(graph, 190)
    assert (("C", "D"), 0, 20) in segments and (("C", "D"), 40, 100) in segments
    assert graph.reached_length(graph.reach(graph.snap(*lonlat(30, -5)), 190)) == pytest.approx(480)


def test_when_both_ends_cover_the_edge_it_is_whole(graph):
    segments = reached(graph, 200)
    assert (("C", "D"), 0, 100) in segments
    assert graph.reached_length(graph.reach(graph.snap(*lonlat(30, -5)), 200)) == pytest.approx(500)


def test_reach_on_the_source_edge_alone(graph):
    assert reached(graph, 10) == {(("A", "B"), 20, 40)}


def test_route_follows_the_streets(graph):
    s, t = graph.snap(*lonlat(30, -5)), graph.snap(*lonlat(103, 50))
    route = graph.route(s, t)
    assert route.length == pytest.approx(5 + 70 + 50 + 3, abs=1e-6)
    same_edge = graph.route(s, graph.snap(*lonlat(60, 2)))
    assert same_edge.length == pytest.approx(37, abs=1e-6)


def test_parallel_edges_use_the_shortest(graph):
    ids = ["P", "Q"]
    coords = np.array([lonlat(0, 0), lonlat(50, 0)])
    line = LineString([lonlat(0, 0), lonlat(50, 0)])
    g = WalkGraph(ids, coords, [("P", "Q", 80.0, line), ("Q", "P", 50.0, line)], projection=PROJ)
    s = g.snap(*lonlat(0, 1))
    assert g.node_distances(s)[1] == pytest.approx(50, abs=1e-6)
    assert g.components()[0] == 1
