"""The resident's station finder on the real Helsinki import: ``nearby`` latency per call, p50 and
p99, over real HTTP and in-process, on SpatiaLite and PostGIS, against baselines in the same run.

What it measures
    Per backend (``--backend``, default both):

    1. A fresh database (PostGIS: a new database on ``NEIGHBORGRID_BENCH_POSTGIS_URL``, default the
       local trust-auth server, dropped at the end; SpatiaLite: a file in a temporary folder),
       migrated, then ``fixtures/osm/helsinki_centre.osm.pbf`` imported in one transaction by the
       code behind ``neighborgrid import-osm`` (``import_osm``: 5,559 street nodes, 483
       buildings, the 16 stations the mapping table finds, and their circles). Data © OpenStreetMap
       contributors, ODbL.
    2. ``--extra-stations`` more stations (default 100, so 116 in all) at real amenity points of
       the extract (``helsinki_centre_walk.gpkg``, layer ``amenities``; seeded sample, random
       station types), inserted as plain rows: the finder does not read circles, and the served app
       runs with its scheduler off, so nothing rebuilds circles during the timing.
    3. ``neighborgrid serve`` in a subprocess (one worker) on a loopback port.
    4. ``--points`` query points per round, seeded, uniform inside the convex hull of the network's
       nodes and within 250 m of one (none in the harbour); the same on both backends (same
       seed). The methods take turns on chunks of 25 points (so drifts in the machine's load hit
       all of them alike), for ``--rounds`` rounds; the first chunk of the first round is a
       warm-up and is not counted (it builds the walking graph in each process):

       * ``GET /api/v1/stations/nearby?lon=&lat=&minutes=15`` (every type, 10 nearest: the default);
       * the same with ``&route=true`` (the walking routes as LineStrings);
       * the same with ``&type=convenience_station&minutes=5`` (a narrow question);
       * ``GET /healthz`` (baseline: what any call costs over HTTP on this server);
       * in-process ``nearby_stations`` (the finder's own code, one read session per call, as a
         request has), and, as the in-process baseline, a **straight-line ranking**: the same
         database query of the stations around the point, sorted by straight-line metres.

    Reported per backend: p50 / p99 / max per call in ms (the median over rounds of each round's
    percentile) and each p50 divided by its baseline's p50 in the same round (median over rounds).
    Checked: the HTTP answer equals the in-process answer (station ids and ``walk_m``) for every
    point; how often the straight-line nearest station is not the walking-nearest.

Run
    .venv/bin/python bench/station_finder.py                                # both backends, 3-6 min
    .venv/bin/python bench/station_finder.py --backend spatialite --points 200 --rounds 2

Offline: loopback only (PostGIS on the local server). Needs pyrosm (the importer's reader).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
from _common import ROOT, machine, pct, table
from map_render import fresh_database, serve

OSM_FILE = ROOT / "fixtures" / "osm" / "helsinki_centre.osm.pbf"
GPKG = ROOT / "fixtures" / "osm" / "helsinki_centre_walk.gpkg"
CHUNK = 25
HTTP_METHODS = {
    "GET nearby (15 min, all types)": ("/api/v1/stations/nearby", {"minutes": 15}),
    "GET nearby, route=true": ("/api/v1/stations/nearby", {"minutes": 15, "route": "true"}),
    "GET nearby, convenience, 5 min": ("/api/v1/stations/nearby", {"minutes": 5, "type": "convenience_station"}),
    "GET /healthz (baseline)": ("/healthz", None),
}
HTTP_BASE = "GET /healthz (baseline)"
NEARBY = "GET nearby (15 min, all types)"
IN_PROCESS = "nearby_stations, in-process"
STRAIGHT = "straight-line ranking (baseline)"


def build(url: str, extra: int, seed: int) -> tuple[dict, object, float]:
    """Migrate, import Helsinki, add the extra stations. Returns (import counts, settings, seconds)."""
    import pyogrio
    from geoalchemy2.shape import from_shape
    from shapely.geometry import Point

    from service.bootstrap import prepare_database
    from service.config import Settings
    from service.db import Database
    from service.osm.importer import import_osm
    from service.stations.models import STATION_TYPE_LABELS, Station, StationType

    settings = Settings(database_url=url, secret_key="bench-secret-key-0123456789abcdef" * 2, scheduler_enabled=False)
    db = Database.from_settings(settings)
    try:
        t = time.perf_counter()
        prepare_database(db)
        with db.transaction() as session:
            counts = import_osm(session, path=OSM_FILE, settings=settings)
        seconds = time.perf_counter() - t
        amenities = pyogrio.read_dataframe(GPKG, layer="amenities")
        rng = np.random.default_rng(seed)
        types = [t for t in StationType if t is not StationType.RED_SERVICE_STATION]
        with db.transaction() as session:
            for row in rng.choice(len(amenities), size=min(extra, len(amenities)), replace=False):
                kind = types[int(rng.integers(len(types)))]
                p = amenities.geometry.iloc[int(row)]
                session.add(
                    Station(
                        ref=f"bench:amenity/{amenities['osm_id'].iloc[int(row)]}/{int(row)}",
                        type=kind,
                        name_zh=STATION_TYPE_LABELS[kind][0],
                        geom=from_shape(Point(p.x, p.y), srid=4326),
                    )
                )
    finally:
        db.dispose()
    return counts, settings, seconds


#: Query points farther than this from every walking node (the harbour) are drawn again: the finder
#: refuses points beyond its snapping limit (500 m by default), and a resident stands near a street.
NEAR_NODE_M = 250.0


def query_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform lon/lat points inside the convex hull of the extract's walking nodes, each
    within ``NEAR_NODE_M`` of one of them."""
    import pyogrio
    import shapely
    from scipy.spatial import cKDTree

    nodes = pyogrio.read_dataframe(GPKG, layer="walk_nodes")
    lonlat = nodes[["lon", "lat"]].to_numpy(dtype=float)
    hull = shapely.MultiPoint(lonlat).convex_hull
    scale = np.array([111_320.0 * np.cos(np.radians(lonlat[:, 1].mean())), 110_574.0])  # metres per degree
    tree = cKDTree(lonlat * scale)
    minx, miny, maxx, maxy = hull.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        batch = np.column_stack([rng.uniform(minx, maxx, 2 * n), rng.uniform(miny, maxy, 2 * n)])
        batch = batch[shapely.contains_xy(hull, batch[:, 0], batch[:, 1])]
        near, _ = tree.query(batch * scale, distance_upper_bound=NEAR_NODE_M)
        out = np.vstack([out, batch[np.isfinite(near)]])
    return out[:n]


def run_backend(backend: str, args, stack: ExitStack) -> dict:
    from geoalchemy2.shape import to_shape
    from sqlalchemy import select

    from geo.circles import minutes_to_metres
    from geo.crs import metres_to_degrees
    from geo.network import straight_line_m
    from service.common.spatial import box_overlaps
    from service.db import Database
    from service.network.graph import walk_graph
    from service.stations.finder import nearby_stations
    from service.stations.models import Station

    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"ng-bench-finder-{backend}-")))
    url = stack.enter_context(fresh_database(backend, tmp))
    counts, settings, import_s = build(url, args.extra_stations, args.seed)
    db = Database.from_settings(settings)
    stack.callback(db.dispose)
    with db.reader() as session:
        n_stations = session.query(Station).count()
    os.environ["NEIGHBORGRID_SCHEDULER_ENABLED"] = "false"  # read by the served app (serve() copies the environment)
    server = stack.enter_context(serve(url, tmp))
    client = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=60))
    rng = np.random.default_rng(args.seed + 1)
    budget = minutes_to_metres(15, settings.walking_speed_mps)

    def in_process(lon: float, lat: float):
        with db.reader() as session:
            found = nearby_stations(
                session, lon=lon, lat=lat, type_=None, minutes=15, limit=10, with_route=False, settings=settings
            )
            return [(f.station.id, f.walk_m) for f in found]

    def straight(lon: float, lat: float):
        """The finder's own station query, ranked by straight-line metres instead of walking."""
        from shapely.geometry import Point

        with db.reader() as session:
            graph = walk_graph(session)
            frame = Point(lon, lat).buffer(metres_to_degrees(budget, lat) * 1.2).envelope
            stations = session.scalars(select(Station).where(box_overlaps(session, Station.geom, frame)))
            ranked = []
            for s in stations:
                p = to_shape(s.geom)
                d = straight_line_m(graph, lon, lat, p.x, p.y)
                if d <= budget:
                    ranked.append((d, s.id))
            ranked.sort()
            return [(sid, round(d, 1)) for d, sid in ranked[:10]]

    def http(path: str, params: dict | None) -> Callable[[float, float], object]:
        def call(lon: float, lat: float):
            r = client.get(path, params=(params or {}) | ({"lon": lon, "lat": lat} if params is not None else {}))
            if r.status_code != 200:
                raise RuntimeError(f"{path} answered {r.status_code}: {r.text[:300]}")
            body = r.json()
            if params is None:
                return None
            return [(f["id"], f["properties"]["walk_m"]) for f in body["features"]]

        return call

    methods: dict[str, Callable[[float, float], object]] = {
        **{name: http(path, params) for name, (path, params) in HTTP_METHODS.items()},
        IN_PROCESS: in_process,
        STRAIGHT: straight,
    }
    rounds: list[dict[str, list[float]]] = []
    mismatches = differ = compared = 0
    started = time.perf_counter()
    for rnd in range(args.rounds):
        if rnd and time.perf_counter() - started > args.budget_s:
            print(f"  {backend}: budget of {args.budget_s:.0f} s spent, stopping after {rnd} rounds")
            break
        points = query_points(args.points + (CHUNK if rnd == 0 else 0), rng)
        times: dict[str, list[float]] = {name: [] for name in methods}
        for lo in range(0, len(points), CHUNK):
            warm = rnd == 0 and lo == 0
            answers: dict[str, list] = {}
            for name, call in methods.items():
                out = []
                for lon, lat in points[lo : lo + CHUNK]:
                    t = time.perf_counter()
                    out.append(call(float(lon), float(lat)))
                    if not warm:
                        times[name].append((time.perf_counter() - t) * 1000)
                answers[name] = out
            for over_http, inside, line in zip(answers[NEARBY], answers[IN_PROCESS], answers[STRAIGHT], strict=True):
                compared += 1
                mismatches += over_http != inside
                if inside and line:
                    differ += inside[0][0] != line[0][0]
        rounds.append(times)
        print(
            f"  {backend} round {rnd + 1}: nearby p50 {pct(times[NEARBY], 50):.1f} ms, healthz p50 "
            f"{pct(times[HTTP_BASE], 50):.1f} ms; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
    return {
        "backend": backend,
        "rounds": rounds,
        "import_s": import_s,
        "counts": counts,
        "stations": n_stations,
        "mismatches": mismatches,
        "compared": compared,
        "straight_differs": differ,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["spatialite", "postgis", "both"], default="both")
    parser.add_argument("--points", type=int, default=300, help="query points per round (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over new points (default 3)")
    parser.add_argument("--extra-stations", type=int, default=100, help="stations added at amenity points (100)")
    parser.add_argument("--budget-s", type=float, default=600.0, help="per backend: start no new round after this")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    if args.points < 1 or args.rounds < 1 or args.extra_stations < 0:
        parser.error("--points and --rounds must be positive, --extra-stations >= 0")
    from service.common.gdal import prime_gdal

    prime_gdal()  # this process reads a GeoPackage and uses SpatiaLite
    backends = ["spatialite", "postgis"] if args.backend == "both" else [args.backend]
    print(f"station_finder on the Helsinki import: {machine()}")
    results = []
    for backend in backends:
        with ExitStack() as stack:
            results.append(run_backend(backend, args, stack))

    summary = []
    ok = True
    for res in results:
        rounds = res["rounds"]

        def med(name: str, q: float, rounds=rounds) -> float:
            return statistics.median(pct(r[name], q) for r in rounds)

        def ratio(name: str, base: str, rounds=rounds) -> float:
            return statistics.median(pct(r[name], 50) / pct(r[base], 50) for r in rounds)

        rows = []
        for name in [*HTTP_METHODS, IN_PROCESS, STRAIGHT]:
            base = HTTP_BASE if name in HTTP_METHODS else STRAIGHT
            calls = sum(len(r[name]) for r in rounds)
            rows.append(
                (name, calls, med(name, 50), med(name, 99), max(max(r[name]) for r in rounds), ratio(name, base))
            )
        c = res["counts"]
        print(
            f"\n{res['backend']}: Helsinki imported in {res['import_s']:.1f} s ({c['street_nodes']:,} street nodes, "
            f"{c['street_edges']:,} edges, {c['buildings']} buildings, {c['stations']} stations, "
            f"{c['service_circles']} stations' circles) + {res['stations'] - c['stations']} extra = "
            f"{res['stations']} stations; {len(rounds)} rounds"
        )
        print(table(rows, ("per call", "calls", "p50 ms", "p99 ms", "max ms", "p50 / baseline p50")))
        print(
            f"  HTTP nearby = in-process nearby_stations for {res['compared'] - res['mismatches']}/{res['compared']} "
            f"points; the straight-line nearest station is not the walking-nearest for {res['straight_differs']} "
            f"({res['straight_differs'] / max(res['compared'], 1):.0%})"
        )
        ok = ok and res["mismatches"] == 0
        summary.append(
            f"{res['backend']} HTTP p50 {med(NEARBY, 50):.1f} ms, p99 {med(NEARBY, 99):.1f} ms "
            f"({ratio(NEARBY, HTTP_BASE):.1f}x /healthz), in-process p50 {med(IN_PROCESS, 50):.1f} ms "
            f"({ratio(IN_PROCESS, STRAIGHT):.1f}x straight line)"
        )
    print(f"\n({machine()})")
    print(
        f"SUMMARY station_finder: nearby on Helsinki ({results[0]['stations']} stations, 15 min): "
        + "; ".join(summary)
        + ("; answers agree" if ok else "; HTTP AND IN-PROCESS ANSWERS DIFFER")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
