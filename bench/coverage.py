"""Coverage of the whole demo for one station type, and the siting suggestion for k = 1, 3, 5:
time in-process and over real HTTP, on SpatiaLite and PostGIS, and how far greedy is from the
HiGHS optimum.

What it measures
    Per backend (``--backend``, default both):

    1. A fresh database (as ``bench/map_render.py``: PostGIS on ``NEIGHBORGRID_BENCH_POSTGIS_URL``,
       default the local server, dropped afterwards; or a SpatiaLite file), migrated, the demo
       loaded by the loader of ``neighborgrid load-demo`` (897 street nodes, 345 buildings,
       10,094 households, 28 stations, their circles).
    2. ``neighborgrid serve`` in a subprocess (one worker, scheduler off so no background job runs
       during the timing), signed in as the demo ``planner``.
    3. For ``--type`` (default ``elderly_care_centre``) and ``--minutes`` (default 10), the methods
       take turns, ``--repeats`` times each (medians shown; the first call of each is a warm-up
       and is not counted):

       * ``coverage_report`` in-process (one read session, as a request has);
       * ``GET /api/v1/coverage?type=&minutes=`` (with the uncovered buildings as GeoJSON);
       * ``GET /healthz``: the baseline for any call over HTTP on this server;
       * ``suggest_sites`` in-process and ``GET /api/v1/coverage/suggest`` for each k in ``--k``.

       The suggestion is broken down once per k (in-process, same steps as ``suggest_sites``):
       reading and snapping the homes, the current coverage, the cover matrix (one Dijkstra per
       candidate node), the exact MCLP with HiGHS (``optimal_siting``: reduction, warm start,
       solve) and the greedy heuristic, with the problem's size before and after the reduction.
    4. Greedy against the optimum: households newly covered by the greedy sites and by HiGHS's,
       and ``greedy_gap`` = 1 - greedy / optimum. With ``--all-types`` (default on, first backend
       only, in-process) the same for every station type x 5/10/15 minutes x each k.

    Checked: the HTTP answers equal the in-process ones (shares, sites, greedy figures), and the
    sites really cover what they claim (newly covered households recomputed from the cover).

Run
    .venv/bin/python bench/coverage.py                               # both backends, ~5-10 min
    .venv/bin/python bench/coverage.py --backend postgis --type childcare --minutes 5 --k 1,2,3
    .venv/bin/python bench/coverage.py --backend spatialite --no-all-types --repeats 3

Offline: loopback only (PostGIS on the local server); HiGHS through ``highspy``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
from _common import machine, pct, table
from map_render import fresh_database, load, serve, token

MINUTES = (5, 10, 15)


def breakdown(db, settings, type_, minutes: int, k: int) -> dict:
    """``suggest_sites``' steps, timed one by one (same code, same order)."""
    from geo.circles import minutes_to_metres
    from geo.coverage import cover_matrix, covered, greedy_siting, optimal_siting, reduce_cover
    from service.stations.coverage import homes, network
    from service.stations.models import Station

    out: dict[str, float] = {}
    with db.reader() as session:
        t = time.perf_counter()
        graph = network(session)
        limit = minutes_to_metres(minutes, settings.walking_speed_mps)
        h = homes(session, graph)
        from geoalchemy2.shape import to_shape
        from sqlalchemy import select

        points = [to_shape(s.geom) for s in session.scalars(select(Station).where(Station.type == type_))]
        stations = graph.snap_many([p.x for p in points], [p.y for p in points]) if points else []
        out["read and snap homes and stations"] = time.perf_counter() - t
        t = time.perf_counter()
        mask = covered(graph, stations, h.snaps, limit) if stations else np.zeros(len(h.snaps), dtype=bool)
        out["current coverage (multi-source Dijkstra)"] = time.perf_counter() - t
        open_idx = np.flatnonzero(~mask & (h.households > 0))
        targets = [h.snaps[i] for i in open_idx]
        weights = h.households[open_idx]
        stride = max(1, int(np.ceil(graph.n_nodes / settings.siting_max_candidates)))
        candidates = list(range(0, graph.n_nodes, stride))
        t = time.perf_counter()
        cover = cover_matrix(graph, candidates, targets, limit)
        out["cover matrix (a Dijkstra per candidate)"] = time.perf_counter() - t
        t = time.perf_counter()
        exact = optimal_siting(cover, weights, k, time_limit_s=settings.siting_time_limit_s)
        out["HiGHS MCLP (optimal_siting)"] = time.perf_counter() - t
        t = time.perf_counter()
        greedy = greedy_siting(cover, weights, k)
        out["greedy (greedy_siting)"] = time.perf_counter() - t
        kept, reduced, _ = reduce_cover(cover, weights)
    # the sites' claims, recomputed from the cover itself
    csc = cover.tocsc()
    union = np.zeros(cover.shape[0], dtype=bool)
    for j in exact.chosen:
        union[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]] = True
    return {
        "times": out,
        "size": (cover.shape[0], cover.shape[1], int(cover.nnz), reduced.shape[0], len(kept)),
        "optimum": exact.covered_weight,
        "greedy": greedy.covered_weight,
        "optimal": exact.optimal,
        "claims_hold": abs(float(weights[union].sum()) - exact.covered_weight) < 1e-9,
        "base_uncovered": float(weights.sum()),
    }


def run_backend(backend: str, args, ks: list[int], stack: ExitStack) -> dict:
    from service.config import Settings
    from service.db import Database
    from service.stations.coverage import coverage_report, suggest_sites
    from service.stations.models import StationType

    type_ = StationType(args.type)
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"ng-bench-coverage-{backend}-")))
    url = stack.enter_context(fresh_database(backend, tmp))
    demo_s, _ = load(url, requests=0, seed=args.seed)
    settings = Settings(database_url=url, secret_key="bench-secret-key-0123456789abcdef" * 2, scheduler_enabled=False)
    db = Database.from_settings(settings)
    stack.callback(db.dispose)
    os.environ["NEIGHBORGRID_SCHEDULER_ENABLED"] = "false"  # read by the served app (serve() copies the environment)
    server = stack.enter_context(serve(url, tmp))
    headers = {"Authorization": f"Bearer {token(server.base_url, 'planner')['access_token']}"}
    client = stack.enter_context(httpx.Client(base_url=server.base_url, headers=headers, timeout=120))

    def get(path: str, **params):
        r = client.get(path, params=params)
        if r.status_code != 200:
            raise RuntimeError(f"{path} answered {r.status_code}: {r.text[:300]}")
        return r.json()

    def report_in_process():
        with db.reader() as session:
            out = coverage_report(session, type_=type_, minutes=args.minutes, settings=settings)
            out.pop("_uncovered")
            return out

    def suggest_in_process(k: int):
        with db.reader() as session:
            return suggest_sites(session, type_=type_, minutes=args.minutes, k=k, settings=settings)

    methods = {
        "coverage_report, in-process": report_in_process,
        "GET /api/v1/coverage": lambda: get("/api/v1/coverage", type=type_.value, minutes=args.minutes),
        "GET /healthz (baseline)": lambda: get("/healthz"),
    }
    for k in ks:
        methods[f"suggest_sites k={k}, in-process"] = lambda k=k: suggest_in_process(k)
        methods[f"GET /api/v1/coverage/suggest k={k}"] = lambda k=k: get(
            "/api/v1/coverage/suggest", type=type_.value, minutes=args.minutes, k=k
        )
    times: dict[str, list[float]] = {name: [] for name in methods}
    answers: dict[str, object] = {}
    started = time.perf_counter()
    for rep in range(args.repeats + 1):  # the first round is a warm-up
        if rep > 1 and time.perf_counter() - started > args.budget_s:
            print(f"  {backend}: budget of {args.budget_s:.0f} s spent, stopping after {rep - 1} timed rounds")
            break
        for name, call in methods.items():
            t = time.perf_counter()
            answers[name] = call()
            if rep:
                times[name].append(time.perf_counter() - t)
    print(f"  {backend}: timed, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")

    # HTTP = in-process?
    http_report = answers["GET /api/v1/coverage"]
    http_report.pop("uncovered_buildings", None)
    agree = http_report == answers["coverage_report, in-process"]
    for k in ks:
        agree = agree and answers[f"GET /api/v1/coverage/suggest k={k}"] == answers[f"suggest_sites k={k}, in-process"]
    parts = {k: breakdown(db, settings, type_, args.minutes, k) for k in ks}
    return {
        "backend": backend,
        "demo_s": demo_s,
        "times": times,
        "answers": answers,
        "agree": agree,
        "parts": parts,
        "db": db,
        "settings": settings,
    }


def all_types(db, settings, ks: list[int], budget_s: float) -> list[tuple]:
    from service.stations.coverage import suggest_sites
    from service.stations.models import StationType

    rows = []
    started = time.perf_counter()
    for type_ in StationType:
        for minutes in MINUTES:
            if time.perf_counter() - started > budget_s:
                return rows
            gaps, times = [], []
            with db.reader() as session:
                for k in ks:
                    t = time.perf_counter()
                    s = suggest_sites(session, type_=type_, minutes=minutes, k=k, settings=settings)
                    times.append(time.perf_counter() - t)
                    opt = s["households_covered_after"] - s["households_covered_before"]
                    gaps.append((opt, s["greedy_newly_covered"], s["greedy_gap"], s["optimal"]))
            rows.append((type_.value, minutes, s["share_before"], gaps, times))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["spatialite", "postgis", "both"], default="both")
    parser.add_argument("--type", default="elderly_care_centre", help="station type (default elderly_care_centre)")
    parser.add_argument("--minutes", type=int, choices=MINUTES, default=10, help="walking limit (default 10)")
    parser.add_argument("--k", default="1,3,5", help="numbers of new sites (default 1,3,5)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each method (default 5)")
    parser.add_argument("--all-types", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--budget-s", type=float, default=300.0, help="per stage: start no new round after this")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.k.split(",") if k.strip()]
    if args.repeats < 1 or not ks or not all(1 <= k <= 20 for k in ks):
        parser.error("--repeats must be positive and each k within 1..20")
    from service.common.gdal import prime_gdal
    from service.stations.models import StationType

    StationType(args.type)  # fail early on an unknown type
    prime_gdal()
    backends = ["spatialite", "postgis"] if args.backend == "both" else [args.backend]
    print(f"coverage of the demo, {args.type}, {args.minutes} min: {machine()}")
    ok = True
    summary = []
    first_gaps = None
    with ExitStack() as outer:
        results = []
        for n, backend in enumerate(backends):
            stack = outer.enter_context(ExitStack())
            res = run_backend(backend, args, ks, stack)
            results.append(res)
            if n == 0 and args.all_types:
                first_gaps = all_types(res["db"], res["settings"], ks, args.budget_s)
            stack.close()  # the server and the database go before the next backend's

    for res in results:
        times = res["times"]
        med = {name: statistics.median(v) * 1000 for name, v in times.items()}
        base = med["GET /healthz (baseline)"]
        report = res["answers"]["coverage_report, in-process"]
        rows = [(name, len(v), med[name], max(v) * 1000, med[name] / base) for name, v in times.items()]
        print(
            f"\n{res['backend']}: demo loaded in {res['demo_s']:.1f} s; {report['stations']} stations of the type, "
            f"households covered {report['overall']['households_covered']:,} of {report['overall']['households']:,} "
            f"({report['overall']['households_share']:.1%}), {len(report['communities'])} communities, "
            f"{len(report['grids'])} grids"
        )
        print(table(rows, ("per call", "calls", "median ms", "max ms", "x /healthz")))
        print("  suggestion, step by step (in-process, once; ms):")
        step_rows = []
        for k, part in res["parts"].items():
            n_t, n_c, nnz, r_t, r_c = part["size"]
            gap = 1 - part["greedy"] / part["optimum"] if part["optimum"] else 0.0
            step_rows.append(
                (
                    f"k={k}",
                    *(v * 1000 for v in part["times"].values()),
                    f"{n_t}x{n_c} ({nnz:,} pairs) -> {r_t}x{r_c}",
                    int(part["optimum"]),
                    int(part["greedy"]),
                    gap,
                    "yes" if part["optimal"] else "NO",
                )
            )
            ok = ok and part["claims_hold"]
        step_names = list(next(iter(res["parts"].values()))["times"])
        short = ["homes+snap", "coverage", "cover matrix", "HiGHS", "greedy"]
        print(
            table(
                step_rows,
                ("", *short[: len(step_names)], "targets x cand.", "optimum hh", "greedy hh", "gap", "optimal"),
            )
        )
        print(f"  HTTP answers equal the in-process ones: {'yes' if res['agree'] else 'NO'}")
        ok = ok and res["agree"]
        gaps = [1 - p["greedy"] / p["optimum"] if p["optimum"] else 0.0 for p in res["parts"].values()]
        summary.append(
            f"{res['backend']} coverage {med['coverage_report, in-process']:.0f} ms in-process / "
            f"{med['GET /api/v1/coverage']:.0f} ms HTTP ({med['GET /api/v1/coverage'] / base:.0f}x /healthz), suggest "
            + "/".join(f"{med[f'GET /api/v1/coverage/suggest k={k}']:.0f}" for k in ks)
            + f" ms HTTP for k={','.join(map(str, ks))}, greedy gap "
            + "/".join(f"{g:.1%}" for g in gaps)
        )

    if first_gaps is not None:
        print(f"\ngreedy against HiGHS for every type and limit ({results[0]['backend']}, in-process, k={args.k}):")
        rows = []
        worst = (0.0, "")
        not_optimal = 0
        for type_, minutes, share, gaps, ts in first_gaps:
            cells = []
            for k, (opt, greedy, gap, optimal) in zip(ks, gaps, strict=True):
                cells.append(f"{greedy}/{opt}" + ("" if optimal else "*"))
                not_optimal += not optimal
                if gap > worst[0]:
                    worst = (gap, f"{type_}, {minutes} min, k={k}: {greedy} vs {opt} households")
            rows.append((type_, minutes, share, *cells, max(g[2] for g in gaps), pct(ts, 50) * 1000))
        print(
            table(
                rows,
                ("type", "min", "share now", *(f"k={k} greedy/opt" for k in ks), "worst gap", "ms per suggest"),
            )
        )
        n_cases = len(first_gaps) * len(ks)
        n_gap = sum(g[2] > 0 for r in first_gaps for g in r[3])
        print(
            f"  greedy below the optimum in {n_gap} of {n_cases} cases; worst {worst[0]:.1%} ({worst[1] or '-'}); "
            f"HiGHS not proven optimal (time limit) in {not_optimal}"
        )
        summary.append(f"all types: greedy short of the optimum in {n_gap}/{n_cases}, worst {worst[0]:.1%}")
    print(f"\n({machine()})")
    print(
        f"SUMMARY coverage ({args.type}, {args.minutes} min): " + "; ".join(summary) + ("" if ok else "; CHECKS FAIL")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
