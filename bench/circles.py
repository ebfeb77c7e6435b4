"""Service circles on the real Helsinki network: the reachability step and the polygon step, timed
apart, against networkx ``ego_graph`` (what OSMnx does) and against hull polygons.

What it measures
    The walking graph is built from ``fixtures/osm/helsinki_centre_walk.gpkg`` (layers
    ``walk_nodes`` and ``walk_edges``, derived from the same extract ``neighborgrid import-osm``
    reads; © OpenStreetMap contributors, ODbL) exactly as ``service/network/graph.py`` builds it
    (node ids, lon/lat, edges as (u, v, length_m, LineString)). The stations are ``--stations``
    real amenity points of the extract's ``amenities`` layer (seeded sample; the import itself maps
    only 16 of them to station types). Every station gets its 5/10/15-minute circles
    (``minutes * 60 * 1.2 m/s``), as ``geo.circles.service_areas`` builds them:

    * **reachability step**: snap the station onto its street (``WalkGraph.snap_xy``: the memo of
      ``snap`` is bypassed, as for a station seen the first time) and ``WalkGraph.reach`` from the
      snapped foot for each limit (budget = limit - the station's walk to its street);
    * **polygon step**: what ``service_areas`` does with each reach: cut the reached edge parts
      (``reach_geometries``, plus the station's path to its street), ``corridor_polygon`` (30 m
      corridors, unioned, holes < 2 ha filled, simplified) and the union with the smaller circle
      (nesting). The result is checked equal to ``service_areas``' own output for every circle,
      and ``service_areas`` is timed whole once as a cross-check.

    Baseline, same run, station by station (so load drifts hit every method alike): the source
    node is the end of the station's snapped edge nearer to its foot; from it, with the same
    limit, ``nx.ego_graph(G, node, radius=limit, distance="length")`` on an OSMnx-style
    ``MultiDiGraph`` (both directions, attribute ``length``) against ``WalkGraph.reach`` from the
    same node. Proof: for every station and limit the reachable node sets are compared (and must
    be equal), and networkx's distances (``single_source_dijkstra_path_length`` with the same
    cutoff) are compared with ``Reach.node_dist``. The same is checked from the station's foot
    (a virtual node joined to both ends of its edge by the partial lengths).

    Polygon alternatives named in ``geo/circles.py``'s docstring: the concave hull of the reached
    points (all vertices of the reached edge parts and the station's path; ``shapely.concave_hull``
    at each ``--ratios``) and their convex hull, against the stored (corridor) polygon of the same
    circle: time per circle (the cutting of the edge parts is shared and counted for every method),
    area / corridor area, and the symmetric difference / corridor area (the share of the corridor
    area that one polygon has and the other has not).

    The docstring's other claim, buffering the merged reached lines one by one and unioning them
    against one buffer of the whole MultiLineString, is timed once on the circles of the first
    ``--whole-buffer`` stations (the whole buffer takes seconds per circle), with the symmetric
    difference of the two buffers.

    Timings are repeated ``--repeats`` times (stopping early once ``--budget-s`` is spent); totals
    are medians over the passes, per-circle figures medians over the circles of each circle's
    median over the passes. Ratios are computed within each pass, then their median is shown. The
    garbage collector is off inside a station's timings and run between stations (networkx leaves
    much garbage, whose collection would otherwise land on whichever method runs next).

Run
    .venv/bin/python bench/circles.py                          # 120 stations, 3 passes: 5-10 min
    .venv/bin/python bench/circles.py --stations 200 --repeats 5 --ratios 0.1,0.3
    .venv/bin/python bench/circles.py --stations 100 --repeats 1   # quick: 2-4 min

Needs ``networkx`` (test extras). Offline, single process, no database.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pyogrio
import shapely
from _common import ROOT, machine, pct, table
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from geo.circles import CircleStyle, corridor_polygon, minutes_to_metres, service_areas
from geo.network import Reach, Snap, WalkGraph

GPKG = ROOT / "fixtures" / "osm" / "helsinki_centre_walk.gpkg"
MINUTES = (5, 10, 15)
#: Two distances this close to the limit are a tie that float summation order may put on either side.
TIE_M = 1e-9


def read_graph() -> tuple[WalkGraph, list[tuple[float, float]], object]:
    """(graph, edges as lists for networkx, the amenities frame)."""
    nodes = pyogrio.read_dataframe(GPKG, layer="walk_nodes")
    edges = pyogrio.read_dataframe(GPKG, layer="walk_edges")
    amenities = pyogrio.read_dataframe(GPKG, layer="amenities")
    graph = WalkGraph(
        nodes["osm_id"].tolist(),
        nodes[["lon", "lat"]].to_numpy(dtype=float),
        list(zip(edges["u"].tolist(), edges["v"].tolist(), edges["length_m"].tolist(), edges.geometry, strict=True)),
    )
    return (
        graph,
        list(zip(edges["u"].tolist(), edges["v"].tolist(), edges["length_m"].tolist(), strict=True)),
        amenities,
    )


def osmnx_style_graph(edges):
    """A MultiDiGraph with both directions and a ``length`` attribute, as OSMnx builds a walk network."""
    import networkx as nx

    g = nx.MultiDiGraph()
    for u, v, length in edges:
        g.add_edge(u, v, length=float(length))
        g.add_edge(v, u, length=float(length))
    return g


def node_snap(graph: WalkGraph, snap: Snap) -> tuple[int, Snap]:
    """The end of the snapped edge nearer to the foot, as a Snap standing exactly on that node."""
    u, to_u, v, to_v = snap.end_costs(graph)
    node, along = (u, 0.0) if to_u <= to_v else (v, float(graph.edge_len[snap.edge]))
    here = Point(graph.node_xy[node])
    return node, Snap(edge=snap.edge, along_m=along, offset_m=0.0, point=here, origin=here)


def polygon_step(graph: WalkGraph, station: Snap, reaches: list[Reach | None], style: CircleStyle):
    """``service_areas`` after its reaches, stage by stage: (areas, parts per circle, seconds per stage)."""
    areas, parts_of, cut_s, corridor_s, nest_s = [], [], [], [], []
    previous: BaseGeometry = Polygon()
    for reach in reaches:
        t0 = time.perf_counter()
        if reach is None:
            parts: list[BaseGeometry] = []
        else:
            door = [LineString([station.origin, station.point])] if station.offset_m > 0 else []
            parts = [*graph.reach_geometries(reach), *door]
        t1 = time.perf_counter()
        if reach is None:
            area: BaseGeometry = station.origin.buffer(style.corridor_m, quad_segs=style.quad_segs)
        else:
            area = corridor_polygon(graph, parts, style)
        t2 = time.perf_counter()
        if not previous.is_empty:
            area = shapely.union_all([area, previous.buffer(style.nest_margin_m, quad_segs=1)])
        t3 = time.perf_counter()
        areas.append(area)
        parts_of.append(parts)
        previous = area
        cut_s.append(t1 - t0)
        corridor_s.append(t2 - t1)
        nest_s.append(t3 - t2)
    return areas, parts_of, cut_s, corridor_s, nest_s


def buffer_variants(parts: list[BaseGeometry], style: CircleStyle) -> tuple[float, float, float]:
    """The corridor buffer as ``corridor_polygon`` makes it (merged lines, one buffer each, unioned)
    against one buffer of the whole MultiLineString: (seconds, seconds, sym diff / area)."""
    lines = [p for p in parts if not p.is_empty and p.length > 0]
    if not lines:
        return float("nan"), float("nan"), float("nan")
    t0 = time.perf_counter()
    merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(lines)))
    per_line = shapely.union_all(shapely.buffer(merged, style.corridor_m, quad_segs=style.quad_segs))
    t1 = time.perf_counter()
    whole = shapely.buffer(shapely.multilinestrings(lines), style.corridor_m, quad_segs=style.quad_segs)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, per_line.symmetric_difference(whole).area / per_line.area


def nx_reach_from_foot(nx, g, graph: WalkGraph, snap: Snap, limit: float) -> dict:
    """networkx distances from a virtual node at the snapped foot (joined to both ends of its edge)."""
    u, to_u, v, to_v = snap.end_costs(graph)
    foot = ("foot",)
    ids = graph.node_ids
    g.add_edge(foot, ids[u], length=to_u)
    g.add_edge(ids[u], foot, length=to_u)
    g.add_edge(foot, ids[v], length=to_v)
    g.add_edge(ids[v], foot, length=to_v)
    try:
        found = nx.single_source_dijkstra_path_length(g, foot, cutoff=limit, weight="length")
    finally:
        g.remove_node(foot)
    found.pop(foot, None)
    return found


@dataclass
class Pass:
    """Seconds per (station, limit) of one pass, by method."""

    times: dict[str, np.ndarray] = field(default_factory=dict)

    def put(self, method: str, shape: tuple[int, int], i: int, values) -> None:
        self.times.setdefault(method, np.full(shape, np.nan))[i] = values


@dataclass
class Check:
    """Node sets and distances against networkx; ties exactly at the limit are told apart."""

    circles: int = 0
    identical: int = 0  # node sets equal
    tie_only: int = 0  # differ only by nodes within TIE_M of the limit (float summation order)
    ties: list[tuple[float, float]] = field(default_factory=list)  # (WalkGraph, networkx) metres
    foot_circles: int = 0
    foot_identical: int = 0
    foot_tie_only: int = 0
    max_diff_m: float = 0.0
    polygons: int = 0

    def _compare(
        self, graph: WalkGraph, node_dist: np.ndarray, theirs: set, dist: dict, limit: float, full=None
    ) -> int:
        """0 identical, 1 only boundary ties, 2 a real difference. ``full(node id)``, when given, is
        networkx's distance without the cutoff (to show how far past the limit it put a node)."""
        mine = {graph.node_ids[j] for j in np.flatnonzero(np.isfinite(node_dist))}
        if mine == theirs:
            return 0
        for nid in mine ^ theirs:
            ours = float(node_dist[graph.index_of[nid]])
            other = dist.get(nid, np.inf)
            if not np.isfinite(other) and full is not None:
                other = full(nid)
            if not (abs(ours - limit) <= TIE_M or abs(other - limit) <= TIE_M):
                return 2
            self.ties.append((ours, other))
        return 1

    def node_sets(
        self, graph: WalkGraph, node_dist: np.ndarray, ego_nodes: set, dist: dict, limit: float, full=None
    ) -> None:
        self.circles += 1
        if set(dist) != ego_nodes:
            raise AssertionError("ego_graph and single_source_dijkstra_path_length disagree")
        for nid, d in dist.items():
            if np.isfinite(node_dist[graph.index_of[nid]]):
                self.max_diff_m = max(self.max_diff_m, abs(float(node_dist[graph.index_of[nid]]) - d))
        outcome = self._compare(graph, node_dist, ego_nodes, dist, limit, full)
        self.identical += outcome == 0
        self.tie_only += outcome == 1

    def foot_sets(self, graph: WalkGraph, node_dist: np.ndarray, dist: dict, limit: float) -> None:
        self.foot_circles += 1
        outcome = self._compare(graph, node_dist, set(dist), dist, limit)
        self.foot_identical += outcome == 0
        self.foot_tie_only += outcome == 1

    @property
    def ok(self) -> bool:
        return (
            self.identical + self.tie_only == self.circles
            and self.foot_identical + self.foot_tie_only == self.foot_circles
            and self.max_diff_m < 1e-6
        )

    def text(self, n_stations: int) -> str:
        ties = "; ".join(f"{a!r} vs {b!r} m" for a, b in self.ties[:3])
        return (
            f"reachable node sets from the source node identical to ego_graph's for {self.identical}/{self.circles} "
            f"circles, {self.tie_only} more differ only by nodes exactly at the limit (float summation order: "
            f"WalkGraph vs networkx {ties or 'none'}); from the station's foot (virtual node) identical for "
            f"{self.foot_identical}/{self.foot_circles}, {self.foot_tie_only} more only by such ties; "
            f"distances max |diff| {self.max_diff_m:.2g} m; polygon step equal to service_areas for "
            f"{self.polygons}/{n_stations} stations"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=120, help="amenity points used as stations (default 120)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over every station (default 3)")
    parser.add_argument("--budget-s", type=float, default=1500.0, help="start no new pass after this (default 1500)")
    parser.add_argument("--ratios", default="0.05,0.1,0.3,0.5", help="concave hull ratios (default 0.05,0.1,0.3,0.5)")
    parser.add_argument(
        "--whole-buffer",
        type=int,
        default=2,
        help="stations whose circles are also buffered as one MultiLineString, which is slow (default 2)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed for the station sample (default 1)")
    parser.add_argument("--speed", type=float, default=1.2, help="walking speed m/s (default 1.2, the service's)")
    args = parser.parse_args(argv)
    ratios = [float(r) for r in args.ratios.split(",") if r.strip()]
    if args.stations < 1 or args.repeats < 1 or not all(0 <= r <= 1 for r in ratios):
        parser.error("--stations and --repeats must be positive, ratios within [0, 1]")
    import networkx as nx

    started = time.perf_counter()
    print(f"circles on Helsinki: {machine()}")
    t = time.perf_counter()
    graph, nx_edges, amenities = read_graph()
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    g = osmnx_style_graph(nx_edges)
    nx_build_s = time.perf_counter() - t
    n_st = min(args.stations, len(amenities))
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(amenities), size=n_st, replace=False))
    points = [(float(p.x), float(p.y)) for p in amenities.geometry.iloc[pick]]
    limits = [minutes_to_metres(m, args.speed) for m in MINUTES]
    style = CircleStyle()
    shape_ = (n_st, len(limits))
    print(
        f"graph {graph.n_nodes:,} nodes, {graph.n_edges:,} edges ({graph.edge_len.sum() / 1000:.1f} km), built in "
        f"{build_s:.2f} s with the read (networkx MultiDiGraph {nx_build_s:.2f} s); {n_st} stations at amenity points "
        f"(seed {args.seed}); limits "
        + ", ".join(f"{m} min = {lim:.0f} m" for m, lim in zip(MINUTES, limits, strict=True))
    )

    # -- timed passes; the first also checks (untimed) against networkx and service_areas ------------
    hull_names = [f"concave hull, ratio {r:g}" for r in ratios] + ["convex hull"]
    passes: list[Pass] = []
    metrics: dict[str, np.ndarray] = {}  # per method, (station, limit, [area ratio, sym diff, extra, missed])
    check = Check()
    reached_nodes = np.zeros(shape_, dtype=int)
    service_s = np.zeros(n_st)
    buffers = np.full((*shape_, 3), np.nan)  # (per-line buffers + union s, one whole buffer s, sym diff)
    for rep in range(args.repeats):
        if rep and time.perf_counter() - started > args.budget_s:
            print(f"  budget of {args.budget_s:.0f} s spent: stopping after {rep} passes")
            break
        first = rep == 0
        p = Pass()
        for i, (lon, lat) in enumerate(points):
            # networkx leaves much garbage: collect it here, untimed, so no method pays for another's
            gc.enable()
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            snap = graph.snap_xy(*graph.to_metric_xy(lon, lat))
            p.put("snap", shape_, i, time.perf_counter() - t0)
            reaches, reach_s = [], []
            for limit in limits:
                t = time.perf_counter()
                reaches.append(graph.reach(snap, limit - snap.offset_m) if limit > snap.offset_m else None)
                reach_s.append(time.perf_counter() - t)
            p.put("reach from the foot", shape_, i, reach_s)
            node, at_node = node_snap(graph, snap)
            source = graph.node_ids[node]
            node_reach, node_dij, ego, nx_dij = [], [], [], []
            for k, limit in enumerate(limits):
                t = time.perf_counter()
                ours = graph.reach(at_node, limit)
                node_reach.append(time.perf_counter() - t)
                t = time.perf_counter()
                graph.node_distances(at_node, limit_m=limit)
                node_dij.append(time.perf_counter() - t)
                t = time.perf_counter()
                sub = nx.ego_graph(g, source, radius=limit, distance="length")
                ego.append(time.perf_counter() - t)
                t = time.perf_counter()
                dist = nx.single_source_dijkstra_path_length(g, source, cutoff=limit, weight="length")
                nx_dij.append(time.perf_counter() - t)
                if first:
                    reached_nodes[i, k] = int(np.isfinite(ours.node_dist).sum())
                    check.node_sets(
                        graph,
                        ours.node_dist,
                        set(sub.nodes),
                        dist,
                        limit,
                        lambda nid, source=source: nx.dijkstra_path_length(g, source, nid, weight="length"),
                    )
                    if reaches[k] is not None:
                        foot = nx_reach_from_foot(nx, g, graph, snap, reaches[k].limit_m)
                        check.foot_sets(graph, reaches[k].node_dist, foot, reaches[k].limit_m)
            p.put("reach from the node", shape_, i, node_reach)
            p.put("node_distances from the node", shape_, i, node_dij)
            p.put("ego_graph from the node", shape_, i, ego)
            p.put("nx dijkstra from the node", shape_, i, nx_dij)

            areas, parts_of, cut_s, corridor_s, nest_s = polygon_step(graph, snap, reaches, style)
            p.put("cut edge parts", shape_, i, cut_s)
            p.put("corridor_polygon", shape_, i, corridor_s)
            p.put("nesting union", shape_, i, nest_s)
            if first:
                t = time.perf_counter()
                expected = service_areas(graph, snap, limits, style)
                service_s[i] = time.perf_counter() - t
                check.polygons += all(
                    shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=0)
                    for a, b in zip(areas, expected, strict=True)
                )
            for k, parts in enumerate(parts_of):
                if first and i < args.whole_buffer:
                    buffers[i, k] = buffer_variants(parts, style)
            for k, (area, parts) in enumerate(zip(areas, parts_of, strict=True)):
                for name, ratio in zip(hull_names, [*ratios, None], strict=True):
                    t = time.perf_counter()
                    cloud = shapely.multipoints(shapely.get_coordinates(parts)) if parts else snap.origin
                    hull = shapely.concave_hull(cloud, ratio=ratio) if ratio is not None else cloud.convex_hull
                    p.times.setdefault(name, np.full(shape_, np.nan))[i, k] = time.perf_counter() - t
                    if first:
                        a = area.area
                        values = [
                            hull.area / a,
                            hull.symmetric_difference(area).area / a,
                            hull.difference(area).area / a,
                            area.difference(hull).area / a,
                        ]
                        metrics.setdefault(name, np.full((*shape_, 4), np.nan))[i, k] = values
        gc.enable()
        passes.append(p)
        total = {m: float(np.nansum(v)) for m, v in p.times.items()}
        print(
            f"  pass {rep + 1}: reachability {total['snap'] + total['reach from the foot']:.2f} s, polygons "
            f"{total['cut edge parts'] + total['corridor_polygon'] + total['nesting union']:.2f} s, ego_graph "
            f"{total['ego_graph from the node']:.2f} s; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
    print("checks (first pass): " + check.text(n_st))

    # -- report ---------------------------------------------------------------------------------------
    def pass_total(method: str, p: Pass) -> float:
        return float(np.nansum(p.times[method]))

    def med_total(*methods: str) -> float:
        return statistics.median(sum(pass_total(m, p) for m in methods) for p in passes)

    def med_ratio(num: tuple[str, ...], den: tuple[str, ...]) -> float:
        return statistics.median(
            sum(pass_total(m, p) for m in num) / sum(pass_total(m, p) for m in den) for p in passes
        )

    def per_circle_ms(method: str, k: int | None = None) -> float:
        stacked = np.nanmedian(np.stack([p.times[method] for p in passes]), axis=0)  # median over passes
        values = stacked[:, k] if k is not None else stacked.ravel()
        return pct(values, 50) * 1000

    n_circles = n_st * len(limits)
    reach_rows = []
    base = ("reach from the node",)
    for name, methods in [
        ("snap the station (once per station)", ("snap",)),
        ("WalkGraph.reach from the station's foot (service)", ("reach from the foot",)),
        ("reachability step = snap + reach", ("snap", "reach from the foot")),
        ("WalkGraph.reach from the source node", base),
        ("  of which node_distances (scipy dijkstra)", ("node_distances from the node",)),
        ("nx.ego_graph from the source node (OSMnx)", ("ego_graph from the node",)),
        ("  nx single_source_dijkstra (cutoff) alone", ("nx dijkstra from the node",)),
    ]:
        per = [
            per_circle_ms(methods[0], k) if len(methods) == 1 and methods[0] != "snap" else float("nan")
            for k in range(len(limits))
        ]
        reach_rows.append((name, *per, med_total(*methods), med_ratio(methods, base)))
    print(f"\nreachability, {n_st} stations x {len(limits)} limits = {n_circles} circles, {len(passes)} passes")
    print(table(reach_rows, ("", *(f"{m} min ms" for m in MINUTES), "s / pass", "x reach from node")))
    print(
        "  reached nodes per circle (median): "
        + ", ".join(f"{m} min {int(np.median(reached_nodes[:, k])):,}" for k, m in enumerate(MINUTES))
        + f" of {graph.n_nodes:,}"
    )

    poly = ("cut edge parts", "corridor_polygon", "nesting union")
    poly_rows = [
        (
            "cut reached edge parts (shared)",
            per_circle_ms("cut edge parts"),
            med_total("cut edge parts"),
            float("nan"),
            *[float("nan")] * 4,
        ),
        (
            "corridor_polygon",
            per_circle_ms("corridor_polygon"),
            med_total("corridor_polygon"),
            float("nan"),
            *[float("nan")] * 4,
        ),
        (
            "nesting union",
            per_circle_ms("nesting union"),
            med_total("nesting union"),
            float("nan"),
            *[float("nan")] * 4,
        ),
        ("polygon step (corridors, stored)", float("nan"), med_total(*poly), 1.0, 1.0, 0.0, 0.0, 0.0),
    ]
    for name in hull_names:
        m = metrics[name]
        poly_rows.append(
            (
                f"{name} (+ cut)",
                per_circle_ms(name),
                med_total("cut edge parts", name),
                med_ratio(poly, ("cut edge parts", name)),
                pct(m[..., 0], 50),
                pct(m[..., 1], 50),
                pct(m[..., 2], 50),
                pct(m[..., 3], 50),
            )
        )
    print(f"\npolygons ({n_circles} circles; area figures are medians over the circles, relative to the corridor)")
    print(
        table(
            poly_rows,
            ("", "ms / circle", "s / pass", "x faster than step", "area ratio", "sym diff", "extra", "missed"),
        )
    )
    print("  sym diff by limit (median):")
    for name in hull_names:
        m = metrics[name]
        print(
            f"    {name:<26} "
            + ", ".join(
                f"{mm} min {pct(m[:, k, 1], 50):.0%} (p90 {pct(m[:, k, 1], 90):.0%})" for k, mm in enumerate(MINUTES)
            )
        )
    if np.isfinite(buffers[..., 0]).any():
        print(
            f"  corridor buffer ({int(np.isfinite(buffers[..., 0]).sum())} circles of the first {args.whole_buffer} "
            "stations, once): merged lines buffered one by one and unioned (corridor_polygon) "
            f"{np.nansum(buffers[..., 0]):.2f} s, one buffer of the whole MultiLineString "
            f"{np.nansum(buffers[..., 1]):.2f} s "
            f"({np.nansum(buffers[..., 1]) / np.nansum(buffers[..., 0]):.1f}x the time); sym diff / area median "
            f"{np.nanmedian(buffers[..., 2]):.1e}, max {np.nanmax(buffers[..., 2]):.1e}"
        )
    print(
        f"  service_areas whole (check pass, once): {service_s.sum():.2f} s for {n_st} stations "
        f"(reach + polygon step of the same pass {med_total('reach from the foot', *poly):.2f} s median)"
    )

    ok = check.ok and check.polygons == n_st
    dij = ("node_distances from the node",)
    reach_total = med_total("snap", "reach from the foot")
    poly_total = med_total(*poly)
    best = min(ratios, key=lambda r: pct(metrics[f"concave hull, ratio {r:g}"][..., 1], 50)) if ratios else None
    best_text = ""
    if best is not None:
        name = f"concave hull, ratio {best:g}"
        best_text = (
            f"; best concave hull (ratio {best:g}) {med_ratio(poly, ('cut edge parts', name)):.1f}x faster than the "
            f"polygon step, sym diff {pct(metrics[name][..., 1], 50):.0%}; convex hull "
            f"{med_ratio(poly, ('cut edge parts', 'convex hull')):.1f}x, sym diff "
            f"{pct(metrics['convex hull'][..., 1], 50):.0%}"
        )
    print(f"\n({machine()}; total {time.perf_counter() - started:.0f} s)")
    print(
        f"SUMMARY circles: {n_st} stations x {len(limits)} limits on Helsinki ({graph.n_nodes:,} nodes): "
        f"reachability {reach_total:.2f} s ({reach_total / n_circles * 1000:.1f} ms/circle), polygons "
        f"{poly_total:.2f} s ({poly_total / n_circles * 1000:.0f} ms/circle); ego_graph "
        f"{med_ratio(('ego_graph from the node',), base):.1f}x the time of WalkGraph.reach from the same node "
        f"(against scipy's Dijkstra alone: ego_graph {med_ratio(('ego_graph from the node',), dij):.0f}x, "
        f"nx single_source_dijkstra {med_ratio(('nx dijkstra from the node',), dij):.1f}x), "
        f"node sets {'identical' if check.ok else 'DIFFERENT'} ({check.identical}/{check.circles}"
        f"{f', {check.tie_only} by a float tie at the limit' if check.tie_only else ''})"
        f"{best_text}; {'checks pass' if ok else 'CHECKS FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
