"""Coverage and siting on the hand-made network of test_network (answers known exactly)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from shapely.geometry import Point

from geo.circles import CircleStyle, service_areas
from geo.coverage import cover_matrix, covered, greedy_siting, multi_source_node_distances, optimal_siting
from tests.geo.test_network import graph, lonlat  # noqa: F401  (the fixture and helper)


def test_multi_source_distance_is_the_minimum_over_sources(graph):  # noqa: F811
    a = graph.snap(*lonlat(30, -5))  # on AB, 30 m from A, 5 m off
    b = graph.snap(*lonlat(205, 0))  # just past E
    d = multi_source_node_distances(graph, [a, b])
    single = np.minimum(graph.node_distances(a) + a.offset_m, graph.node_distances(b) + b.offset_m)
    assert d == pytest.approx(single)


def test_coverage_counts_the_whole_walk(graph):  # noqa: F811
    station = graph.snap(*lonlat(30, -5))
    homes = [graph.snap(*lonlat(103, 50)), graph.snap(*lonlat(60, 2)), graph.snap(*lonlat(50, 103))]
    # walks: 5+70+50+3 = 128; 5+30+2 = 37 (same edge); 5+30+100+50+3 = 188 via D
    assert covered(graph, [station], homes, 130).tolist() == [True, True, False]
    assert covered(graph, [station], homes, 127).tolist() == [False, True, False]
    assert covered(graph, [station], homes, 190).tolist() == [True, True, True]


def test_circles_nest_and_grow(graph):  # noqa: F811
    station = graph.snap(*lonlat(30, -5))
    small, mid, big = service_areas(graph, station, [60, 120, 240], CircleStyle(corridor_m=10, fill_holes_m2=0))
    assert small.area < mid.area < big.area
    assert small.difference(mid).area < 1e-6 and mid.difference(big).area < 1e-6
    # 60 m from the door (5 m to the street): 55 m either way along AB, nothing on BC yet
    x0, y0 = graph.to_metric_xy(*lonlat(0, 0))
    assert small.contains(Point(x0 + 30 + 50, y0)) and not small.contains(Point(x0 + 100, y0 + 20))
    assert mid.contains(Point(x0 + 100, y0 + 20))


def test_optimal_siting_beats_or_matches_greedy_and_brute_force_agrees():
    rng = np.random.default_rng(3)
    from scipy.sparse import csr_matrix

    for _ in range(20):
        cover = csr_matrix(rng.random((25, 8)) < 0.25)
        weights = rng.integers(1, 50, 25).astype(float)
        k = 3
        best = max(
            weights[np.asarray(cover[:, list(c)].sum(axis=1)).ravel() > 0].sum()
            for c in itertools.combinations(range(8), k)
        )
        exact = optimal_siting(cover, weights, k)
        greedy = greedy_siting(cover, weights, k)
        assert exact.optimal and exact.covered_weight == pytest.approx(best)
        assert greedy.covered_weight <= exact.covered_weight + 1e-9
        assert sum(exact.per_site_weight) == pytest.approx(exact.covered_weight)


def test_cover_matrix_matches_single_source_walks(graph):  # noqa: F811
    homes = [graph.snap(*lonlat(103, 50)), graph.snap(*lonlat(60, 2)), graph.snap(*lonlat(50, 103))]
    m = cover_matrix(graph, list(range(graph.n_nodes)), homes, 120).toarray()
    # node A (index 0): homes at 128-? : A->B->C 200 +50 +3 -> far; A to (60,2): 60+2 = 62 ok; A->D->(50,103): 100+50+3
    assert m[:, 0].tolist() == [False, True, False]
    # node C (index 2): to (103,50): 50+3 = 53; to (60,2): 100+40+2 = 142; to (50,103): 50+3 = 53
    assert m[:, 2].tolist() == [True, False, True]
