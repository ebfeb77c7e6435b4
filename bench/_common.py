"""Shared helpers for the benchmark scripts: demo data, random points, percentiles, tables, fresh
databases, free ports and a served app (``neighborgrid serve`` in a subprocess)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "fixtures" / "demo"


def features(name: str) -> list[dict[str, Any]]:
    """The features of one demo GeoJSON file."""
    with (DEMO_DIR / name).open(encoding="utf-8") as fh:
        return json.load(fh)["features"]


def township() -> BaseGeometry:
    """The demo township's outline (the area of level ``township``)."""
    outlines = [shape(f["geometry"]) for f in features("areas.geojson") if f["properties"]["level"] == "township"]
    if len(outlines) != 1:
        raise RuntimeError(f"expected one township in the demo, found {len(outlines)}")
    return outlines[0]


def points_in(polygon: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random lon/lat points inside ``polygon`` (rejection sampling), shape (n, 2)."""
    import shapely

    minx, miny, maxx, maxy = polygon.bounds
    shapely.prepare(polygon)
    out = np.empty((0, 2))
    while len(out) < n:
        batch = np.column_stack([rng.uniform(minx, maxx, 2 * n), rng.uniform(miny, maxy, 2 * n)])
        inside = shapely.contains_xy(polygon, batch[:, 0], batch[:, 1])
        out = np.vstack([out, batch[inside]])
    return out[:n]


def pct(values, q: float) -> float:
    """The q-th percentile (0-100) of ``values``; nan when there are none."""
    values = np.asarray(values, dtype=float)
    return float(np.percentile(values, q)) if len(values) else float("nan")


def table(rows: list[tuple], header: tuple, *, inf_text: str = "inf") -> str:
    """A plain-text table with columns padded to fit (numbers right-aligned, infinity as ``inf_text``)."""
    cells = [tuple(str(c) for c in header)] + [tuple(_fmt(c, inf_text) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for k, r in enumerate(cells):
        parts = []
        for i, c in enumerate(r):
            numeric = k > 0 and isinstance(rows[k - 1][i], int | float)
            parts.append(c.rjust(widths[i]) if numeric else c.ljust(widths[i]))
        lines.append("  ".join(parts).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value, inf_text: str = "inf") -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if value == float("inf"):
            return inf_text
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 0.01 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine() -> str:
    """One line describing where the figures were measured."""
    python = f"{platform.python_implementation()} {platform.python_version()}"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{python}, {os.cpu_count()} CPUs, {platform.machine()}, load average {load}; code {code_version()}"


def code_version() -> str:
    """The checked-out commit, marked ``+dirty`` when tracked files have uncommitted changes."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# -- databases and ports for served runs ----------------------------------------------------------

DEFAULT_POSTGIS_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def fresh_database(backend: str, tmp: Path, *, server_url: str | None = None) -> Iterator[str]:
    """A new, empty spatial database URL; a PostGIS one (on ``server_url``, else
    ``NEIGHBORGRID_BENCH_POSTGIS_URL``) is dropped when the block ends."""
    if backend == "spatialite":
        yield f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(server_url or os.environ.get("NEIGHBORGRID_BENCH_POSTGIS_URL", DEFAULT_POSTGIS_SERVER))
    if server.drivername == "postgresql":
        server = server.set(drivername="postgresql+psycopg")
    # pre-ping: a run may restart the server between CREATE and DROP
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    name = f"ng_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name)
    try:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        engine.dispose()
        yield url.render_as_string(hide_password=False)
    finally:
        _drop(admin, name, text)


def _drop(admin, name: str, text) -> None:
    """Drop the benchmark database; a few tries on fresh connections (the server may have restarted),
    then a warning naming it rather than an exception that would swallow the figures."""
    for attempt in range(3):
        admin.dispose()  # never reuse a pooled connection the server may have closed
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            break
        except Exception as exc:  # the figures are still worth printing
            if attempt == 2:
                print(f"WARNING: could not drop database {name!r} ({exc.__class__.__name__}); drop it by hand")
            time.sleep(2)
    admin.dispose()


def free_port() -> int:
    """A free TCP port on loopback for a served run."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- reconciling what was sent with what was stored ---------------------------------------------------


#: Load clients post anonymously from loopback: their Idempotency-Keys are scoped to that address.
LOOPBACK = "127.0.0.1"


def stored_under_keys(conn, text_before: str, key_prefix: str, *, scope: str | None = None) -> tuple[list[str], int]:
    """The client keys of the rows a run stored, one per row, and how many rows were not stored under
    their own key. Each body's description is ``text_before`` + its Idempotency-Key, and the run's
    keys start with ``key_prefix``; the database keeps only the caller-scoped hash of a key. ``scope``
    is the posting caller's (default: an anonymous one on loopback, as the service names it)."""
    from sqlalchemy import text

    from service.requests.intake import scoped_idempotency_key
    from service.requests.service import caller_scope

    scope = scope if scope is not None else caller_scope(user_id=None, ip=LOOPBACK)

    like = "".join("\\" + c if c in "%_\\" else c for c in text_before + key_prefix) + "%"
    rows = conn.execute(
        text("SELECT description, idempotency_key FROM requests WHERE description LIKE :p ESCAPE '\\'"),
        {"p": like},
    ).all()
    keys = [d.removeprefix(text_before) for d, _ in rows]
    unkeyed = sum(1 for k, (_, stored) in zip(keys, rows, strict=True) if stored != scoped_idempotency_key(scope, k))
    return keys, unkeyed


# -- a served app ----------------------------------------------------------------------------------------


@dataclass
class ServerProcess:
    """``neighborgrid serve --workers N`` (uvicorn's supervisor and its workers) in its own process group."""

    process: subprocess.Popen
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The worker processes (uvicorn's supervisor spawns them; multiprocessing's helpers excluded)."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            return []
        workers = []
        for child in children:
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state in ("Z", "X"):  # dead, not yet reaped by the supervisor
                continue
            if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                workers.append(int(child))
        return sorted(workers)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the supervisor and its live workers."""
        total = 0
        for pid in (self.pid, *self.worker_pids()):
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / os.sysconf("SC_CLK_TCK")

    def kill_worker(self, pid: int) -> None:
        """SIGKILL one of this server's workers (uvicorn's supervisor starts a new one)."""
        if pid not in self.worker_pids():
            raise ValueError(f"{pid} is not a worker of server {self.pid}")
        os.kill(pid, signal.SIGKILL)

    def crash(self) -> None:
        """SIGKILL the whole server: the supervisor and its workers, nothing runs any clean-up."""
        pids = [self.pid, *self.worker_pids()]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)  # the group this module started
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: in-flight requests finish
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.crash()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited ({self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_text(self, since: int = 0) -> str:
        """The server's log (from byte ``since``, a value of ``log_size()``)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as fh:
            fh.seek(since)
            return fh.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_tail(self, n: int = 3000) -> str:
        return self.log_text()[-n:]

    def log_problems(self, *, since: int = 0, outage: bool = False) -> list[str]:
        """Log lines that report errors: tracebacks, error-level entries, 5xx other than 503.
        With ``outage``, the scheduler's failed ticks while the database was unreachable are expected."""
        bad = []
        for line in self.log_text(since).splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if "Traceback" in line or "ERROR" in line:
                    bad.append(line)
                continue
            if outage and entry.get("logger") == "neighborgrid.scheduler" and "OperationalError" in line:
                continue
            status = entry.get("status")
            server_error = isinstance(status, int) and status >= 500 and status != 503
            if entry.get("level") in ("error", "critical") or entry.get("error") or server_error:
                bad.append(line)
        return bad


S = TypeVar("S", bound="ServerProcess")


def start_server(
    url: str, *, tmp: Path, workers: int = 1, env: dict[str, str] | None = None, cls: type[S] = ServerProcess
) -> S:
    """Start (without waiting) ``neighborgrid serve --workers N`` on a free loopback port, in its own
    process group, logging to a file in ``tmp``. The per-IP intake limit is off (every request of a
    benchmark comes from 127.0.0.1); ``env`` overrides any variable."""
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        "NEIGHBORGRID_DATABASE_URL": url,
        "NEIGHBORGRID_SECRET_KEY": secrets.token_urlsafe(48),
        "NEIGHBORGRID_SECRET_FILE": str(tmp / "secret"),
        "NEIGHBORGRID_MEDIA_DIR": str(tmp / "media"),
        "NEIGHBORGRID_INTAKE_RATE_PER_IP": "0",
        **(env or {}),
    }
    log_path = tmp / f"server-{port}.log"
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, cwd=tmp, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return cls(process, f"http://127.0.0.1:{port}", log_path)


@contextmanager
def serve(
    url: str, *, tmp: Path, workers: int = 1, env: dict[str, str] | None = None, cls: type[S] = ServerProcess
) -> Iterator[S]:
    """A ready server for the block; stopped (SIGTERM, then SIGKILL) when it ends."""
    server = start_server(url, workers=workers, tmp=tmp, env=env, cls=cls)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
