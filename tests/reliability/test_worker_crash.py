"""A worker process killed (SIGKILL) in the middle of dispatch transitions, and a whole server killed
with deadlines running: no case is left half-assigned, and the deadlines still fire after a restart.

* PostGIS, deterministic: the test locks ``audit_log`` so that every dispatch transaction stops
  half-way (its request UPDATE and trail INSERT done, its audit INSERT waiting); it finds the worker
  process holding one of those transactions (PostgreSQL backend -> client port -> socket -> process)
  and kills it. The killed transaction must vanish whole; the other worker's must commit whole.
* Both backends, a storm: transitions from many threads while workers are killed at random moments.
* Deadlines are data: a request whose response deadline passes while no server runs is breached,
  once, by the scheduler of the next server to start.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from bench import load_intake as tool
from service.audit.models import AuditEntry
from service.config import Settings
from service.db import Database
from service.requests.models import RequestEvent, ServiceRequest, Status
from tests.reliability.harness import BACKENDS
from tests.support.backends import DEMO_PASSWORD

pytestmark = pytest.mark.slow

BODY = {"category": "noise", "description": "crash test", "lon": 117.7552, "lat": 24.6221, "channel": "phone"}
#: Actions that staff take through the API (each must have exactly one audit entry).
SYSTEM_ACTIONS = {"report", "breach", "recolour"}


def _token(base_url: str, username: str) -> str:
    r = httpx.post(f"{base_url}/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}, timeout=60)
    r.raise_for_status()
    return r.json()["access_token"]


def _client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120)


def _create(c: httpx.Client, n: int, tag: str) -> list[dict]:
    out = []
    for i in range(n):
        body = BODY | {"description": f"crash test {tag} {i}", "lon": 117.7552 + 0.0004 * (i % 5)}
        r = c.post("/api/v1/requests", json=body)
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


def _env() -> dict[str, str]:
    return {"NEIGHBORGRID_SLA_TICK_SECONDS": "0.5", "NEIGHBORGRID_DEMO_PASSWORD": DEMO_PASSWORD}


def assert_consistent(db: Database, ids: list[int]) -> dict[int, Status]:
    """Each case's row, trail and audit log tell the same story: nothing half-applied."""
    statuses = {}
    with db.reader() as s:
        for rid in ids:
            req = s.get(ServiceRequest, rid)
            events = list(
                s.scalars(select(RequestEvent).where(RequestEvent.request_id == rid).order_by(RequestEvent.id))
            )
            audits = list(
                s.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.entity == "request", AuditEntry.entity_id == str(rid))
                    .order_by(AuditEntry.id)
                )
            )
            assert events and events[0].action == "report", rid
            # The row's status is where its trail ends; every UPDATE of the row left one trail entry.
            assert req.status.value == events[-1].to_status, (rid, req.status, [e.action for e in events])
            assert req.version == len(events), (rid, req.version, [e.action for e in events])
            staff = [e.action for e in events if e.action not in SYSTEM_ACTIONS]
            audited = [a.action for a in audits if a.action != "create"]  # staff intake may be audited too
            assert audited == [f"transition:{a}" for a in staff], (rid, staff, [a.action for a in audits])
            assert [a.action for a in audits].count("create") <= 1, rid
            dispatches = [e for e in events if e.action == "dispatch"]
            if req.status in (Status.DISPATCHED, Status.ON_SITE):
                assert len(dispatches) == 1 and req.volunteer_id == dispatches[0].data["volunteer_id"], rid
                assert req.dispatched_at is not None
            else:
                assert req.status in (Status.REPORTED, Status.ACCEPTED), (rid, req.status)
                assert not dispatches and req.dispatched_at is None, (rid, req.status)
            statuses[rid] = req.status
    return statuses


def _pid_of_backend(client_port: int, candidates: list[int]) -> int | None:
    """The process (among ``candidates``) that owns the TCP socket on local port ``client_port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == client_port:
                inodes.add(fields[9])
    for pid in candidates:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            links = [str(p.readlink()) for p in fd_dir.iterdir()]
        except OSError:
            continue
        if any(link in {f"socket:[{i}]" for i in inodes} for link in links):
            return pid
    return None


def _wait_workers(server, n: int, timeout: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = server.worker_pids()
        if len(pids) == n:
            try:
                if httpx.get(f"{server.base_url}/readyz", timeout=5).status_code == 200:
                    return pids
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"uvicorn did not bring back {n} workers: {pids}\n{server.log_tail()}")
        time.sleep(0.2)


def test_worker_killed_mid_dispatch_leaves_no_half_assigned_case_postgis(pg_server):
    url, server = pg_server.url, pg_server.server
    _wait_workers(server, 2)
    db = Database.from_settings(Settings(database_url=url, json_logs=False))
    token = _token(server.base_url, "dispatcher")
    with _client(server.base_url, token) as c:
        created = _create(c, 8, "pg")
        for req in created:
            assert c.post(f"/api/v1/requests/{req['id']}/transitions", json={"action": "accept"}).status_code == 200
        volunteers = [f["id"] for f in c.get("/api/v1/volunteers").json()["features"]]
    ids = [r["id"] for r in created]
    target = {r["id"]: next(v for v in reversed(volunteers) if v != r["volunteer_id"]) for r in created}
    database = url.rsplit("/", 1)[1]

    locker = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), pool_size=2)
    watcher = locker.execution_options(isolation_level="AUTOCOMMIT")  # a fresh statistics snapshot each time
    answers: dict[int, int | str] = {}
    with locker.connect() as lock_conn, watcher.connect() as watch:
        lock_conn.execute(text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))  # held until rollback below

        def dispatch(rid: int) -> None:
            try:
                with _client(server.base_url, token) as c:
                    body = {"action": "dispatch", "volunteer_id": target[rid]}
                    answers[rid] = c.post(f"/api/v1/requests/{rid}/transitions", json=body).status_code
            except httpx.HTTPError as exc:
                answers[rid] = type(exc).__name__

        threads = [threading.Thread(target=dispatch, args=(rid,)) for rid in ids]
        for t in threads:
            t.start()
        # Wait until every dispatch is inside its transaction, stuck on the audit INSERT.
        deadline = time.monotonic() + 60
        while True:
            waiting = watch.execute(
                text(
                    "SELECT pid, client_port FROM pg_stat_activity WHERE datname = :db "
                    "AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO audit_log%'"
                ),
                {"db": database},
            ).all()
            if len(waiting) == len(ids):
                break
            assert time.monotonic() < deadline, f"only {len(waiting)} dispatches reached the audit insert"
            time.sleep(0.1)
        # Half-applied inside those transactions: the request rows are already updated there.
        workers = server.worker_pids()
        owners = {port: _pid_of_backend(port, workers) for _, port in waiting}
        victim = owners[waiting[0][1]]
        assert victim in workers, (owners, workers)
        doomed = sum(1 for pid in owners.values() if pid == victim)
        server.kill_worker(victim)
        time.sleep(0.5)  # PostgreSQL notices the dead client and rolls its transactions back
        lock_conn.rollback()
    locker.dispose()
    for t in threads:
        t.join(120)

    statuses = assert_consistent(db, ids)
    dispatched = [rid for rid, st in statuses.items() if st is Status.DISPATCHED]
    rolled_back = [rid for rid, st in statuses.items() if st is Status.ACCEPTED]
    assert len(rolled_back) == doomed >= 1, (answers, statuses)
    assert len(dispatched) == len(ids) - doomed
    assert all(answers[rid] == 200 for rid in dispatched), answers
    assert all(answers[rid] != 200 for rid in rolled_back), answers  # the client never saw success
    # uvicorn replaced the worker, and the rolled-back cases can be dispatched now.
    _wait_workers(server, 2)
    with _client(server.base_url, token) as c:
        for rid in rolled_back:
            r = c.post(f"/api/v1/requests/{rid}/transitions", json={"action": "dispatch", "volunteer_id": target[rid]})
            assert r.status_code == 200, r.text
    assert set(assert_consistent(db, ids).values()) == {Status.DISPATCHED}
    db.dispose()


def _drive_storm(server, token: str, ids: list[int], volunteers: list[int]) -> list[str]:
    """Three threads drive the cases through accept -> dispatch -> arrive (arriving only once the
    scheduler has breached the on-site deadline) while a worker is killed at random moments, twice;
    what each attempt got (a status code or the HTTP error's name)."""
    stop = threading.Event()
    outcomes: list[str] = []

    reached = {"accept": {"accepted", "dispatched", "on_site"}, "dispatch": {"dispatched", "on_site"}}
    reached["arrive"] = {"on_site"}

    def landed(c: httpx.Client, rid: int, action: str) -> bool:
        """After a 409: did an earlier attempt land (its answer lost with a killed worker), or did the
        scheduler change the case under this one (a concurrent update: try again)?"""
        try:
            return c.get(f"/api/v1/requests/{rid}").json()["status"] in reached[action]
        except httpx.HTTPError:
            return False

    def drive(rid: int) -> None:
        volunteer = volunteers[rid % len(volunteers)]
        steps = [{"action": "accept"}, {"action": "dispatch", "volunteer_id": volunteer}, {"action": "arrive"}]
        with _client(server.base_url, token) as c:
            for step in steps:
                if step["action"] == "arrive":
                    wait_breached(c, rid, "onsite")
                for _ in range(40):  # retry what a killed worker cut short
                    try:
                        r = c.post(f"/api/v1/requests/{rid}/transitions", json=step)
                    except httpx.HTTPError as exc:
                        outcomes.append(type(exc).__name__)
                        time.sleep(0.2)
                        continue
                    outcomes.append(str(r.status_code))
                    if r.status_code == 200 or (r.status_code == 409 and landed(c, rid, step["action"])):
                        break
                    time.sleep(0.2)

    def wait_breached(c: httpx.Client, rid: int, deadline_name: str) -> None:
        """Until the scheduler (in whichever worker is alive) has breached the deadline."""
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            try:
                r = c.get(f"/api/v1/requests/{rid}")
                if r.status_code == 200 and deadline_name in r.json()["breached"]:
                    return
            except httpx.HTTPError as exc:
                outcomes.append(type(exc).__name__)
            time.sleep(0.2)
        outcomes.append(f"{rid}: {deadline_name} never breached")

    def killer() -> None:
        rng = random.Random(7)
        kills = 0
        while not stop.is_set() and kills < 2:
            time.sleep(0.4 + 0.6 * rng.random())
            pids = server.worker_pids()
            if len(pids) == 2:
                server.kill_worker(rng.choice(pids))
                kills += 1

    k = threading.Thread(target=killer)
    k.start()
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(drive, ids))
    stop.set()
    k.join()
    return outcomes


def _outcome(check, *args):
    """What a check found: its answer, or the AssertionError it raised (for the test reading it)."""
    try:
        return check(*args)
    except AssertionError as exc:
        return exc


def _answer(outcome):
    """A recorded check's answer, raising its AssertionError if it failed."""
    if isinstance(outcome, AssertionError):
        raise outcome
    return outcome


@pytest.fixture(scope="module", params=BACKENDS)
def storm(request, templates, tmp_path_factory) -> SimpleNamespace:
    """Three threads drive 9 cases through accept -> dispatch -> arrive while a worker is killed
    every ~0.7 s; each case's on-site deadline (1.8 s) is breached by the scheduler, amid the kills,
    before it arrives. Then the whole server is SIGKILLed right after a new intake; its deadline
    passes while nothing runs, and the next server starts. Runs once per backend and records what
    it saw; each test below checks one part."""
    backend_name = request.param
    tmp_path = tmp_path_factory.mktemp(f"storm-{backend_name}")
    env = _env() | {"NEIGHBORGRID_RESPONSE_MINUTES": "0.05", "NEIGHBORGRID_ONSITE_MINUTES": "0.03"}
    seen = SimpleNamespace()
    with templates.clone(backend_name, tmp_path) as url:
        db = Database.from_settings(Settings(database_url=url, json_logs=False))
        server = tool.start_server(url, workers=2, tmp=tmp_path / "first", env=env)
        try:
            server.wait_ready()
            token = _token(server.base_url, "dispatcher")
            with _client(server.base_url, token) as c:
                created = _create(c, 9, backend_name)
                volunteers = [f["id"] for f in c.get("/api/v1/volunteers").json()["features"]]
            seen.ids = ids = [r["id"] for r in created]
            seen.outcomes = _drive_storm(server, token, ids, volunteers)
            _wait_workers(server, 2)
            seen.statuses = _outcome(assert_consistent, db, ids)
            # A last intake, and the whole server dies at once (supervisor and workers, no clean-up).
            with httpx.Client(base_url=server.base_url, timeout=60) as c:
                overdue = c.post("/api/v1/requests", json=BODY | {"channel": "web"}).json()  # a resident
        finally:
            server.crash()
        seen.log = server.log_text()
        with db.reader() as s:
            breaches = s.scalars(
                select(RequestEvent).where(RequestEvent.request_id.in_(ids), RequestEvent.action == "breach")
            ).all()
            seen.onsite = sorted(e.request_id for e in breaches if "onsite" in e.data["breached"])
            req = s.get(ServiceRequest, overdue["id"])
            due = req.due_response_at
            seen.breached_at_the_crash = req.response_breached
        while time.time() < due.timestamp() + 1:  # the deadline passes while no process runs
            time.sleep(0.2)
        with db.reader() as s:
            seen.breached_while_down = s.get(ServiceRequest, overdue["id"]).response_breached
        with tool.serve(url, workers=1, tmp=tmp_path / "second", env=env):
            deadline = time.monotonic() + 30
            while True:
                with db.reader() as s:
                    seen.breached_after_restart = s.get(ServiceRequest, overdue["id"]).response_breached
                if seen.breached_after_restart or time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
            time.sleep(1.5)  # a few more ticks
        seen.final = _outcome(assert_consistent, db, [*ids, overdue["id"]])
        with db.reader() as s:
            seen.trail = s.scalars(select(RequestEvent).where(RequestEvent.request_id == overdue["id"])).all()
            seen.overdue = s.get(ServiceRequest, overdue["id"])
        db.dispose()
    return seen


def test_storm_leaves_every_case_whole(storm):
    _answer(storm.statuses)


def test_storm_brings_every_case_on_site(storm):
    statuses = _answer(storm.statuses)
    assert set(statuses.values()) == {Status.ON_SITE}, (statuses, storm.outcomes)


def test_storm_kills_workers_that_are_replaced_without_locking_the_database(storm):
    assert "died" in storm.log, "at least one worker was killed and replaced"
    assert "database is locked" not in storm.log.lower()


def test_storm_answers_no_server_error_but_503(storm):
    assert not [o for o in storm.outcomes if o.startswith("5") and o != "503"], storm.outcomes


def test_storm_breaches_each_on_site_deadline_once(storm):
    assert storm.onsite == sorted(storm.ids), (storm.onsite, storm.outcomes)  # each once, however many kills


def test_a_deadline_passing_while_no_server_runs_is_not_yet_breached(storm):
    assert not storm.breached_at_the_crash
    assert not storm.breached_while_down


def test_the_next_server_breaches_the_overdue_deadline(storm):
    assert storm.breached_after_restart, "the restarted server never applied the overdue deadline"


def test_every_case_is_whole_after_the_restart(storm):
    _answer(storm.final)


def test_the_overdue_case_is_breached_exactly_once_and_escalated(storm):
    trail, req = storm.trail, storm.overdue
    assert len([e for e in trail if e.action == "breach" and "response" in e.data["breached"]]) == 1
    assert req.level.value != "grid" and req.warning_level.value in ("orange", "red")
