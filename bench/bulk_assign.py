"""Bulk grid assignment: points per second of ``PolygonIndex.locate_many`` against a naive loop.

What it measures
    N random points (seeded, uniform over the demo township's bounding box widened by
    ``--margin-m`` metres on every side, so some fall outside every grid, some within the 200 m
    outside-coverage reach and some beyond it) are assigned to the 25 demo grids read from
    ``fixtures/demo/grids.geojson``:

    * ``PolygonIndex.locate_many`` (STRtree, one vectorised query, single-point rules only for
      boundary and outside points) on all N points (median of ``--repeat`` runs, default one);
    * the naive baseline: a Python loop over the grids calling ``polygon.contains(Point)`` for
      each point (first hit wins; unprepared geometries, as a straightforward implementation
      would do), run on a subsample of ``--naive-points`` points and extrapolated to N;
    * ``PolygonIndex.locate`` called once per point on the same subsample (the per-point API);
    * where the time goes: locate_many and the naive loop on the subsample's points inside a grid
      and outside every grid, separately (points outside go through locate_many's per-point path).

    Correctness: on the subsample, every point strictly inside one grid (contained by exactly one
    grid and more than 1 cm from every grid boundary) must get the same grid from
    ``locate_many`` and from the naive loop; and ``locate_many`` must equal ``locate`` on every
    subsample point, boundary and outside points included.

Run
    .venv/bin/python bench/bulk_assign.py                       # 1,000,000 points, seed 1
    .venv/bin/python bench/bulk_assign.py --points 200000 --seed 7

Offline, single process, no database. Exit status 1 when a correctness check fails.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import numpy as np
import shapely
from _common import features, machine, table
from shapely.geometry import Point, shape

from geo.crs import metres_to_degrees
from geo.locate import PolygonIndex


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points to assign (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--naive-points", type=int, default=20_000, help="subsample for the baselines (20,000)")
    parser.add_argument("--margin-m", type=float, default=50.0, help="metres added around the bbox (50)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of locate_many on all points (default 1)")
    parser.add_argument("--max-distance-m", type=float, default=200.0, help="outside-coverage reach (200)")
    args = parser.parse_args(argv)
    if args.points < 1 or args.naive_points < 1 or args.repeat < 1:
        parser.error("--points, --naive-points and --repeat must be positive")
    args.naive_points = min(args.naive_points, args.points)

    grids = features("grids.geojson")
    keys = [f["properties"]["key"] for f in grids]

    t = time.perf_counter()
    index = PolygonIndex(keys, [shape(f["geometry"]) for f in grids])
    build_s = time.perf_counter() - t
    # The baseline gets its own, unprepared copies (PolygonIndex prepares the geometries it is given).
    naive_polys = [shape(f["geometry"]) for f in grids]

    minx, miny, maxx, maxy = shapely.total_bounds(index.geoms)
    lat0 = 0.5 * (miny + maxy)
    dlat = args.margin_m / 111_320.0
    dlon = args.margin_m / (111_320.0 * math.cos(math.radians(lat0)))
    rng = np.random.default_rng(args.seed)
    lons = rng.uniform(minx - dlon, maxx + dlon, args.points)
    lats = rng.uniform(miny - dlat, maxy + dlat, args.points)

    # -- locate_many on everything ---------------------------------------------------------
    runs = []
    result = None
    for _ in range(args.repeat):
        t = time.perf_counter()
        result = index.locate_many(lons, lats, max_distance_m=args.max_distance_m)
        runs.append(time.perf_counter() - t)
    assert result is not None
    median_s = statistics.median(runs)

    coverage = shapely.union_all(index.geoms)
    shapely.prepare(coverage)
    inside_any = shapely.contains_xy(coverage, lons, lats)
    n_inside = int(inside_any.sum())
    n_outside_near = int(((result >= 0) & ~inside_any).sum())
    n_none = int((result < 0).sum())

    # -- baselines on the subsample ----------------------------------------------------------
    m = args.naive_points
    sub_lons, sub_lats = lons[:m], lats[:m]
    t = time.perf_counter()
    naive = np.full(m, -1, dtype=np.int64)
    for i in range(m):
        p = Point(sub_lons[i], sub_lats[i])
        for j, poly in enumerate(naive_polys):
            if poly.contains(p):
                naive[i] = j
                break
    naive_s = time.perf_counter() - t

    t = time.perf_counter()
    index_of = {k: i for i, k in enumerate(keys)}
    single = np.full(m, -1, dtype=np.int64)
    for i in range(m):
        found = index.locate(float(sub_lons[i]), float(sub_lats[i]), max_distance_m=args.max_distance_m)
        single[i] = -1 if found.key is None else index_of[found.key]
    single_s = time.perf_counter() - t

    # Where the time goes: the same three methods on the subsample's inside and outside points.
    sub_inside = inside_any[:m]
    by_class = {}
    for label, mask in (("inside a grid", sub_inside), ("outside every grid", ~sub_inside)):
        cl_lons, cl_lats = sub_lons[mask], sub_lats[mask]
        if not len(cl_lons):
            continue
        t = time.perf_counter()
        index.locate_many(cl_lons, cl_lats, max_distance_m=args.max_distance_m)
        many_cl = time.perf_counter() - t
        t = time.perf_counter()
        for x, y in zip(cl_lons, cl_lats, strict=True):
            p = Point(x, y)
            for poly in naive_polys:
                if poly.contains(p):
                    break
        naive_cl = time.perf_counter() - t
        by_class[label] = (len(cl_lons), many_cl, naive_cl)

    # -- correctness on the subsample ----------------------------------------------------------
    points = shapely.points(sub_lons, sub_lats)
    contained = np.column_stack([shapely.contains_xy(g, sub_lons, sub_lats) for g in naive_polys])
    boundary_gap = np.column_stack([shapely.distance(points, shapely.boundary(g)) for g in naive_polys]).min(axis=1)
    strict = (contained.sum(axis=1) == 1) & (boundary_gap > metres_to_degrees(0.01, lat0))
    mismatch_naive = int((result[:m][strict] != naive[strict]).sum())
    mismatch_single = int((result[:m] != single).sum())

    # -- report ---------------------------------------------------------------------------------
    n = args.points
    many_rate = n / median_s
    naive_rate = m / naive_s
    single_rate = m / single_s
    sub = f"first {m:,}"
    print(f"bulk grid assignment: {n:,} points, seed {args.seed}, {len(keys)} grids, bbox + {args.margin_m:g} m margin")
    print(f"({machine()}; index build {build_s * 1000:.1f} ms)")
    print(
        f"points: {n_inside:,} inside a grid ({n_inside / n:.1%}), {n_outside_near:,} outside but within "
        f"{args.max_distance_m:g} m ({n_outside_near / n:.1%}), {n_none:,} beyond reach ({n_none / n:.1%})\n"
    )
    print(
        table(
            [
                ("PolygonIndex.locate_many", f"all {n:,}", median_s, many_rate, 1.0),
                ("naive loop, polygon.contains", sub, naive_s * n / m, naive_rate, naive_rate / many_rate),
                ("PolygonIndex.locate per point", sub, single_s * n / m, single_rate, single_rate / many_rate),
            ],
            ("method", "measured on", f"s for {n:,}", "points/s", "rate / locate_many"),
        )
    )
    runs_note = f"median of {args.repeat} runs" if args.repeat > 1 else "one run"
    print(
        f"\nlocate_many: {runs_note} on all points. Subsample rows: timed on the first {m:,} points and "
        f"extrapolated linearly to {n:,}.\nThe naive loop only tests containment: points outside every grid "
        f"get no grid (no nearest-grid search within {args.max_distance_m:g} m), so it does less work.\n"
    )
    rows = []
    for label, (count, many_cl, naive_cl) in by_class.items():
        rows.append((label, count, count / many_cl, count / naive_cl, naive_cl / many_cl))
    print(table(rows, ("subsample points", "count", "locate_many pts/s", "naive pts/s", "locate_many / naive")))
    print(
        f"\ncheck: {int(strict.sum()):,} subsample points strictly inside one grid (>1 cm from every boundary): "
        f"{mismatch_naive} disagree with the naive loop; locate_many vs locate on all {m:,} subsample points: "
        f"{mismatch_single} disagree"
    )
    ok = mismatch_naive == 0 and mismatch_single == 0
    speedup = many_rate / naive_rate
    print(
        f"\nSUMMARY bulk_assign: locate_many {many_rate:,.0f} points/s on {n:,} points "
        f"({n_inside / n:.0%} inside coverage), {speedup:.2g}x the naive contains loop "
        f"({naive_rate:,.0f} points/s, extrapolated from {m:,}); {'correctness OK' if ok else 'CORRECTNESS FAILED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
