"""Time from POST /api/v1/requests to the new marker on the dispatcher's open map, in headless
Chromium: p50 and p95 over N requests.

What it measures
    1. As ``bench/map_render.py``: a fresh database (PostGIS by default), migrated, the demo loaded
       (plus ``--background`` open requests, none by default), ``neighborgrid serve`` in a subprocess.
    2. One browser page opens ``/map/dispatch`` signed in as the dispatcher and waits until its
       markers are drawn and its live event stream is open.
    3. ``--requests`` times, one after another with a pause (``--gap``) between them: the script
       notes the wall clock, POSTs a request (a random category and a random point inside a demo
       grid, seeded) and waits until the page has drawn its marker. The page notes the wall clock
       (``performance.timeOrigin + performance.now()``) two animation frames after it added the
       marker, i.e. once a frame with it has been painted. Latency = page time - POST start; both
       clocks are this machine's. The POST's own round trip is shown beside it: the rest is the
       event's way through the outbox, the stream and the page.

Run
    .venv/bin/python bench/map_latency.py                          # PostGIS, 50 requests
    .venv/bin/python bench/map_latency.py --backend spatialite --requests 50
    .venv/bin/python bench/map_latency.py --requests 10            # quick

Loopback only; needs Debian's ``chromium`` and Playwright (test extras).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from _common import features, machine, pct, table
from map_render import CATEGORIES, chromium, dispatcher_context, fresh_database, load, point_in, serve
from shapely.geometry import shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["postgis", "spatialite"], default="postgis")
    parser.add_argument("--requests", type=int, default=50, help="requests to time")
    parser.add_argument("--background", type=int, default=0, help="open requests already on the map")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between one marker and the next POST")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    print(f"map_latency: POST -> marker on /map/dispatch, {args.requests} requests, {args.backend}")
    print(machine())
    latency, post = [], []
    errors: list[str] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ng-bench-latency-")))
        url = stack.enter_context(fresh_database(args.backend, tmp))
        load(url, requests=args.background, seed=args.seed + 1)
        server = stack.enter_context(serve(url, tmp))
        browser = stack.enter_context(chromium())
        context = dispatcher_context(browser, server.base_url)
        stack.callback(context.close)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.base_url}/map/dispatch")
        page.wait_for_function(
            "() => window.NGDispatch && NGDispatch.ready && NGDispatch.stream.state === 'open'", timeout=120_000
        )
        grids = [shape(f["geometry"]) for f in features("grids.geojson")]
        rng = random.Random(args.seed)
        client = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=30))
        for i in range(args.requests + 1):  # the first one warms the path up and is not counted
            lon, lat = point_in(rng.choice(grids), rng)
            body = {"category": rng.choice(CATEGORIES), "description": f"latency {i}", "lon": lon, "lat": lat}
            started = time.time() * 1000
            r = client.post("/api/v1/requests", json=body)
            answered = time.time() * 1000
            r.raise_for_status()
            rid = r.json()["id"]
            page.wait_for_function("(id) => NGDispatch.drawnAt.has(id)", arg=rid, timeout=30_000)
            drawn = page.evaluate("(id) => NGDispatch.drawnAt.get(id)", rid)
            if i:
                latency.append(drawn - started)
                post.append(answered - started)
            time.sleep(args.gap)

    rows = [
        ("POST -> marker painted", pct(latency, 50), pct(latency, 95), max(latency)),
        ("  of which the POST round trip", pct(post, 50), pct(post, 95), max(post)),
        (
            "  the rest (outbox -> SSE -> page)",
            pct([a - b for a, b in zip(latency, post, strict=True)], 50),
            pct([a - b for a, b in zip(latency, post, strict=True)], 95),
            max(a - b for a, b in zip(latency, post, strict=True)),
        ),
    ]
    print()
    print(table(rows, ("", "p50 ms", "p95 ms", "max ms")))
    print(
        f"\nrequests timed: {len(latency)} (after one warm-up), background open requests: {args.background}, "
        f"console errors: {len(errors)}"
    )
    if errors:
        print("  first:", errors[0])
    within = sum(x <= 1000 for x in latency)
    print(f"\n({machine()})")
    print(
        f"SUMMARY map_latency ({args.backend}): POST -> marker painted p50 {pct(latency, 50):,.0f} ms, p95 "
        f"{pct(latency, 95):,.0f} ms over {len(latency)} requests ({within}/{len(latency)} within 1 s) = "
        f"{pct(latency, 50) / pct(post, 50):.1f}x the POST round trip alone (p50 {pct(post, 50):,.0f} ms); "
        f"console errors {len(errors)}"
    )
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
