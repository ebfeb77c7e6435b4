"""Nearest volunteer by walking distance: per-request latency, re-ranking cost, and what it changes.

What it measures
    The walking graph is built from ``fixtures/demo/street_nodes.geojson`` and
    ``street_edges.geojson`` exactly as ``service/network/graph.py`` builds it from the street
    tables (nodes in id order, edges as (u, v, length_m, LineString)), and ALL demo volunteers
    (120) are set on duty at their demo positions. For N random request points (seeded, uniform
    inside the demo township) it times ``service.requests.assignment.rank_volunteers`` — what
    intake runs after selecting the available volunteers: snap the request and every volunteer
    onto the street network, one Dijkstra, walk lengths, sort.

    * latency per request: p50 / p95 / p99 / max in ms, and a breakdown of one call's stages;
    * baselines for the same queries: the service's straight-line ranking
      (``rank_volunteers`` without a graph), and the same walking ranking with networkx
      ``single_source_dijkstra_path_length`` (from a virtual node at the snapped foot) instead
      of scipy's ``dijkstra``; their distances must agree with ``WalkGraph`` to 1 mm;
    * the one-off cost: reading the GeoJSON and building ``WalkGraph`` (median of 5 builds);
    * availability changes: ``--rounds`` rounds in each of which 10 % of the volunteers toggle
      on/off duty and another 10 % move to a new random point in the township, then all N
      requests are re-ranked: time per re-rank and how many requests get a different volunteer.
      Nothing is cached between calls except the graph (volunteers are not part of it), so a
      change costs exactly one fresh ranking per open request;
    * how often the straight-line nearest volunteer is not the walking-nearest, and how much
      farther the straight-line choice would have to walk.

Run
    .venv/bin/python bench/nearest_volunteer.py                  # 500 requests, seed 1, 5 rounds
    .venv/bin/python bench/nearest_volunteer.py --requests 2000 --seed 7

Extra dependency for the networkx baseline: ``.venv/bin/pip install networkx`` (the row is
skipped if it is missing). Offline, single process, no database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from _common import features, machine, pct, points_in, table, township
from geoalchemy2.shape import from_shape
from shapely.geometry import LineString, Point, shape

import service.models  # noqa: F401  (configures every mapper, so a Volunteer can be built)
from geo.network import WalkGraph
from service.config import Settings
from service.requests.assignment import rank_volunteers
from service.volunteers.models import Volunteer


def read_network() -> tuple[list[str], np.ndarray, list[tuple[str, str, float, LineString]]]:
    nodes = features("street_nodes.geojson")
    ids = [f["properties"]["key"] for f in nodes]
    coords = np.array([f["geometry"]["coordinates"] for f in nodes], dtype=float)
    edges = [
        (f["properties"]["u"], f["properties"]["v"], float(f["properties"]["length_m"]), shape(f["geometry"]))
        for f in features("street_edges.geojson")
    ]
    return ids, coords, edges


def demo_volunteers() -> list[Volunteer]:
    out = []
    for i, f in enumerate(features("volunteers.geojson"), start=1):
        p = f["properties"]
        out.append(
            Volunteer(
                id=i,
                ref=p["key"],
                name_zh=p["name_zh"],
                skills=list(p.get("skills", [])),
                on_duty=True,
                position=from_shape(shape(f["geometry"]), srid=4326),
            )
        )
    return out


class NetworkxRanker:
    """The walking ranking of ``WalkGraph.distances_to`` with networkx doing the shortest paths."""

    def __init__(self, graph: WalkGraph) -> None:
        import networkx as nx

        self.nx = nx
        self.graph = graph
        g = nx.Graph()
        g.add_nodes_from(range(graph.n_nodes))
        for u, v, w in zip(graph.edge_u.tolist(), graph.edge_v.tolist(), graph.edge_len.tolist(), strict=True):
            if not g.has_edge(u, v) or g[u][v]["weight"] > w:  # parallel edges: keep the shortest
                g.add_edge(u, v, weight=w)
        self.g = g

    def node_distances(self, snap) -> np.ndarray:
        u, to_u, v, to_v = snap.end_costs(self.graph)
        source = -1
        self.g.add_edge(source, u, weight=to_u)
        if u != v:
            self.g.add_edge(source, v, weight=to_v)
        elif to_v < to_u:
            self.g[source][u]["weight"] = to_v
        try:
            found = self.nx.single_source_dijkstra_path_length(self.g, source, weight="weight")
        finally:
            self.g.remove_node(source)
        dist = np.full(self.graph.n_nodes, np.inf)
        for node, d in found.items():
            if node >= 0:
                dist[node] = d
        return dist

    def rank(self, lon: float, lat: float, volunteers: list[Volunteer]) -> list[tuple[float, int]]:
        from geoalchemy2.shape import to_shape

        graph = self.graph
        positions = [to_shape(v.position) for v in volunteers]
        source = graph.snap(lon, lat)
        snaps = graph.snap_many([p.x for p in positions], [p.y for p in positions])
        node_dist = self.node_distances(source)
        ranked = []
        for vol, t in zip(volunteers, snaps, strict=True):
            u, to_u, v, to_v = t.end_costs(graph)
            network = min(node_dist[u] + to_u, node_dist[v] + to_v)
            if t.edge == source.edge:
                network = min(network, abs(t.along_m - source.along_m))
            ranked.append((float(source.offset_m + network + t.offset_m), vol.id))
        ranked.sort()
        return ranked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="random request points (default 500)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--rounds", type=int, default=5, help="availability-change rounds (default 5)")
    parser.add_argument("--change", type=float, default=0.10, help="share toggled and share moved per round (0.10)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.rounds < 0 or not 0 <= args.change <= 0.5:
        parser.error("--requests must be positive, --rounds >= 0 and 0 <= --change <= 0.5")

    settings = Settings()
    max_snap_m = settings.max_snap_distance_m
    rng = np.random.default_rng(args.seed)
    town = township()

    # -- one-off: reading and building the graph -----------------------------------------------
    t = time.perf_counter()
    ids, coords, edges = read_network()
    read_s = time.perf_counter() - t
    builds = []
    for _ in range(5):
        t = time.perf_counter()
        graph = WalkGraph(ids, coords, edges)
        builds.append(time.perf_counter() - t)
    build_s = statistics.median(builds)

    volunteers = demo_volunteers()
    requests = points_in(town, args.requests, rng)

    def rank(lon: float, lat: float, available: list[Volunteer], g: WalkGraph | None = graph):
        return rank_volunteers(g, lon=float(lon), lat=float(lat), volunteers=available, max_snap_m=max_snap_m)

    try:
        t = time.perf_counter()
        nxr = NetworkxRanker(graph)
        nx_build_s = time.perf_counter() - t
    except ImportError:
        nxr, nx_build_s = None, float("nan")

    for lon, lat in requests[:10]:  # warm-up (imports, caches)
        rank(lon, lat, volunteers)
        rank(lon, lat, volunteers, None)
        if nxr is not None:
            nxr.rank(float(lon), float(lat), volunteers)

    # -- latency: the methods take turns on chunks of 50 requests, so that drifts in the machine's
    # load hit all of them alike, while each method's own garbage is collected in its own turn.
    walk_ms, walk_rank, line_ms, line_rank = [], [], [], []
    nx_ms: list[float] = []
    sp_scipy_ms: list[float] = []
    sp_nx_ms: list[float] = []
    max_diff_m = float("nan") if nxr is None else 0.0
    for lo in range(0, len(requests), 50):
        chunk = requests[lo : lo + 50]
        for lon, lat in chunk:
            t = time.perf_counter()
            ranked = rank(lon, lat, volunteers)
            walk_ms.append((time.perf_counter() - t) * 1000)
            walk_rank.append(ranked)
        for lon, lat in chunk:
            t = time.perf_counter()
            straight = rank(lon, lat, volunteers, None)
            line_ms.append((time.perf_counter() - t) * 1000)
            line_rank.append(straight)
        if nxr is None:
            continue
        for k, (lon, lat) in enumerate(chunk):
            t = time.perf_counter()
            nx_ranked = nxr.rank(float(lon), float(lat), volunteers)
            nx_ms.append((time.perf_counter() - t) * 1000)
            ours = {r.volunteer.id: r.walk_m for r in walk_rank[lo + k]}
            max_diff_m = max(max_diff_m, max(abs(ours[vid] - d) for d, vid in nx_ranked))
        sources = [graph.snap(float(lon), float(lat)) for lon, lat in chunk]
        for source in sources:
            t = time.perf_counter()
            graph.node_distances(source)
            sp_scipy_ms.append((time.perf_counter() - t) * 1000)
        for source in sources:
            t = time.perf_counter()
            nxr.node_distances(source)
            sp_nx_ms.append((time.perf_counter() - t) * 1000)
    methods = {r.method for ranked in walk_rank for r in ranked}

    # -- stages of one walking ranking -----------------------------------------------------------
    from geoalchemy2.shape import to_shape

    stage_ms = {"decode positions (to_shape)": [], "snap request": [], "snap volunteers": [], "dijkstra + walks": []}
    for lon, lat in requests:
        t0 = time.perf_counter()
        positions = [to_shape(v.position) for v in volunteers]
        t1 = time.perf_counter()
        source = graph.snap(float(lon), float(lat))
        t2 = time.perf_counter()
        snaps = graph.snap_many([p.x for p in positions], [p.y for p in positions])
        t3 = time.perf_counter()
        graph.distances_to(source, snaps)
        t4 = time.perf_counter()
        for key, a, b in zip(stage_ms, (t0, t1, t2, t3), (t1, t2, t3, t4), strict=True):
            stage_ms[key].append((b - a) * 1000)

    # -- straight-line choice against walking choice ---------------------------------------------
    differ, extra, extra_differ, rel_extra = 0, [], [], []
    for ranked, straight in zip(walk_rank, line_rank, strict=True):
        walk_of = {r.volunteer.id: r.walk_m for r in ranked}
        best = ranked[0]
        straight_pick = straight[0].volunteer.id
        more = walk_of[straight_pick] - best.walk_m
        extra.append(more)
        if straight_pick != best.volunteer.id:
            differ += 1
            extra_differ.append(more)
            rel_extra.append(more / best.walk_m if best.walk_m > 0 else 0.0)

    # -- availability changes ------------------------------------------------------------------
    rerank_ms: list[float] = []
    changed_best = []
    current = walk_rank
    k = round(args.change * len(volunteers))
    for _ in range(args.rounds):
        chosen = rng.choice(len(volunteers), size=2 * k, replace=False)
        for i in chosen[:k]:
            volunteers[i].on_duty = not volunteers[i].on_duty
        for i, (lon, lat) in zip(chosen[k:], points_in(town, k, rng), strict=True):
            volunteers[i].position = from_shape(Point(lon, lat), srid=4326)
        available = [v for v in volunteers if v.on_duty]
        after = []
        for lon, lat in requests:
            t = time.perf_counter()
            ranked = rank(lon, lat, available)
            rerank_ms.append((time.perf_counter() - t) * 1000)
            after.append(ranked)
        changed_best.append(
            sum(a[0].volunteer.id != b[0].volunteer.id for a, b in zip(after, current, strict=True)) / len(requests)
        )
        current = after

    # -- report -----------------------------------------------------------------------------------
    n = args.requests
    p50 = pct(walk_ms, 50)
    print(
        f"nearest volunteer by walking: {n:,} requests in the township, seed {args.seed}, "
        f"{len(volunteers)} volunteers all on duty"
    )
    print(
        f"({machine()}; graph {graph.n_nodes} nodes, {graph.n_edges} edges; "
        f"ranking methods used: {', '.join(sorted(methods))})\n"
    )

    def row(name, ms, base=p50):
        return (name, pct(ms, 50), pct(ms, 95), pct(ms, 99), max(ms) if ms else float("nan"), pct(ms, 50) / base)

    rows = [
        row("rank_volunteers, walking (WalkGraph, scipy)", walk_ms),
        row("  same, networkx dijkstra (baseline)", nx_ms),
        row("rank_volunteers, straight line (baseline)", line_ms),
        row(f"re-rank after a change ({args.rounds} rounds)", rerank_ms),
        row("shortest paths only: WalkGraph.node_distances", sp_scipy_ms),
        row("shortest paths only: networkx", sp_nx_ms),
    ]
    print(table(rows, ("per request", "p50 ms", "p95 ms", "p99 ms", "max ms", "p50 / walking p50")))
    print(
        "\nstages of one walking ranking (median ms):  "
        + ",  ".join(f"{k} {pct(v, 50):.2f}" for k, v in stage_ms.items())
    )
    print(
        f"one-off: read GeoJSON {read_s * 1000:.0f} ms, build WalkGraph {build_s * 1000:.0f} ms (median of 5); "
        f"networkx graph {nx_build_s * 1000:.0f} ms"
    )
    if nxr is not None:
        print(
            f"check: networkx and WalkGraph walk lengths, {n:,} x {len(volunteers)}: max difference {max_diff_m:.2g} m"
        )
    else:
        print("networkx not installed: baseline skipped (pip install networkx)")
    if rerank_ms:
        print(
            f"availability: each round toggles {k} volunteers on/off duty and moves {k} others; re-ranking all "
            f"{n:,} requests takes {sum(rerank_ms) / args.rounds / 1000:.2f} s per round; the chosen volunteer "
            f"changed for {statistics.mean(changed_best):.0%} of requests per round (mean)"
        )
    mean_extra = statistics.mean(extra)
    print(
        f"straight line vs walking: the straight-line nearest is not the walking-nearest for {differ} of {n:,} "
        f"requests ({differ / n:.1%}); choosing it costs {mean_extra:.0f} m more walking on average over all "
        f"requests, {statistics.mean(extra_differ) if extra_differ else 0:.0f} m (median "
        f"{pct(extra_differ, 50):.0f} m, +{pct(rel_extra, 50):.0%}) where they differ, at most {max(extra):.0f} m"
    )
    ok = nxr is None or max_diff_m <= 1e-3
    nx_ratio = pct(nx_ms, 50) / p50 if nx_ms else float("nan")
    sp_ratio = pct(sp_nx_ms, 50) / pct(sp_scipy_ms, 50) if sp_nx_ms else float("nan")
    print(
        f"\nSUMMARY nearest_volunteer: walking ranking of {len(volunteers)} volunteers p50 {p50:.2f} ms, "
        f"p99 {pct(walk_ms, 99):.2f} ms (with networkx {nx_ratio:.2g}x the time, its shortest paths alone "
        f"{sp_ratio:.2g}x scipy's; straight line {pct(line_ms, 50) / p50:.2g}x); "
        f"straight-line pick differs for {differ / n:.0%} of requests (+{mean_extra:.0f} m mean); "
        f"{'distances agree' if ok else 'DISTANCES DISAGREE'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
