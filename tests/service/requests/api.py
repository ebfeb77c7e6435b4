"""HTTP helpers for the request tests: clients per demo user, creating requests, driving them
through the loop, waiting for the scheduler, and cleaning up so volunteers' loads do not pile up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from service.auth.models import User
from service.grids.models import GridWorker
from service.volunteers.models import Volunteer

#: Demo users and their roles.
ROLE_OF = {
    "admin": "admin",
    "dispatcher": "dispatcher",
    "planner": "planner",
    "volunteer1": "volunteer",
    "gridworker1": "grid_worker",
    "resident1": "resident",
    "dept_zjj": "department",
}
#: Cases still being worked on: they count towards a volunteer's load.
OPEN = frozenset({"reported", "accepted", "dispatched", "on_site", "reopened"})
ANON = None

#: How to reach each status from a fresh report (actions in order).
_RESOLVED = ("accept", "dispatch", "arrive", "resolve")
PATHS: dict[str, tuple[str, ...]] = {
    "reported": (),
    "accepted": ("accept",),
    "dispatched": ("accept", "dispatch"),
    "on_site": ("accept", "dispatch", "arrive"),
    "resolved": _RESOLVED,
    "verified": (*_RESOLVED, "verify"),
    "evaluated": (*_RESOLVED, "evaluate"),
    "closed": (*_RESOLVED, "verify", "close"),
    "rejected": ("reject",),
    "merged": ("merge",),
    "reopened": (*_RESOLVED, "reopen"),
}
STATUSES = tuple(PATHS)


def unique(text: str = "test") -> str:
    return f"{text} {uuid.uuid4().hex[:10]}"


def body(category: str, point: tuple[float, float] | None, **extra: Any) -> dict[str, Any]:
    """A request body with a unique description."""
    out: dict[str, Any] = {"category": category, "description": unique("测试诉求 test request"), "channel": "web"}
    if point is not None:
        out |= {"lon": point[0], "lat": point[1]}
    return out | extra


def wait_for(check: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.1, what: str = "condition"):
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def check(condition: bool, message: str) -> None:
    """Fail without a traceback, for the known-bug (xfail) tests.

    Those tests provoke 500s, and the served app (in this process) logs each with a Python 3.11
    traceback, which parses source with ``ast``; pytest parsing the test's source for its own report at
    the same moment trips CPython's thread-unsafe AST state ("AST constructor recursion depth
    mismatch") and aborts the session. ``pytrace=False`` makes pytest skip that parse."""
    if not condition:
        pytest.fail(message, pytrace=False)


def user_id(backend, username: str) -> int:
    with backend.db.reader() as s:
        return s.scalar(select(User.id).where(User.username == username))


def linked_volunteer_id(backend, username: str = "volunteer1") -> int:
    """The volunteer record the demo links to a volunteer account (read from the database)."""
    with backend.db.reader() as s:
        return s.scalar(select(Volunteer.id).join(User, User.id == Volunteer.user_id).where(User.username == username))


def linked_worker(backend, username: str = "gridworker1") -> tuple[int, list[int]]:
    """(grid worker id, its grid ids) for a grid-worker account (read from the database)."""
    with backend.db.reader() as s:
        worker = s.scalar(select(GridWorker).join(User, User.id == GridWorker.user_id).where(User.username == username))
        return worker.id, sorted(g.id for g in worker.grids)


class Api:
    """One test's view of the served app. Requests it creates are settled (taken out of the open
    states) when the test ends, so volunteers' open-case loads do not accumulate."""

    def __init__(self, backend, clients: dict[str | None, httpx.Client] | None = None) -> None:
        self.backend = backend
        #: Clients by user, shared across tests: creating an httpx client costs about 0.2 s.
        self._clients = clients if clients is not None else {}
        self.created: list[int] = []
        self._fallback_volunteer: int | None = None

    # -- clients --------------------------------------------------------------------------------

    def as_(self, user: str | None) -> httpx.Client:
        if user not in self._clients:
            self._clients[user] = self.backend.client(user)
        return self._clients[user]

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()

    # -- requests -------------------------------------------------------------------------------

    def post(self, payload: dict, *, user: str | None = ANON, headers: dict | None = None) -> httpx.Response:
        r = self.as_(user).post("/api/v1/requests", json=payload, headers=headers or {})
        if r.status_code in (200, 201):
            self.created.append(r.json()["id"])
        return r

    def create(self, payload: dict, *, user: str | None = ANON, headers: dict | None = None) -> dict:
        r = self.post(payload, user=user, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()

    def get(self, request_id: int, user: str | None = "dispatcher") -> dict:
        r = self.as_(user).get(f"/api/v1/requests/{request_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def track(self, tracking_code: str) -> dict:
        r = self.as_(ANON).get(f"/api/v1/track/{tracking_code}")
        assert r.status_code == 200, r.text
        return r.json()

    def listing(self, user: str = "dispatcher", **params: Any) -> dict:
        r = self.as_(user).get("/api/v1/requests", params={"limit": 5000, **params})
        assert r.status_code == 200, r.text
        return r.json()

    def open_loads(self) -> dict[int, int]:
        """Open cases per volunteer, as the dispatcher sees them."""
        items = self.listing(status=sorted(OPEN))["items"]
        loads: dict[int, int] = {}
        for item in items:
            if item["volunteer_id"] is not None:
                loads[item["volunteer_id"]] = loads.get(item["volunteer_id"], 0) + 1
        return loads

    # -- transitions ----------------------------------------------------------------------------

    def send(
        self, request_id: int, action: str, *, user: str | None = "dispatcher", headers: dict | None = None, **fields
    ) -> httpx.Response:
        payload = {"action": action, **fields}
        return self.as_(user).post(f"/api/v1/requests/{request_id}/transitions", json=payload, headers=headers or {})

    def act(self, request_id: int, action: str, *, user: str | None = "dispatcher", retries: int = 0, **fields) -> dict:
        """Apply an action and expect success. ``retries``: re-send when a concurrent scheduler tick
        changed the row first (409 "changed meanwhile"), as a client would after reloading."""
        for attempt in range(retries + 1):
            r = self.send(request_id, action, user=user, **fields)
            if r.status_code == 409 and "current_version" in r.json() and attempt < retries:
                time.sleep(0.1)
                continue
            break
        assert r.status_code == 200, f"{action} on {request_id}: {r.text}"
        return r.json()

    def fallback_volunteer(self) -> int:
        if self._fallback_volunteer is None:
            self._fallback_volunteer = linked_volunteer_id(self.backend)
        return self._fallback_volunteer

    def step(self, req: dict, action: str, *, to_department: bool = False, retries: int = 0) -> dict:
        """One step of ``drive``, by a user allowed to take it, with the fields it needs."""
        rid = req["id"]
        if action == "dispatch":
            if to_department:
                return self.act(rid, action, to_department=True, retries=retries)
            return self.act(rid, action, volunteer_id=req["volunteer_id"] or self.fallback_volunteer(), retries=retries)
        if action == "resolve":
            return self.act(rid, action, note="修好了 fixed", retries=retries)
        if action == "evaluate":
            return self.act(rid, action, user=ANON, tracking_code=req["tracking_code"], satisfaction=4, retries=retries)
        if action in ("reject", "reopen", "escalate", "redispatch"):
            return self.act(rid, action, reason=unique("reason"), retries=retries)
        if action == "merge":
            target = self.create(body(req["category"], (req["lon"], req["lat"])))
            return self.act(rid, action, duplicate_of=target["id"], retries=retries)
        return self.act(rid, action, retries=retries)

    def drive_from(self, req: dict, actions: tuple[str, ...], *, retries: int = 0) -> dict:
        """Apply ``actions`` in order (each as ``step`` does); returns the state after the last one."""
        out = req
        for action in actions:
            out = self.step(req, action, retries=retries)
        return out

    def drive(self, req: dict, status: str, *, to_department: bool = False, retries: int = 0) -> dict:
        """Take a freshly reported request to ``status``; returns its state after the last step."""
        out = req
        for action in PATHS[status]:
            out = self.step(req, action, to_department=to_department, retries=retries)
        assert out["status"] == status, out
        return out

    def new_at(self, status: str, payload: dict, *, user: str | None = ANON, to_department: bool = False) -> dict:
        return self.drive(self.create(payload, user=user), status, to_department=to_department)

    # -- cleanup --------------------------------------------------------------------------------

    def settle(self) -> None:
        """Take every request this test created out of the open states (rejected or resolved)."""
        for rid in self.created:
            for _ in range(20):
                r = self.as_("admin").get(f"/api/v1/requests/{rid}")
                if r.status_code != 200:
                    break
                req = r.json()
                status = req["status"]
                if status not in OPEN:
                    break
                if status in ("reported", "accepted"):
                    step = self.send(rid, "reject", user="admin", reason="test cleanup")
                elif status == "reopened":
                    vid = req["volunteer_id"] or self.fallback_volunteer()
                    step = self.send(rid, "dispatch", user="admin", volunteer_id=vid)
                else:
                    step = self.send(rid, "resolve", user="admin", note="test cleanup")
                if step.status_code == 409:
                    time.sleep(0.1)  # a scheduler tick got there first; reload and retry
