"""Time to first render of the dispatcher's map (/map/dispatch) with the demo plus N open requests,
measured in headless Chromium.

What it measures
    1. A fresh database (PostGIS: a new database on ``NEIGHBORGRID_BENCH_POSTGIS_URL``, default the
       local trust-auth server, dropped at the end; SpatiaLite: a file in a temporary folder),
       migrated, the demo loaded, then ``--requests`` open requests (status ``reported``; random
       categories, channels and points inside the demo's grids, seeded) inserted through the
       service's own intake (grid, building, worker, nearest volunteer by walking, deadlines,
       colour) in a few transactions.
    2. ``neighborgrid serve`` in a subprocess (as in production, SLA scheduler on), on a loopback port.
    3. For each run a **new browser context** (empty cache and storage: a first visit) opens
       ``/map/dispatch`` signed in as the dispatcher (the token placed in sessionStorage, as the
       page's sign-in form would) and waits until the page says its markers are drawn. Times come
       from the page's own Performance API, from navigation start:
         * ``dom``    DOMContentLoaded (HTML parsed, deferred scripts run);
         * ``stream`` the live event stream open (the list is read only then, so no change can
                      fall between the two);
         * ``list``   the open requests received (``GET /api/v1/requests``);
         * ``drawn``  every marker added to the map (clustered) and two animation frames painted:
                      the first render.
       The first run warms the server up and is not counted.
    4. Baseline, taking turns with the page loads: the page's own list request
       (``GET /api/v1/requests`` with its statuses and page size) from a plain httpx client, so the
       first render can be read as a multiple of what the API alone takes.

Run
    .venv/bin/python bench/map_render.py                           # PostGIS, 1,000 requests, 7 runs
    .venv/bin/python bench/map_render.py --backend spatialite --runs 5
    .venv/bin/python bench/map_render.py --requests 5000
    .venv/bin/python bench/map_render.py --runs 3                  # quick: about 2 min

Loopback only; needs Debian's ``chromium`` (``apt-get install chromium``) and Playwright (test extras).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from shapely.geometry import shape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.browser (the browser launch the tests use)

from _common import features, fresh_database, machine, pct, table  # noqa: E402
from _common import serve as served  # noqa: E402

DEMO_PASSWORD = "bench-demo-password"
CATEGORIES = [
    "littering",
    "noise",
    "sanitation",
    "pipe_leak",
    "lift_failure",
    "street_lighting",
    "elderly_help",
    "illegal_parking",
    "water_outage",
    "neighbour_dispute",
    "property_service",
    "policy_inquiry",
]
CHANNELS = ["wechat", "mini_program", "phone", "walk_in", "patrol", "web"]


# -- the database and the server ------------------------------------------------------------------


def load(url: str, *, requests: int, seed: int) -> tuple[float, float]:
    """Migrate, load the demo, insert ``requests`` open requests. Returns (demo s, requests s)."""
    from datetime import UTC, datetime

    from service.bootstrap import prepare_database
    from service.config import Settings
    from service.db import Database
    from service.demo.loader import load_demo
    from service.requests.intake import NewRequest, create_request
    from service.requests.models import Channel

    settings = Settings(database_url=url, demo_password=DEMO_PASSWORD, secret_key=secrets.token_urlsafe(48))
    db = Database.from_settings(settings)
    try:
        t = time.perf_counter()
        prepare_database(db)
        with db.transaction() as session:
            load_demo(session, settings=settings)
        demo_s = time.perf_counter() - t
        t = time.perf_counter()
        grids = [shape(f["geometry"]) for f in features("grids.geojson")]
        rng = random.Random(seed)
        done = 0
        while done < requests:
            with db.transaction() as session:
                for _ in range(min(200, requests - done)):
                    lon, lat = point_in(rng.choice(grids), rng)
                    data = NewRequest(
                        category=rng.choice(CATEGORIES),
                        description=f"bench {done}",
                        channel=Channel(rng.choice(CHANNELS)),
                        lon=lon,
                        lat=lat,
                    )
                    create_request(session, data=data, settings=settings, now=datetime.now(UTC))
                    done += 1
        return demo_s, time.perf_counter() - t
    finally:
        db.dispose()


def point_in(polygon, rng: random.Random) -> tuple[float, float]:
    from shapely.geometry import Point

    minx, miny, maxx, maxy = polygon.bounds
    while True:
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if polygon.contains(Point(lon, lat)):
            return lon, lat


def serve(url: str, tmp: Path):
    """The served app for a page benchmark: login limits off too (a browser signs in on every load)."""
    return served(url, tmp=tmp, env={"NEIGHBORGRID_LOGIN_RATE_PER_IP": "0"})


def token(base_url: str, username: str = "dispatcher") -> dict[str, str]:
    r = httpx.post(f"{base_url}/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}, timeout=30)
    r.raise_for_status()
    return r.json()


@contextmanager
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    from tests.browser.browser import chromium_path, launch

    if chromium_path() is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        browser = launch(p)
        try:
            yield browser
        finally:
            browser.close()


def dispatcher_context(browser, base_url: str, *, viewport=(1440, 900)):
    """A fresh context (empty cache and storage) already signed in as the dispatcher."""
    from tests.browser.browser import TIMEZONE

    signed = token(base_url)
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN", timezone_id=TIMEZONE
    )
    context.add_init_script(
        f"sessionStorage.setItem('ng.token', {signed['access_token']!r});"
        " sessionStorage.setItem('ng.role', 'dispatcher');"
    )
    return context


# -- the measurement -------------------------------------------------------------------------------

MARKS = """() => {
  const mark = (name) => (performance.getEntriesByName(name)[0] || {}).startTime ?? null;
  const nav = performance.getEntriesByType('navigation')[0];
  return { dom: nav.domContentLoadedEventEnd, stream: mark('ng-stream-open'), list: mark('ng-list-received'),
           drawn: mark('ng-requests-drawn'), markers: NGDispatch.requests.size };
}"""


def render_once(browser, base_url: str) -> dict:
    context = dispatcher_context(browser, base_url)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base_url}/map/dispatch")
        page.wait_for_function("() => window.NGDispatch && NGDispatch.ready", timeout=120_000)
        out = page.evaluate(MARKS)
        out["errors"] = errors
        return out
    finally:
        context.close()


#: The statuses the page lists (``ACTIVE`` in map_ui/static/js/dispatch.js) and its page size.
ACTIVE = ["reported", "accepted", "dispatched", "on_site", "resolved", "verified", "reopened"]


def list_once(client: httpx.Client) -> tuple[float, int]:
    """The page's list request, from a plain HTTP client: (ms, items)."""
    t = time.perf_counter()
    r = client.get("/api/v1/requests", params={"status": ACTIVE, "limit": 5000, "offset": 0})
    ms = (time.perf_counter() - t) * 1000
    r.raise_for_status()
    return ms, len(r.json()["items"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["postgis", "spatialite"], default="postgis")
    parser.add_argument("--requests", type=int, default=1000, help="open requests on top of the demo")
    parser.add_argument("--runs", type=int, default=7, help="measured page loads (plus one warm-up)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)

    print(f"map_render: /map/dispatch, demo + {args.requests:,} open requests, {args.backend}")
    print(machine())
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ng-bench-map-")))
        url = stack.enter_context(fresh_database(args.backend, tmp))
        demo_s, seed_s = load(url, requests=args.requests, seed=args.seed)
        print(f"demo loaded in {demo_s:.1f} s; {args.requests:,} requests inserted in {seed_s:.1f} s")
        server = stack.enter_context(serve(url, tmp))
        browser = stack.enter_context(chromium())
        client = stack.enter_context(
            httpx.Client(
                base_url=server.base_url,
                headers={"Authorization": f"Bearer {token(server.base_url)['access_token']}"},
                timeout=120,
            )
        )
        render_once(browser, server.base_url)  # warm-up: imports, caches, connection pools
        list_once(client)
        runs, api_ms, api_items = [], [], set()
        for _ in range(args.runs):  # page and baseline take turns, so load drifts hit both alike
            runs.append(render_once(browser, server.base_url))
            ms, items = list_once(client)
            api_ms.append(ms)
            api_items.add(items)

    shown = {r["markers"] for r in runs}
    errors = [e for r in runs for e in r["errors"]]
    rows = []
    for key, label in (
        ("dom", "DOMContentLoaded"),
        ("stream", "event stream open"),
        ("list", "requests received"),
        ("drawn", "markers drawn (first render)"),
    ):
        values = [r[key] for r in runs if r[key] is not None]
        rows.append((label, pct(values, 50), min(values), max(values)))
    fetch = [r["list"] - r["stream"] for r in runs if r["list"] is not None and r["stream"] is not None]
    paint = [r["drawn"] - r["list"] for r in runs if r["drawn"] is not None and r["list"] is not None]
    rows.append(("  of which the list fetched in the page (list - stream)", pct(fetch, 50), min(fetch), max(fetch)))
    rows.append(("  of which markers placed and painted (drawn - list)", pct(paint, 50), min(paint), max(paint)))
    rows.append(("baseline: the same list GET from httpx", pct(api_ms, 50), min(api_ms), max(api_ms)))
    print()
    print(table(rows, ("from navigation start", "median ms", "min ms", "max ms")))
    drawn = pct([r["drawn"] for r in runs if r["drawn"] is not None], 50)
    print(
        f"\nruns: {args.runs} (cold: a new browser context each), markers on the map: {sorted(shown)}, "
        f"console errors: {len(errors)}"
    )
    if errors:
        print("  first:", errors[0])
    print(f"\n({machine()})")
    print(
        f"SUMMARY map_render ({args.backend}, demo + {args.requests:,} open requests): first render "
        f"{drawn:,.0f} ms median over {args.runs} cold loads = {drawn / pct(api_ms, 50):.1f}x the page's list GET "
        f"alone from httpx ({pct(api_ms, 50):,.0f} ms, {sorted(api_items)} items); markers {sorted(shown)}, "
        f"console errors {len(errors)}"
    )
    if shown != {args.requests}:
        print(f"WARNING: expected {args.requests} markers")
        return 1
    return 0 if not errors else 1


if __name__ == "__main__":
    if shutil.which("chromium") is None and not os.environ.get("NEIGHBORGRID_CHROMIUM"):
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    sys.exit(main())
