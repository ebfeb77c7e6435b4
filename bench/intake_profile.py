"""Where an intake's CPU goes: ``submit_request`` in-process, profiled, on a fresh demo database.

What it measures
    N intakes (seeded random categories and points inside the demo grids, each with its own
    Idempotency-Key, one transaction each, as the route runs them) against a fresh database with
    the demo, after a warm-up. It prints the time per intake and, from ``cProfile``, the share of
    each stage of ``create_request`` (cumulative time of the service functions named below) and the
    number of SQL statements per intake. The baseline, measured in the same run, is an empty
    transaction (``SELECT 1``) per intake: the fixed cost of a session and a commit.

    This is the figure the Reliability section's load runs are bounded by (CPU per intake × rate
    must fit in the cores); it says which stage to make cheaper first.

Run
    .venv/bin/python bench/intake_profile.py                        # SpatiaLite, 300 intakes
    .venv/bin/python bench/intake_profile.py --backend postgis --requests 500
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from _common import features, fresh_database, machine, table
from shapely.geometry import shape
from sqlalchemy import event, text

#: (label, module path suffix, function name) of the stages reported.
STAGES = [
    ("idempotency lookup", "requests/intake.py", "find_by_idempotency_key"),
    ("locate the grid", "grids/service.py", "locate_point"),
    ("  of which: load the grid", "grids/service.py", "get_grid"),
    ("  of which: layer-cache revision checks", "common/layer_cache.py", "revisions"),
    ("duplicate search", "requests/assignment.py", "find_duplicates"),
    ("nearest volunteer", "requests/assignment.py", "nearest_volunteers"),
    ("  of which: available volunteers", "requests/assignment.py", "available_volunteers"),
    ("flush (INSERTs)", "orm/session.py", "_flush"),
    ("create_request (all)", "requests/intake.py", "create_request"),
]
CATEGORIES = ["pipe_leak", "lift_failure", "sanitation", "noise", "neighbour_dispute", "littering"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["spatialite", "postgis"], default="spatialite")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from service.bootstrap import prepare_database
    from service.config import Settings
    from service.db import Database
    from service.demo.loader import load_demo
    from service.requests.intake import NewRequest, submit_request

    grids = [shape(f["geometry"]) for f in features("grids.geojson")]
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.backend, Path(tmp)) as url:
        settings = Settings(database_url=url, json_logs=False)
        db = Database.from_settings(settings)
        prepare_database(db)
        with db.transaction() as session:
            load_demo(session, settings=settings)
        statements = [0]
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))

        def intake() -> None:
            g = grids[rng.randrange(len(grids))]
            p = g.representative_point()
            data = NewRequest(
                category=rng.choice(CATEGORIES),
                description="bench",
                lon=p.x + rng.uniform(-2e-4, 2e-4),
                lat=p.y + rng.uniform(-2e-4, 2e-4),
                channel="web",
            )
            with db.transaction() as session:
                submit_request(
                    session, data=data, settings=settings, now=datetime.now(UTC), idempotency_key=uuid.uuid4().hex
                )

        def empty() -> None:
            with db.transaction() as session:
                session.execute(text("SELECT 1"))

        for _ in range(20):  # warm-up: caches, graph, prepared statements
            intake()
        t = time.perf_counter()
        for _ in range(args.requests):
            empty()
        empty_ms = (time.perf_counter() - t) / args.requests * 1000
        statements[0] = 0
        profiler = cProfile.Profile()
        t = time.perf_counter()
        profiler.enable()
        for _ in range(args.requests):
            intake()
        profiler.disable()
        intake_ms = (time.perf_counter() - t) / args.requests * 1000
        per_intake_sql = statements[0] / args.requests
        # the unprofiled time: cProfile slows Python code down
        t = time.perf_counter()
        for _ in range(args.requests):
            intake()
        plain_ms = (time.perf_counter() - t) / args.requests * 1000
        db.dispose()

    stats = pstats.Stats(profiler).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = sum(ct for (f, _, name), (_, _, _, ct, _) in stats.items() if name == "create_request")
    rows = []
    for label, path, name in STAGES:
        ct = sum(v[3] for (f, _, n), v in stats.items() if n == name and f.endswith(path))
        rows.append((label, ct / args.requests * 1000, f"{ct / total:.0%}" if total else "-"))
    print(f"{machine()}\nbackend {args.backend}, {args.requests} intakes")
    print(table(rows, ("stage (profiled)", "ms per intake", "share of create_request")))
    print(
        f"\nper intake: {plain_ms:.1f} ms unprofiled ({intake_ms:.1f} ms profiled),"
        f" {per_intake_sql:.1f} SQL statements; an empty transaction: {empty_ms:.2f} ms"
    )
    print(
        f"SUMMARY intake {plain_ms:.1f} ms = {plain_ms / empty_ms:.0f}x an empty transaction; {per_intake_sql:.0f} SQL"
    )


if __name__ == "__main__":
    main()
