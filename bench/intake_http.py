"""Request intake over real HTTP at a steady open-loop rate, against a no-op endpoint of the same app.

What it measures
    1. Creates a fresh database — PostGIS: a new database ``ng_bench_<random>`` on the server
       (``NEIGHBORGRID_BENCH_POSTGIS_URL``, default the local trust-auth server), ``CREATE EXTENSION
       postgis``, dropped at the end; SpatiaLite: a file in a temporary folder — then migrates it
       (``prepare_database``) and loads the demo (``load_demo``), as ``tests/support`` does.
    2. Starts the service as in production, in a subprocess: ``python -m service.cli serve
       --workers W`` (uvicorn, access log on, the SLA scheduler ON), on a free loopback port.
       One exception: the per-IP intake limit (``NEIGHBORGRID_INTAKE_RATE_PER_IP``) is set to 0,
       because every request comes from 127.0.0.1 and the limit would measure itself
       (``--keep-ip-limit`` keeps it).
    3. Warms up (a few requests of each kind, not counted), then drives three phases with an
       asyncio client (aiohttp; ``--client httpx`` for comparison) at an **open-loop** steady
       rate: request i is due at t0 + i/rate and is sent then whether or not earlier ones have
       answered. At most ``--connections`` are in flight; a request due while all are busy waits
       for one (that wait counts in its latency), and is given up unsent if none frees within
       ``--timeout`` of its due time:
       a. ``GET /healthz`` (no-op) for ``--seconds`` at ``--rate`` — the baseline;
       b. ``POST /api/v1/requests`` for ``--seconds`` at ``--rate``, each with a unique
          ``Idempotency-Key``, a random category from ``GET /api/v1/categories`` and a random point
          inside the demo township (seeded);
       c. ``GET /healthz`` again for ``--after-seconds``: the server just after the intake phase,
          with every new request open and the scheduler ticking over them.
    4. Reconciles with the database: rows stored under this run's keys against rows acknowledged
       (2xx); lost = acknowledged but not stored, unacknowledged = stored but the client saw an
       error; duplicates = rows minus distinct keys; each row's stored key must be its own key's
       hash scoped to the client's address (the service keeps no raw Idempotency-Key).

Latency accounting
    The latency printed is **schedule-based**: from the request's *intended* send time to the end
    of its response body, so queueing anywhere (server, client connections, or the load generator
    itself running late) is included and coordinated omission cannot hide it. Percentiles are over
    every due request, a failed or unsent one counting as infinitely slow ("fail"), so errors
    cannot flatter them either. Beside it: the same over 2xx only, the service time (from the
    actual send), the wait for a connection, and the generator's own lateness.

Run
    .venv/bin/python bench/intake_http.py                                   # PostGIS, 200/s, 60 s
    .venv/bin/python bench/intake_http.py --rate 50 --seconds 60 --workers 2
    .venv/bin/python bench/intake_http.py --backend spatialite --rate 20 --seconds 20

Extra dependency: ``.venv/bin/pip install aiohttp`` (the load client; httpx, installed, costs
about 5 ms of client CPU per request on this 2-core machine against aiohttp's 0.3-0.4 ms, so at
200 requests/s it would take a whole core from the server it measures).

Loopback only; bounded by rate x seconds requests per phase plus ``--drain-timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import math
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from _common import (
    ROOT,
    ServerProcess,
    fresh_database,
    machine,
    pct,
    points_in,
    stored_under_keys,
    table,
    township,
)
from _common import serve as served
from sqlalchemy import create_engine, text

from service.bootstrap import prepare_database
from service.config import Settings
from service.db import Database
from service.demo.loader import load_demo

# -- the database and the server ------------------------------------------------------------------


def load(url: str) -> float:
    """Migrate and load the demo; returns the seconds it took."""
    t = time.perf_counter()
    settings = Settings(database_url=url, demo_password=secrets.token_urlsafe(12))
    db = Database.from_settings(settings)
    try:
        prepare_database(db)
        with db.transaction() as session:
            if "settings" in inspect.signature(load_demo).parameters:
                load_demo(session, settings=settings)
            else:  # the loader's older signature
                load_demo(session, demo_dir=settings.demo_dir, password=settings.demo_password)
    finally:
        db.dispose()
    return time.perf_counter() - t


class Server(ServerProcess):
    """The served app, with readers of its log for the summary."""

    def entries(self) -> list[tuple[str, str, str]]:
        """(level, message, traceback) per log record; JSON lines (the service's own format) or plain
        text (uvicorn's default), where a traceback follows its record on lines of its own."""
        out: list[tuple[str, str, str]] = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            record = None
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
            if isinstance(record, dict):
                out.append(
                    (str(record.get("level", "")).lower(), str(record.get("msg", "")), record.get("error") or "")
                )
            elif out and not line.startswith(("INFO:", "WARNING:", "ERROR:", "DEBUG:", "CRITICAL:")):
                level, msg, tb = out[-1]
                out[-1] = (level, msg, f"{tb}\n{line}" if tb else line)
            else:
                level = line.split(":", 1)[0].lower() if ":" in line else ""
                out.append((level, line.split(":", 1)[-1].strip(), ""))
        return out

    def log_problems(self) -> tuple[int, list[str]]:
        """How many log records are errors (or carry a traceback), and a digest of the first one:
        its message, the frames in this project's code and the exception lines."""
        bad = [(m, tb) for level, m, tb in self.entries() if level in ("error", "critical") or "Traceback" in tb]
        if not bad:
            return 0, []
        msg, tb = bad[0]
        ours = (f'File "{ROOT}/service', f'File "{ROOT}/geo')
        digest = [msg]
        for line in tb.splitlines():
            stripped = line.strip()
            if stripped.startswith(ours) or (line and not line[0].isspace() and "Traceback" not in line):
                digest.append(line)
        return len(bad), digest[:15]

    def worker_deaths(self) -> list[str]:
        """uvicorn's supervisor messages about worker processes it found dead or unresponsive."""
        return [m for _, m, _ in self.entries() if "died" in m or "not ready in time" in m]


def serve(url: str, workers: int, tmp: Path, *, keep_ip_limit: bool = False):
    """``neighborgrid serve --workers N`` with the scheduler on, as in production; the per-IP intake
    limit is off unless ``keep_ip_limit`` (all the load comes from one address)."""
    env = {"NEIGHBORGRID_SCHEDULER_ENABLED": "true"}
    if keep_ip_limit:
        env["NEIGHBORGRID_INTAKE_RATE_PER_IP"] = str(Settings.model_fields["intake_rate_per_ip"].default)
    return served(url, tmp=tmp, workers=workers, env=env, cls=Server)


# -- the load generator -------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    rate: float
    seconds: float
    due: int = 0  # requests the schedule called for
    sent: int = 0  # requests that got a connection and went on the wire
    latency_ms: list[float] = field(default_factory=list)  # intended send -> response end, 2xx only
    service_ms: list[float] = field(default_factory=list)  # actual send -> response end, 2xx only
    queued_ms: list[float] = field(default_factory=list)  # intended -> actual send (client queue), every sent
    late_ms: list[float] = field(default_factory=list)  # generator lateness: intended -> task start, every due
    outcomes: Counter = field(default_factory=Counter)  # "2xx", "HTTP 500", "ReadTimeout", ...
    acked_keys: set = field(default_factory=set)
    first_send: float = 0.0
    last_send: float = 0.0
    last_done: float = 0.0
    client_cpu_s: float = 0.0  # the load generator's own CPU time during the phase

    @property
    def ok(self) -> int:
        return self.outcomes["2xx"]

    @property
    def errors(self) -> dict:
        return {k: v for k, v in self.outcomes.items() if k != "2xx"}

    @property
    def send_rate(self) -> float:
        span = self.last_send - self.first_send
        return (self.sent - 1) / span if span > 0 and self.sent > 1 else float("nan")

    @property
    def throughput(self) -> float:
        span = self.last_done - self.first_send
        return self.ok / span if span > 0 else float("nan")


NOT_SENT = "not sent (no free connection within the timeout)"


class AiohttpClient:
    """The default load-generator client: about 0.3-0.4 ms of CPU per request here (httpx: about 5)."""

    def __init__(self, base_url: str, connections: int, timeout: float) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            base_url,
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def request(self, method: str, path: str, **kwargs) -> tuple[int, bytes]:
        async with self.session.request(method, path, **kwargs) as r:
            return r.status, await r.read()

    async def close(self) -> None:
        await self.session.close()


class HttpxClient:
    """httpx.AsyncClient, for comparison (``--client httpx``): it costs far more CPU per request."""

    def __init__(self, base_url: str, connections: int, timeout: float) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.client = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=httpx.Timeout(timeout))

    async def request(self, method: str, path: str, **kwargs) -> tuple[int, bytes]:
        r = await self.client.request(method, path, **kwargs)
        return r.status_code, r.content

    async def close(self) -> None:
        await self.client.aclose()


async def run_phase(
    client: AiohttpClient | HttpxClient,
    phase: Phase,
    make: Callable[[int], tuple[str, str, dict]],
    *,
    connections: int,
    timeout: float,
    drain_timeout: float,
) -> Phase:
    """Send ``make(i)`` = (method, path, kwargs) due at t0 + i / rate, open loop; record every outcome.

    At most ``connections`` requests are in flight (client pools can get slow with thousands of
    queued requests, which would make the load generator the bottleneck); a request due while all
    are busy waits in an asyncio queue, and that wait counts in its latency. One that finds no
    free connection within ``timeout`` of its due time is given up unsent, and counted.
    """
    loop = asyncio.get_running_loop()
    phase.due = round(phase.rate * phase.seconds)
    slots = asyncio.Semaphore(connections)
    t0 = loop.time() + 0.05
    phase.first_send = t0
    cpu0 = time.process_time()

    async def one(i: int, intended: float) -> None:
        method, path, kwargs = make(i)
        phase.late_ms.append((loop.time() - intended) * 1000)
        try:
            async with asyncio.timeout_at(intended + timeout):
                await slots.acquire()
        except TimeoutError:
            phase.outcomes[NOT_SENT] += 1
            return
        try:
            sent = loop.time()
            phase.sent += 1
            phase.last_send = max(phase.last_send, sent)
            phase.queued_ms.append((sent - intended) * 1000)
            try:
                status, _body = await client.request(method, path, **kwargs)
            except Exception as exc:  # every failure is counted, by exception type
                phase.outcomes[type(exc).__name__] += 1
                return
        finally:
            slots.release()
        done = loop.time()
        phase.last_done = max(phase.last_done, done)
        if 200 <= status < 300:
            phase.outcomes["2xx"] += 1
            phase.latency_ms.append((done - intended) * 1000)
            phase.service_ms.append((done - sent) * 1000)
            key = kwargs.get("headers", {}).get("Idempotency-Key")
            if key is not None:
                phase.acked_keys.add(key)
        else:
            phase.outcomes[f"HTTP {status}"] += 1

    tasks = []
    for i in range(phase.due):
        intended = t0 + i / phase.rate
        delay = intended - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, intended)))
    _, pending = await asyncio.wait(tasks, timeout=drain_timeout) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
        phase.outcomes["unfinished after the drain timeout"] += len(pending)
    phase.client_cpu_s = time.process_time() - cpu0
    return phase


async def drive(base_url: str, args, points: np.ndarray, run_id: str) -> tuple[list[Phase], list[str]]:
    rng = random.Random(args.seed)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as setup:
        r = await setup.get("/api/v1/categories")
        r.raise_for_status()
        codes = [k["code"] for g in r.json() for k in g["kinds"]]
    picks = [rng.choice(codes) for _ in range(len(points))]
    client = (AiohttpClient if args.client == "aiohttp" else HttpxClient)(base_url, args.connections, args.timeout)
    try:

        def intake(prefix: str) -> Callable[[int], tuple[str, str, dict]]:
            def make(i: int) -> tuple[str, str, dict]:
                lon, lat = points[i % len(points)]
                key = f"{prefix}{i:07d}"
                body = {"category": picks[i % len(picks)], "description": f"benchmark {key}", "lon": lon, "lat": lat}
                return "POST", "/api/v1/requests", {"json": body, "headers": {"Idempotency-Key": key}}

            return make

        def healthz(_i: int) -> tuple[str, str, dict]:
            return "GET", "/healthz", {}

        opts = {"connections": args.connections, "timeout": args.timeout, "drain_timeout": args.drain_timeout}
        # Warm-up: connections, each worker's caches (walking graph) and code paths; not reported.
        warm_rate = min(args.rate, 10.0)
        await run_phase(client, Phase("warm-up", warm_rate, 2), healthz, **opts)
        await run_phase(client, Phase("warm-up", warm_rate, 2), intake(f"bench-{run_id}-warm-"), **opts)

        phases = [await run_phase(client, Phase("GET /healthz", args.rate, args.seconds), healthz, **opts)]
        intake_phase = Phase("POST /api/v1/requests", args.rate, args.seconds)
        phases.append(await run_phase(client, intake_phase, intake(f"bench-{run_id}-req-"), **opts))
        if args.after_seconds > 0:
            after = Phase("GET /healthz, after intake", args.rate, args.after_seconds)
            phases.append(await run_phase(client, after, healthz, **opts))
    finally:
        await client.close()
    return phases, codes


# -- the database check ---------------------------------------------------------------------------------


def reconcile(url: str, run_id: str) -> dict:
    engine = (
        create_engine(url)
        if not url.startswith("sqlite")
        else Database.from_settings(Settings(database_url=url)).engine
    )
    key_prefix = f"bench-{run_id}-req-"
    # descriptions hold the keys; the database only their hashes
    like = f"benchmark {key_prefix}".replace("_", "\\_") + "%"
    try:
        with engine.connect() as conn:
            keys, unkeyed = stored_under_keys(conn, "benchmark ", key_prefix)
            mine = "FROM requests WHERE description LIKE :p ESCAPE '\\'"
            with_volunteer = conn.execute(
                text(f"SELECT count(*) {mine} AND volunteer_id IS NOT NULL"), {"p": like}
            ).scalar_one()
            with_grid = conn.execute(text(f"SELECT count(*) {mine} AND grid_id IS NOT NULL"), {"p": like}).scalar_one()
            actions = dict(conn.execute(text("SELECT action, count(*) FROM request_events GROUP BY action")).all())
            outbox = conn.execute(
                text("SELECT count(*) FROM outbox_events WHERE topic = 'request.created'")
            ).scalar_one()
            all_requests = conn.execute(text("SELECT count(*) FROM requests")).scalar_one()
    finally:
        engine.dispose()
    return {
        "keys": keys,
        "unkeyed": unkeyed,
        "with_volunteer": with_volunteer,
        "with_grid": with_grid,
        "actions": actions,
        "outbox_created": outbox,
        "all_requests": all_requests,
    }


def due_pct(phase: Phase, q: float) -> float:
    """Schedule-based percentile over every due request; failed or unsent ones count as infinite."""
    values = phase.latency_ms + [math.inf] * (phase.due - phase.ok)
    return float(np.percentile(values, q, method="inverted_cdf")) if values else math.nan


def fmt_ms(value: float) -> str:
    return "fail" if math.isinf(value) else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def fmt_ratio(value: float) -> str:
    return "-" if math.isnan(value) or math.isinf(value) else f"{value:,.1f}x"


# -- main ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second in each phase (200)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the no-op and intake phases (60)")
    parser.add_argument("--after-seconds", type=float, default=10.0, help="no-op phase after intake (10; 0: none)")
    parser.add_argument("--backend", choices=("postgis", "spatialite"), default="postgis")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (2 = nproc here)")
    parser.add_argument("--connections", type=int, default=64, help="client connections = max requests in flight (64)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request client timeout, s (30)")
    parser.add_argument("--drain-timeout", type=float, default=60.0, help="wait for stragglers after a phase, s (60)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for points and categories (1)")
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp", help="load client (aiohttp)")
    parser.add_argument(
        "--keep-ip-limit",
        action="store_true",
        help="keep the service's per-IP intake limit (off by default: every request comes from 127.0.0.1)",
    )
    parser.add_argument("--keep-log", type=Path, help="copy the server's log (access log included) here")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.workers < 1 or args.connections < 1:
        parser.error("--rate, --seconds, --workers and --connections must be positive")
    if args.rate * max(args.seconds, args.after_seconds) > 100_000:
        parser.error("at most 100,000 requests per phase")

    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the server is stopped and the database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run_id = uuid.uuid4().hex[:8]
    points = points_in(township(), max(1, round(args.rate * args.seconds)), np.random.default_rng(args.seed))
    with (
        tempfile.TemporaryDirectory(prefix="ng-bench-") as tmp_name,
        fresh_database(args.backend, Path(tmp_name)) as url,
    ):
        tmp = Path(tmp_name)
        load_s = load(url)
        with serve(url, args.workers, tmp, keep_ip_limit=args.keep_ip_limit) as server:
            phases, codes = asyncio.run(drive(server.base_url, args, points, run_id))
        n_log_errors, first_tb = server.log_problems()  # after the server stopped: its log is complete
        deaths = server.worker_deaths()
        if args.keep_log:
            shutil.copyfile(server.log_path, args.keep_log)
        db = reconcile(url, run_id)

    noop, intake = phases[0], phases[1]
    stored = set(db["keys"])
    lost = intake.acked_keys - stored
    unacked = stored - intake.acked_keys
    duplicates = len(db["keys"]) - len(stored)

    print(
        f"intake over HTTP: {args.backend}, uvicorn --workers {args.workers}, scheduler on, per-IP intake limit "
        f"{'kept' if args.keep_ip_limit else 'off'}; open loop at "
        f"{args.rate:g} req/s for {args.seconds:g} s per phase; {len(codes)} categories"
    )
    print(f"({machine()}; fresh database migrated and demo loaded in {load_s:.1f} s)\n")
    print(
        "latency = schedule-based: from the intended send time to the end of the response, over ALL due "
        "requests;\na request that failed or was never sent counts as infinitely slow ('fail')"
    )
    rows = []
    for p in phases:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(p.errors.items())) or "-"
        rows.append(
            (
                p.name,
                p.due,
                p.sent,
                p.ok,
                errors,
                due_pct(p, 50),
                due_pct(p, 95),
                due_pct(p, 99),
                p.send_rate,
                p.throughput,
            )
        )
    header = ("phase", "due", "sent", "2xx", "errors", "p50 ms", "p95 ms", "p99 ms", "sent/s", "2xx/s")
    print(table(rows, header, inf_text="fail"))
    print(
        "\nfor comparison (ms): schedule-based over 2xx only; service time = actual send -> response end (2xx); "
        "client queue = intended -> actual send (waiting for one of the connections); generator lateness = "
        "intended -> the generator's task start; client CPU = the load generator's CPU ms per due request"
    )
    rows = [
        (
            p.name,
            pct(p.latency_ms, 50),
            pct(p.latency_ms, 99),
            pct(p.service_ms, 50),
            pct(p.service_ms, 99),
            pct(p.queued_ms, 99),
            pct(p.late_ms, 99),
            max(p.late_ms, default=0.0),
            1000 * p.client_cpu_s / max(p.due, 1),
        )
        for p in phases
    ]
    header = (
        "phase",
        "2xx p50",
        "2xx p99",
        "service p50",
        "service p99",
        "queue p99",
        "late p99",
        "late max",
        "client CPU/req",
    )
    print(table(rows, header))

    ratio50 = due_pct(intake, 50) / due_pct(noop, 50)
    ratio99 = due_pct(intake, 99) / due_pct(noop, 99)
    print(
        f"\nintake / no-op latency: schedule-based p50 {fmt_ratio(ratio50)}, p99 {fmt_ratio(ratio99)}; "
        f"over 2xx only p50 {fmt_ratio(pct(intake.latency_ms, 50) / pct(noop.latency_ms, 50))}; "
        f"service time p50 {fmt_ratio(pct(intake.service_ms, 50) / pct(noop.service_ms, 50))}"
    )
    print(
        f"rows: sent {intake.sent:,}, acknowledged {intake.ok:,}, stored {len(stored):,} "
        f"(lost = acknowledged but not stored: {len(lost)}; stored but not acknowledged: {len(unacked)}; "
        f"duplicate rows: {duplicates}, rows not under their own key: {db['unkeyed']})"
    )
    print(
        f"stored requests with a grid: {db['with_grid']:,}, with a volunteer: {db['with_volunteer']:,}; "
        f"'request.created' outbox events (incl. warm-up): {db['outbox_created']:,} for {db['all_requests']:,} "
        f"requests; audit events by action: {dict(sorted(db['actions'].items()))}"
    )
    print(f"server log: {n_log_errors} error/traceback lines; uvicorn worker restarts: {len(deaths)}")
    for line in deaths[:5]:
        print(f"    {line[:200]}")
    for line in first_tb:
        print(f"    {line[:200]}")

    integrity = not lost and duplicates == 0 and len(stored) == intake.ok
    server_errors = sum(v for k, v in intake.errors.items() if k.startswith("HTTP 5"))
    sustained = intake.ok == intake.due and intake.throughput >= 0.95 * args.rate
    ok = integrity and sustained and not intake.errors
    print(
        f"\nSUMMARY intake_http: {args.backend} {args.rate:g} req/s x {args.seconds:g} s: "
        f"{intake.ok:,}/{intake.due:,} due acknowledged, achieved {intake.throughput:.0f}/s "
        f"({'sustained' if sustained else 'rate NOT sustained'}), "
        f"p50 {fmt_ms(due_pct(intake, 50))} p99 {fmt_ms(due_pct(intake, 99))} "
        f"(schedule-based; no-op p50 {fmt_ms(due_pct(noop, 50))}, ratio p50 {fmt_ratio(ratio50)}); "
        f"{server_errors} server errors; stored {len(stored):,} = acknowledged {intake.ok:,}, lost {len(lost)}, "
        f"duplicates {duplicates}: {'integrity OK' if integrity else 'INTEGRITY PROBLEM'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
