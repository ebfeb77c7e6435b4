"""Intake under load, for real: ``neighborgrid serve --workers 2`` subprocesses, the load tool of bench/, row counts.

Short versions of the long runs in the README (Reliability): a few seconds of open-loop load each.
* steady load on PostGIS: every acknowledged request stored once, retries and concurrent twins
  (the same Idempotency-Key twice at once) never make a second row;
* PostgreSQL (a throwaway cluster of the test's own) stopped and restarted in the middle: 503 +
  Retry-After while it is down (never a 500), the pool recovers by itself, and every acknowledged
  request is stored exactly once;
* the embedded default: two worker processes writing one SpatiaLite file at 50 requests/s without
  a single "database is locked".
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from bench import load_intake as tool
from service.config import Settings
from service.db import Database

pytestmark = pytest.mark.slow


def run_load(*args, **kwargs):
    """The load tool in an event loop of its own thread: in a full run the browser tests' Playwright
    (sync API) keeps a loop running in the main thread, where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(tool.run_load(*args, **kwargs))).result()


def _check_integrity(result, stored) -> None:
    rec = tool.reconcile(result, stored)
    summary = tool.report(result, rec)
    assert result.due > 0 and result.sent == result.due, summary
    assert not result.failed, summary
    assert rec.acknowledged == rec.sent, summary
    assert rec.lost == 0, summary
    assert rec.duplicates == 0, summary
    assert rec.stored == rec.acknowledged, summary
    assert not [k for k in result.attempts if k.startswith("HTTP 5") and k != "HTTP 503"], summary


def test_steady_load_on_postgis_loses_and_doubles_nothing(pg_server):
    server, url = pg_server.server, pg_server.url
    assert len(server.worker_pids()) == 2
    mark = server.log_size()
    config = tool.LoadConfig(base_url=server.base_url, rate=40, seconds=5, twin_every=7, give_up_after=60)
    bodies = tool.intake_bodies(tool.category_codes(server.base_url))
    result = run_load(config, bodies)
    stored = tool.count_stored(url, config.key_prefix)
    problems = server.log_problems(since=mark)
    _check_integrity(result, stored)
    assert result.twins > 0 and result.replayed >= 1, "the twins went through the idempotent-replay path"
    assert not problems, problems[:3]
    print("\n" + tool.report(result, tool.reconcile(result, stored)))


def _probe(base_url: str) -> dict:
    """What the API answers while the database is down (a write, a read, and readiness)."""
    out = {}
    with httpx.Client(base_url=base_url, timeout=20) as c:
        body = {"category": "noise", "description": "during the outage", "lon": 117.7552, "lat": 24.6221}
        out["intake"] = c.post("/api/v1/requests", json=body, headers={"Idempotency-Key": "outage-probe-1"})
        out["read"] = c.get("/api/v1/grids")
        out["readyz"] = c.get("/readyz")
        out["healthz"] = c.get("/healthz")
    return out


def test_postgres_restart_mid_run_is_503_then_recovers_and_loses_nothing(own_cluster_server):
    """30 requests/s for 8 s against the test's own PostgreSQL cluster, which is stopped at 2 s (held down
    1.5 s while the API is probed) and started, then 1.5 s later restarted with ``pg_ctlcluster restart``."""
    server, url = own_cluster_server.server, own_cluster_server.url
    workers = server.worker_pids()
    assert len(workers) == 2
    probes: dict = {}

    async def outages(result, t0) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, t0 + 2.0 - loop.time()))
        result.marks["stop"] = loop.time() - t0
        await asyncio.to_thread(tool.pg_ctl, url, "stop")
        try:
            probes.update(await asyncio.to_thread(_probe, server.base_url))
            await asyncio.sleep(1.5)
        finally:
            await asyncio.to_thread(tool.pg_ctl, url, "start")  # always leave it running
            result.marks["start"] = loop.time() - t0
        await asyncio.sleep(1.5)  # some requests acknowledged in between
        result.marks["restart"] = loop.time() - t0
        await asyncio.to_thread(tool.pg_ctl, url, "restart")
        result.marks["restarted"] = loop.time() - t0

    config = tool.LoadConfig(base_url=server.base_url, rate=30, seconds=8, give_up_after=90, twin_every=11)
    bodies = tool.intake_bodies(tool.category_codes(server.base_url))
    result = run_load(config, bodies, during=outages)
    summary = tool.report(result, tool.reconcile(result, tool.count_stored(url, config.key_prefix)))
    print("\n" + summary)

    # While it was down: 503 with Retry-After and problem+json, never a 500; the process stays alive.
    for name in ("intake", "read", "readyz"):
        assert probes[name].status_code == 503, (name, probes[name].status_code, probes[name].text)
    for name in ("intake", "read"):
        assert probes[name].headers.get("retry-after", "").isdigit(), probes[name].headers
        assert probes[name].headers["content-type"].startswith("application/problem+json")
    assert probes["healthz"].status_code == 200
    assert result.attempts["HTTP 503"] > 0, summary
    assert result.without_retry_after == 0 and result.not_problem_json == 0, summary
    # The pool recovered by itself: the same worker processes answer again, after both outages.
    assert any(t > result.marks["restarted"] for t in result.ack_times), summary
    assert server.worker_pids() == workers
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        assert c.get("/readyz").status_code == 200
        r = c.post("/api/v1/requests", json=bodies(10_000, "after-restart"), headers={"Idempotency-Key": "after"})
        assert r.status_code == 201, r.text
    # Every acknowledged request stored exactly once (and nothing given up on).
    _check_integrity(result, tool.count_stored(url, config.key_prefix))
    problems = server.log_problems(outage=True)
    assert not problems, problems[:3]


def test_spatialite_two_workers_at_50_per_second_never_lock(sl_server):
    """WAL + busy timeout + BEGIN IMMEDIATE writers: two worker processes (and their schedulers) queue
    for the file's write lock at 50 intakes/s, and not one attempt fails. A writer that gives up on the
    lock ("database is locked", after the busy timeout) is answered 503 and logged "database unavailable"."""
    server, url = sl_server.server, sl_server.url
    mark = server.log_size()
    config = tool.LoadConfig(base_url=server.base_url, rate=50, seconds=3, twin_every=9, give_up_after=60)
    bodies = tool.intake_bodies(tool.category_codes(server.base_url))
    result = run_load(config, bodies)
    stored = tool.count_stored(url, config.key_prefix)
    summary = tool.report(result, tool.reconcile(result, stored))
    print("\n" + summary)
    unavailable = [line for line in server.log_text(since=mark).splitlines() if "database unavailable" in line]
    assert not unavailable, f"{len(unavailable)} lock failures: {unavailable[:3]}\n{summary}"
    assert result.retried == 0 and not result.errors(), f"no attempt may fail, not even once\n{summary}"
    _check_integrity(result, stored)
    assert server.log_problems(since=mark) == []


def test_spatialite_connections_keep_the_configured_busy_timeout(tmp_path):
    """Loading SpatiaLite resets a connection's busy timeout to 5 s; the configured one must win, or
    writers queued behind a slow one fail with "database is locked" after 5 s (seen at 100 intakes/s)."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'busy.db'}", json_logs=False, sqlite_busy_timeout_ms=12_345
    )
    db = Database.from_settings(settings)
    try:
        with db.writer() as session:
            assert session.execute(text("PRAGMA busy_timeout")).scalar() == 12_345
    finally:
        db.dispose()
