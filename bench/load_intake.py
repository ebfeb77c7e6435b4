"""Intake under load: an open-loop asyncio HTTP client that proves no request is lost or doubled.

What it does
    Sends ``POST /api/v1/requests`` at a set rate (open loop: request i is due at t0 + i/rate and is
    sent then, whether or not earlier ones have answered), each with its own ``Idempotency-Key``.
    A request that meets a connection error, a timeout, a 5xx (503 included) or a 429 is retried
    with exponential backoff (honouring ``Retry-After``) under the SAME key, until it is
    acknowledged (2xx) or ``give_up_after`` seconds have passed since it was due. Other 4xx answers
    are final. At the end it counts, in the database, the rows stored under this run's keys:

    * sent: requests started (distinct keys); acknowledged: keys that got a 2xx;
    * stored: rows in ``requests`` under this run's keys; lost: acknowledged but not stored;
    * duplicates: rows sharing a key, or rows repeating a request (each description holds its key);
    * p50/p95/p99: from the request's *intended* send time to its acknowledgement, retries included
      (schedule-based, so coordinated omission cannot hide queueing), over acknowledged requests;
    * errors: every non-2xx attempt by kind ("HTTP 503", "ConnectError", ...), and requests that
      were never acknowledged.

Bounded: at most ``rate x seconds`` requests (and ``max_requests``), ``max_in_flight`` at once, for
``seconds`` plus ``drain_timeout``. Loopback only: the base URL must be 127.0.0.1, ::1 or localhost.

The core (``run_load``, ``count_stored``, ``reconcile``, ``fresh_database``, ``load_demo_into``,
``serve``, ``throwaway_cluster``, ``restart_postgres``) is importable; the tests in
``tests/reliability`` run it briefly.

Run (the long versions; the README's Reliability section quotes their output)
    .venv/bin/python bench/load_intake.py                                  # PostGIS, 2 workers, 200/s, 60 s
    .venv/bin/python bench/load_intake.py --restart-db-at 20               # PostgreSQL restarted mid-run (root)
    .venv/bin/python bench/load_intake.py --backend spatialite --rate 50   # the embedded default

The server is ``neighborgrid serve --workers W`` in a subprocess, on a fresh database (PostGIS: a new
database on ``NEIGHBORGRID_BENCH_POSTGIS_URL``, default the local trust server, dropped at the end;
SpatiaLite: a file in a temporary folder) with the demo loaded, with the per-IP intake limit off
(``NEIGHBORGRID_INTAKE_RATE_PER_IP=0``): the load comes from one address. A run that restarts
PostgreSQL makes a throwaway cluster of its own (``pg_createcluster``, as root; dropped at the end)
and restarts that one with ``pg_ctlcluster``: a shared server is never stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "fixtures" / "demo"
if __package__ in (None, ""):  # run as ``python bench/load_intake.py``: bench is a package of ROOT
    sys.path.insert(0, str(ROOT))
from bench._common import (  # noqa: E402, F401
    ServerProcess,
    free_port,
    fresh_database,
    serve,
    start_server,
    stored_under_keys,
)

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# httpcore asks ``import sniffio`` on every request; without sniffio installed (anyio no longer needs
# it) each failed import searches sys.path again, about 0.5 ms a time. Caching the miss is what
# Python's import system does with a None entry: the same ImportError, at once.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)

#: Answers worth retrying with the same key: the server may or may not have stored the request.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# -- the load -------------------------------------------------------------------------------------


@dataclass
class LoadConfig:
    base_url: str
    rate: float = 50.0  # requests per second (open loop)
    seconds: float = 5.0  # how long to keep sending new requests
    max_requests: int = 100_000
    max_in_flight: int = 32
    timeout: float = 15.0  # per attempt
    give_up_after: float = 60.0  # per request, from its due time
    drain_timeout: float = 90.0  # after the last send, for stragglers and retries
    backoff_initial: float = 0.1
    backoff_max: float = 2.0
    retry_after_cap: float = 5.0  # never wait longer than this on a Retry-After
    key_prefix: str = field(default_factory=lambda: f"load-{uuid.uuid4().hex[:10]}-")
    token: str | None = None  # bearer token to send (None: anonymous residents)
    seed: int = 1
    #: Every k-th request is sent twice at once under the same key, as a client does that retries
    #: while its first attempt is still in flight (0: never). Only one row may result.
    twin_every: int = 0


@dataclass
class LoadResult:
    config: LoadConfig
    due: int = 0  # requests the schedule called for
    sent: int = 0  # requests that made at least one attempt
    acked_keys: set[str] = field(default_factory=set)
    latency_ms: list[float] = field(default_factory=list)  # due -> acknowledged, per acknowledged request
    attempts: Counter = field(default_factory=Counter)  # "HTTP 201", "HTTP 503", "ConnectError", ...
    failed: Counter = field(default_factory=Counter)  # never acknowledged, by last outcome
    retried: int = 0  # requests that needed more than one attempt
    replayed: int = 0  # acknowledgements that were idempotent replays
    twins: int = 0  # second copies sent (see LoadConfig.twin_every)
    without_retry_after: int = 0  # 429/503 answers without a Retry-After header
    not_problem_json: int = 0  # 4xx/5xx answers that were not application/problem+json
    first_ack_after: dict[str, float] = field(default_factory=dict)  # label -> seconds into the run
    marks: dict[str, float] = field(default_factory=dict)  # events during the run, seconds after t0
    ack_times: list[float] = field(default_factory=list)  # seconds after t0 of each acknowledgement
    status_times: list[tuple[float, str]] = field(default_factory=list)  # (seconds after t0, outcome)
    error_durations: list[tuple[str, float]] = field(default_factory=list)  # non-2xx attempts: (outcome, s)
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def acked(self) -> int:
        return len(self.acked_keys)

    def pct(self, q: float) -> float:
        return percentile(self.latency_ms, q)

    def errors(self) -> dict[str, int]:
        return {k: v for k, v in self.attempts.items() if not k.startswith("HTTP 2")}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[min(rank, len(ordered)) - 1]


def check_loopback(base_url: str) -> None:
    host = urlsplit(base_url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the load tool only targets loopback addresses, not {host!r}")


BodyMaker = Callable[[int, str], dict]


async def run_load(config: LoadConfig, make_body: BodyMaker, *, during: Callable | None = None) -> LoadResult:
    """Drive the load; ``during(result, t0)`` (a coroutine function), if given, runs alongside it."""
    check_loopback(config.base_url)
    result = LoadResult(config)
    n = min(config.max_requests, max(1, round(config.rate * config.seconds)))
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    rng = random.Random(config.seed)
    cpu0 = time.process_time()
    # One client per connection, handed out from a queue: httpx's shared pool costs CPU in proportion
    # to its size (about 12 ms per request with 64 connections on this machine, 3 ms like this).
    one_connection = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(
            base_url=config.base_url, limits=one_connection, timeout=httpx.Timeout(config.timeout), headers=headers
        )
        for _ in range(config.max_in_flight)
    ]
    free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
    for c in clients:
        free.put_nowait(c)
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05

        async def one(i: int, twin_of: dict | None = None) -> None:
            key = f"{config.key_prefix}{i:07d}"
            twin = twin_of is not None
            body = twin_of if twin else make_body(i, key)
            due = t0 + i / config.rate
            if not twin and config.twin_every and i % config.twin_every == 0:
                result.twins += 1
                twins.append(asyncio.create_task(one(i, twin_of=body)))
            give_up = due + config.give_up_after
            delay = config.backoff_initial
            attempt = 0
            last = "not sent"
            while True:
                attempt += 1
                wait = 0.0
                client = await free.get()
                sent_at = loop.time()
                try:
                    if attempt == 1 and not twin:
                        result.sent += 1
                    r = await client.post("/api/v1/requests", json=body, headers={"Idempotency-Key": key})
                    last = f"HTTP {r.status_code}"
                except httpx.TransportError as exc:
                    r = None
                    last = type(exc).__name__
                finally:
                    free.put_nowait(client)
                now = loop.time()
                result.attempts[last] += 1
                result.status_times.append((now - t0, last))
                if not last.startswith("HTTP 2"):
                    result.error_durations.append((last, now - sent_at))
                if r is not None and 200 <= r.status_code < 300:
                    result.replayed += r.headers.get("idempotent-replayed") == "true"
                    if twin:
                        return
                    result.acked_keys.add(key)
                    result.latency_ms.append(1000 * (now - due))
                    result.ack_times.append(now - t0)
                    result.retried += attempt > 1
                    return
                if r is not None:
                    if not r.headers.get("content-type", "").startswith("application/problem+json"):
                        result.not_problem_json += 1
                    if r.status_code in (429, 503):
                        retry_after = r.headers.get("retry-after")
                        if retry_after is None or not retry_after.isdigit():
                            result.without_retry_after += 1
                        else:
                            wait = min(float(retry_after), config.retry_after_cap)
                    if r.status_code not in RETRY_STATUSES:
                        if not twin:
                            result.failed[last] += 1  # a final answer: the request itself is refused
                        return
                wait = max(wait, delay * (0.5 + rng.random()))  # jittered exponential backoff
                delay = min(delay * 2, config.backoff_max)
                if now + wait > give_up:
                    if not twin:
                        result.failed[last] += 1
                    return
                await asyncio.sleep(wait)

        side = asyncio.create_task(during(result, t0)) if during else None
        tasks: list[asyncio.Task] = []
        twins: list[asyncio.Task] = []
        for i in range(n):
            due = t0 + i / config.rate
            pause = due - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            tasks.append(asyncio.create_task(one(i)))
        result.due = n
        done, pending = await asyncio.wait(tasks, timeout=config.drain_timeout)
        for task in pending:
            task.cancel()
        if twins:
            _, late_twins = await asyncio.wait(twins, timeout=max(1.0, config.timeout))
            for task in late_twins:
                task.cancel()
        result.failed["unfinished (drain timeout)"] += len(pending)
        for task in done:
            if task.exception() is not None:
                result.failed[f"client error {type(task.exception()).__name__}"] += 1
        if side is not None:
            try:
                await asyncio.wait_for(side, timeout=config.drain_timeout)
            except TimeoutError:
                side.cancel()
        result.elapsed_s = loop.time() - t0
    finally:
        for c in clients:
            await c.aclose()
    result.client_cpu_s = time.process_time() - cpu0
    if result.failed.get("unfinished (drain timeout)") == 0:
        del result.failed["unfinished (drain timeout)"]
    return result


# -- request bodies -------------------------------------------------------------------------------------


def township_outline():
    """The demo township's polygon (shapely)."""
    from shapely.geometry import shape

    with (DEMO_DIR / "areas.geojson").open(encoding="utf-8") as fh:
        areas = json.load(fh)["features"]
    outlines = [shape(f["geometry"]) for f in areas if f["properties"]["level"] == "township"]
    if len(outlines) != 1:
        raise RuntimeError(f"expected one township in the demo, found {len(outlines)}")
    return outlines[0]


def intake_bodies(categories: list[str], *, seed: int = 1) -> BodyMaker:
    """Bodies with a random category and a random point in the demo township; the description holds the key."""
    import shapely

    polygon = township_outline()
    shapely.prepare(polygon)
    minx, miny, maxx, maxy = polygon.bounds

    def make(i: int, key: str) -> dict:
        rng = random.Random(seed * 1_000_003 + i)  # the same body for the same i, always
        while True:
            lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if shapely.contains_xy(polygon, lon, lat):
                break
        return {
            "category": categories[i % len(categories)],
            "description": f"load test {key}",
            "lon": round(lon, 7),
            "lat": round(lat, 7),
            "channel": "web",
        }

    return make


def category_codes(base_url: str) -> list[str]:
    check_loopback(base_url)
    groups = httpx.get(f"{base_url}/api/v1/categories", timeout=30).raise_for_status().json()
    return [k["code"] for g in groups for k in g["kinds"]]


# -- the database -------------------------------------------------------------------------------------


@dataclass
class Stored:
    rows: int
    keys: set[str]
    unkeyed: int  # rows not stored under their own key (scoped to the client's address)


def _plain_engine(url: str):
    """An engine for reading rows: no SpatiaLite needed for a plain SELECT."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url)


def count_stored(url: str, key_prefix: str) -> Stored:
    """Rows stored for ``key_prefix``'s requests (each description holds its key): how many, their
    keys, and how many were not stored under their key."""
    engine = _plain_engine(url)
    try:
        with engine.connect() as conn:
            keys, unkeyed = stored_under_keys(conn, "load test ", key_prefix)
    finally:
        engine.dispose()
    return Stored(rows=len(keys), keys=set(keys), unkeyed=unkeyed)


@dataclass
class Reconciled:
    sent: int
    acknowledged: int
    stored: int
    lost: int  # acknowledged, not stored
    duplicates: int  # rows beyond one per request
    stored_unacknowledged: int  # stored, but the client never saw a 2xx (it gave up, or a final error)
    unkeyed: int = 0  # stored, but not under the request's own Idempotency-Key

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.unkeyed == 0


def reconcile(result: LoadResult, stored: Stored) -> Reconciled:
    return Reconciled(
        sent=result.sent,
        acknowledged=result.acked,
        stored=stored.rows,
        lost=len(result.acked_keys - stored.keys),
        duplicates=stored.rows - len(stored.keys),
        stored_unacknowledged=len(stored.keys - result.acked_keys),
        unkeyed=stored.unkeyed,
    )


def load_demo_into(url: str, *, password: str = "demo-password") -> None:
    """Migrate and load the demo community (as ``neighborgrid load-demo`` does)."""
    from service.bootstrap import prepare_database
    from service.config import Settings
    from service.db import Database
    from service.demo.loader import load_demo

    settings = Settings(database_url=url, demo_password=password, json_logs=False)
    db = Database.from_settings(settings)
    try:
        prepare_database(db)
        with db.transaction() as session:
            load_demo(session, settings=settings)
    finally:
        db.dispose()


# -- the server -----------------------------------------------------------------------------------------


# -- PostgreSQL ------------------------------------------------------------------------------------------

#: Clusters this tool creates (and alone may stop or restart): a shared server is never touched.
THROWAWAY_PREFIX = "ngthrow"


def postgres_cluster(port: int) -> tuple[str, str]:
    """(version, name) of the local cluster listening on ``port`` (Debian's pg_lsclusters)."""
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == str(port):
            return parts[0], parts[1]
    raise RuntimeError(f"no local PostgreSQL cluster on port {port}")


def _run(cmd: list[str], timeout: float = 120) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def pg_ctl(url: str, action: str) -> float:
    """``pg_ctlcluster <version> <name> <action>`` for the local cluster of ``url``; returns seconds taken.
    Only a cluster made by ``throwaway_cluster`` may be stopped or restarted."""
    parsed = make_url(url)
    if parsed.host not in LOOPBACK:
        raise ValueError(f"refusing to {action} a PostgreSQL server that is not local ({parsed.host})")
    version, name = postgres_cluster(parsed.port or 5432)
    if action != "start" and not name.startswith(THROWAWAY_PREFIX):
        raise ValueError(f"refusing to {action} cluster {version}/{name}: only throwaway clusters of this tool")
    started = time.monotonic()
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action]
    if action in ("stop", "restart"):
        cmd += ["--", "-m", "fast"]  # disconnect the clients at once, as a crash or a failover would
    _run(cmd)
    return time.monotonic() - started


def restart_postgres(url: str, *, down_seconds: float = 0.0) -> float:
    """Restart the local PostgreSQL cluster; with ``down_seconds``, keep it stopped that long first.
    Always leaves it running. Returns the seconds it was unavailable (at least)."""
    if down_seconds <= 0:
        return pg_ctl(url, "restart")
    started = time.monotonic()
    try:
        pg_ctl(url, "stop")
        time.sleep(down_seconds)
    finally:
        pg_ctl(url, "start")
    return time.monotonic() - started


def can_make_clusters() -> str | None:
    """Why ``throwaway_cluster`` cannot work here, or None when it can (Debian postgresql-common, root)."""
    missing = [
        c for c in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_lsclusters") if not shutil.which(c)
    ]
    if missing:
        return f"{', '.join(missing)} not found (Debian's postgresql-common)"
    if os.geteuid() != 0:
        return "creating a PostgreSQL cluster needs root (pg_createcluster runs initdb as postgres)"
    if not _pg_versions():
        return "no PostgreSQL server binaries in /usr/lib/postgresql"
    return None


def _pg_versions() -> list[str]:
    base = Path("/usr/lib/postgresql")
    found = [p.name for p in base.iterdir() if (p / "bin" / "postgres").exists()] if base.is_dir() else []
    return sorted(found, key=lambda v: int(v) if v.isdigit() else 0)


@contextmanager
def throwaway_cluster(*, version: str | None = None) -> Iterator[str]:
    """A new local PostgreSQL cluster of its own, trust auth on loopback, started; dropped when the block
    ends. Yields the server URL (database ``postgres``). Restarting it disturbs no one else."""
    reason = can_make_clusters()
    if reason:
        raise RuntimeError(reason)
    version = version or _pg_versions()[-1]
    name = f"{THROWAWAY_PREFIX}{uuid.uuid4().hex[:8]}"
    port = free_port()
    _run(["pg_createcluster", version, name, "--port", str(port), "--start-conf", "manual", "--", "--auth=trust"])
    try:
        _run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"])
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        wait_postgres(url)
        yield url
    finally:
        _run(["pg_dropcluster", "--stop", version, name])


def copy_database(source_url: str, server_url: str) -> str:
    """A copy of the database ``source_url`` in a new database on ``server_url`` (pg_dump | pg_restore,
    across clusters of the same version); returns its URL. Faster than loading the demo again."""
    src, server = make_url(source_url), make_url(server_url)
    name = f"ng_copy_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        server.set(drivername="postgresql+psycopg", database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()

    def libpq(u, database: str) -> list[str]:
        return ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres", "-d", database]

    def env(u) -> dict[str, str]:
        return {**os.environ, **({"PGPASSWORD": u.password} if u.password else {})}

    dump = subprocess.Popen(
        ["pg_dump", "-Fc", "--no-owner", *libpq(src, src.database)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env(src),
    )
    restore = subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", *libpq(server, name)],
        stdin=dump.stdout,
        capture_output=True,
        text=True,
        timeout=300,
        env=env(server),
    )
    dump.stdout.close()
    if dump.wait(timeout=300) != 0 or restore.returncode != 0:
        raise RuntimeError(f"copying {src.database} failed:\n{restore.stderr[-3000:]}")
    return server.set(database=name).render_as_string(hide_password=False)


def wait_postgres(url: str, timeout: float = 60.0) -> None:
    engine = _plain_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()


# -- the command line -------------------------------------------------------------------------------------


def _fmt_ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def report(result: LoadResult, rec: Reconciled) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in sorted(result.errors().items())) or "none"
    failed = ", ".join(f"{k} {v}" for k, v in sorted(result.failed.items())) or "none"
    c = result.config
    lines = [
        f"open loop at {c.rate:g} req/s for {c.seconds:g} s ({result.due:,} due), at most {c.max_in_flight} in flight",
        f"sent {rec.sent:,}  acknowledged {rec.acknowledged:,}  stored {rec.stored:,}  lost {rec.lost}  "
        f"duplicates {rec.duplicates}, not under their key {rec.unkeyed}  "
        f"(stored but never acknowledged: {rec.stored_unacknowledged})",
        f"latency, intended send -> acknowledged, retries included: p50 {_fmt_ms(result.pct(50))}  "
        f"p95 {_fmt_ms(result.pct(95))}  p99 {_fmt_ms(result.pct(99))}  max {_fmt_ms(max(result.latency_ms or [0]))}",
        f"non-2xx attempts: {errors}; requests retried: {result.retried}, replayed: {result.replayed}",
        f"never acknowledged: {failed}; 429/503 without Retry-After: {result.without_retry_after}; "
        f"errors not problem+json: {result.not_problem_json}",
        f"achieved {result.acked / max(result.elapsed_s, 1e-9):,.0f} acknowledged/s over {result.elapsed_s:.1f} s; "
        f"client CPU {1000 * result.client_cpu_s / max(result.due, 1):.2f} ms per request",
    ]
    for label, at in sorted(result.marks.items(), key=lambda kv: kv[1]):
        lines.append(f"  {label} at {at:.1f} s")
    return "\n".join(lines)


def outage_window(result: LoadResult) -> tuple[float, float] | None:
    """First and last time (s into the run) an attempt got something other than a 2xx."""
    bad = [t for t, outcome in result.status_times if not outcome.startswith("HTTP 2")]
    return (min(bad), max(bad)) if bad else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgis", "spatialite"), default="postgis")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (2)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (200)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send (60)")
    parser.add_argument("--max-in-flight", type=int, default=32, help="connections (32)")
    parser.add_argument("--timeout", type=float, default=15.0, help="per attempt, s (15)")
    parser.add_argument("--give-up-after", type=float, default=60.0, help="per request, s after its due time (60)")
    parser.add_argument("--restart-db-at", type=float, help="restart PostgreSQL this many seconds into the run")
    parser.add_argument("--down-seconds", type=float, default=0.0, help="keep PostgreSQL stopped this long (0)")
    parser.add_argument("--url", help="an already running server on loopback (no fresh database; no row count)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-log", type=Path, help="copy the server log here")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.rate * args.seconds > 100_000:
        parser.error("--rate and --seconds must be positive, and rate x seconds at most 100,000")
    if args.restart_db_at is not None and args.backend != "postgis":
        parser.error("--restart-db-at needs --backend postgis")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the server, drop the database

    def config(base_url: str) -> LoadConfig:
        return LoadConfig(
            base_url=base_url,
            rate=args.rate,
            seconds=args.seconds,
            max_in_flight=args.max_in_flight,
            timeout=args.timeout,
            give_up_after=args.give_up_after,
            seed=args.seed,
        )

    if args.url:
        cfg = config(args.url.rstrip("/"))
        result = asyncio.run(run_load(cfg, intake_bodies(category_codes(cfg.base_url), seed=args.seed)))
        print(report(result, Reconciled(result.sent, result.acked, -1, -1, -1, -1)))
        return 0 if not result.failed else 1

    if args.restart_db_at is not None and (reason := can_make_clusters()):
        parser.error(f"--restart-db-at restarts a throwaway PostgreSQL cluster of its own: {reason}")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ng-load-")))
        cluster = stack.enter_context(throwaway_cluster()) if args.restart_db_at is not None else None
        if cluster:
            print(f"throwaway PostgreSQL cluster {postgres_cluster(make_url(cluster).port)} at {cluster}", flush=True)
        url = stack.enter_context(fresh_database(args.backend, tmp, server_url=cluster))
        t = time.perf_counter()
        load_demo_into(url)
        print(f"fresh {args.backend} database with the demo in {time.perf_counter() - t:.1f} s", flush=True)

        async def restart(result: LoadResult, t0: float) -> None:
            if args.restart_db_at is None:
                return
            loop = asyncio.get_running_loop()
            await asyncio.sleep(max(0.0, t0 + args.restart_db_at - loop.time()))
            result.marks["PostgreSQL restart begins"] = loop.time() - t0
            took = await asyncio.to_thread(restart_postgres, url, down_seconds=args.down_seconds)
            result.marks[f"PostgreSQL back (restart took {took:.1f} s)"] = loop.time() - t0

        with serve(url, workers=args.workers, tmp=tmp) as server:
            cfg = config(server.base_url)
            bodies = intake_bodies(category_codes(server.base_url), seed=args.seed)
            cpu0 = server.cpu_seconds()
            result = asyncio.run(run_load(cfg, bodies, during=restart))
            server_cpu = server.cpu_seconds() - cpu0
            ready_after = httpx.get(f"{server.base_url}/readyz", timeout=10).status_code
        problems = server.log_problems(outage=args.restart_db_at is not None)
        if args.keep_log:
            args.keep_log.write_text(server.log_text())
        rec = reconcile(result, count_stored(url, cfg.key_prefix))

    print(
        f"{args.backend}, neighborgrid serve --workers {args.workers}, scheduler on; "
        f"{os.cpu_count()} CPUs, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(report(result, rec))
    print(
        f"server CPU (both workers) during the run: {server_cpu:.1f} s, "
        f"{1000 * server_cpu / max(rec.stored, 1):.0f} ms per stored request (PostgreSQL's own CPU not included)"
    )
    window = outage_window(result)
    if args.restart_db_at is not None:
        acked_after = sum(1 for t in result.ack_times if window and t > window[1])
        print(
            f"outage seen by the client: {f'{window[0]:.1f}-{window[1]:.1f} s' if window else 'none'}; "
            f"acknowledged after it: {acked_after:,}; /readyz after the run: {ready_after}"
        )
    print(f"server log: {len(problems)} error lines (5xx other than 503, tracebacks)")
    for line in problems[:5]:
        print("   ", line[:300])
    fives = sum(v for k, v in result.attempts.items() if re.fullmatch(r"HTTP 5\d\d", k) and k != "HTTP 503")
    ok = rec.ok and not result.failed and fives == 0 and not problems and rec.stored == rec.acknowledged
    print(
        f"\nSUMMARY load_intake: {args.backend} {args.rate:g}/s x {args.seconds:g} s, {args.workers} workers"
        f"{', PostgreSQL restarted' if args.restart_db_at is not None else ''}: sent {rec.sent:,}, "
        f"acknowledged {rec.acknowledged:,}, stored {rec.stored:,}, lost {rec.lost}, duplicates {rec.duplicates}, "
        f"p50 {_fmt_ms(result.pct(50))} p95 {_fmt_ms(result.pct(95))} p99 {_fmt_ms(result.pct(99))}, "
        f"5xx other than 503: {fives}: {'OK' if ok else 'PROBLEM'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
