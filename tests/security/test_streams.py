"""The event stream (``GET /api/v1/events``): tickets are single-use stream passes, not bearer
tokens; an open stream ends when its account is disabled or signed out everywhere; each role's
stream carries only the cases it may list; stream positions are bounded; streams hold no database
connection, so 50 open streams do not slow ordinary reads, and streams above the caps get 429."""

from __future__ import annotations

import statistics
import time
import uuid
from contextlib import ExitStack

import httpx
import pytest
from shapely.geometry import shape
from sqlalchemy import select

from service.auth.keys import secret_file
from service.auth.models import User
from service.grids.models import GridWorker
from tests.reliability.harness import another_app
from tests.service.helpers import assert_problem
from tests.support.accounts import bearer, new_account, token_for
from tests.support.sse import SseReader

EVENTS = "/api/v1/events"


def _ticket(c: httpx.Client, token: str) -> str:
    r = c.post(f"{EVENTS}/ticket", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()["ticket"]


def _new_account(c: httpx.Client, role: str = "dispatcher") -> tuple[int, str]:
    """A fresh account (so signing it out spares the demo accounts other tests use) and its token."""
    account = new_account(c, role, prefix="sse")
    return account.id, token_for(c, account.name, account.password)


def _status(c: httpx.Client, **kwargs) -> int:
    """The status a stream opens with (the connection is closed at once)."""
    with c.stream("GET", EVENTS, **kwargs) as r:
        if r.status_code != 200:
            r.read()
        return r.status_code


def _open_problem(c: httpx.Client, **kwargs) -> httpx.Response:
    """The answer to opening a stream, read in full unless a stream did open (then closed at once)."""
    with c.stream("GET", EVENTS, **kwargs) as r:
        assert r.status_code != 200, "the stream opened"
        r.read()
        return r


# -- tickets -------------------------------------------------------------------------------------------


def test_a_ticket_is_refused_as_a_bearer_token_even_an_admins(secured):
    with httpx.Client(base_url=secured.base_url, timeout=30) as c:
        admin = token_for(c, "admin")
        ticket = _ticket(c, admin)
        for path in ("/api/v1/users", "/api/v1/api-clients", "/api/v1/auth/me", "/api/v1/requests"):
            assert c.get(path, headers=bearer(admin)).status_code == 200, path
            assert_problem(c.get(path, headers=bearer(ticket)), 401)
        # ... and a bearer token is no ticket (it would sit in URLs and logs)
        assert_problem(_open_problem(c, params={"ticket": admin}), 401, "ticket")
        assert _status(c, params={"ticket": ticket}) == 200  # the ticket itself still opens a stream


def test_a_ticket_opens_one_stream_only(secured):
    with httpx.Client(base_url=secured.base_url, timeout=30) as c:
        ticket = _ticket(c, token_for(c, "dispatcher"))
        assert _status(c, params={"ticket": ticket}) == 200
        body = assert_problem(_open_problem(c, params={"ticket": ticket}), 401, "ticket")
        assert "already used" in body["detail"]


def test_a_refused_position_does_not_use_up_the_ticket(secured):
    with httpx.Client(base_url=secured.base_url, timeout=30) as c:
        ticket = _ticket(c, token_for(c, "dispatcher"))
        assert_problem(_open_problem(c, params={"ticket": ticket, "since": 2**64}), 422, "since")
        assert _status(c, params={"ticket": ticket, "since": 0}) == 200


@pytest.mark.parametrize("how", ["logout-all", "disabled", "revoke-tokens"])
def test_a_ticket_issued_before_a_sign_out_opens_nothing(secured, how):
    with httpx.Client(base_url=secured.base_url, timeout=30) as c:
        user_id, token = _new_account(c)
        ticket = _ticket(c, token)
        time.sleep(0.01)
        if how == "logout-all":
            assert c.post("/api/v1/auth/logout-all", headers=bearer(token)).status_code == 204
        elif how == "disabled":
            r = c.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=bearer(token_for(c, "admin")))
            assert r.status_code == 200, r.text
        else:
            r = c.post(f"/api/v1/users/{user_id}/revoke-tokens", headers=bearer(token_for(c, "admin")))
            assert r.status_code == 204, r.text
        assert_problem(_open_problem(c, params={"ticket": ticket}), 401, "ticket")
        assert_problem(_open_problem(c, headers=bearer(token)), 401)


# -- an open stream is re-checked ----------------------------------------------------------------------


def _seconds_until_the_stream_ends(r: httpx.Response, limit: float) -> float:
    """Read the open stream ``r`` until the server ends it; fails if it is still open after ``limit`` s."""
    started = time.monotonic()
    for _ in r.iter_lines():  # keepalives arrive at least every recheck interval
        assert time.monotonic() - started < limit, f"the stream is still open after {limit} s"
    return time.monotonic() - started


@pytest.mark.parametrize("how", ["disabled", "logout-all", "logout"])
def test_an_open_stream_ends_when_its_account_may_no_longer_watch(secured, how):
    """Streams opened with a bearer token (disabled, sign out, sign out everywhere) or a ticket (the
    account disabled or signed out everywhere) end within the re-check interval."""
    every = 1.0
    with ExitStack() as stack, httpx.Client(base_url=secured.base_url, timeout=30) as c:
        app = another_app(stack, secured, events_recheck_seconds=every)
        user_id, token = _new_account(c)
        streams = [
            stack.enter_context(
                httpx.Client(base_url=app.base_url, timeout=httpx.Timeout(10, read=10)).stream(
                    "GET", EVENTS, headers=bearer(token)
                )
            )
        ]
        if how != "logout":  # signing one token out leaves tickets alone; they are single use anyway
            streams.append(
                stack.enter_context(
                    httpx.Client(base_url=app.base_url, timeout=httpx.Timeout(10, read=10)).stream(
                        "GET", EVENTS, params={"ticket": _ticket(c, token)}
                    )
                )
            )
        assert all(r.status_code == 200 for r in streams)
        if how == "disabled":
            r = c.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=bearer(token_for(c, "admin")))
            assert r.status_code == 200, r.text
        else:
            assert c.post(f"/api/v1/auth/{how}", headers=bearer(token)).status_code == 204
        for r in streams:
            assert _seconds_until_the_stream_ends(r, limit=every + 4) < every + 4


def test_an_open_stream_ends_when_the_signing_key_is_rotated(secured, tmp_path):
    every = 1.0
    key_file = tmp_path / "neighborgrid-secret"
    with ExitStack() as stack:
        app = another_app(stack, secured, events_recheck_seconds=every, secret_key=None, secret_file=key_file)
        c = stack.enter_context(httpx.Client(base_url=app.base_url, timeout=httpx.Timeout(10, read=10)))
        token = token_for(c, "dispatcher")
        streams = [
            stack.enter_context(c.stream("GET", EVENTS, headers=bearer(token))),
            stack.enter_context(c.stream("GET", EVENTS, params={"ticket": _ticket(c, token)})),
        ]
        assert all(r.status_code == 200 for r in streams)
        secret_file(key_file).rotate()  # what ``neighborgrid rotate-secret`` does
        for r in streams:
            assert _seconds_until_the_stream_ends(r, limit=every + 4) < every + 4


# -- positions -----------------------------------------------------------------------------------------


def test_positions_beyond_64_bit_ids_are_a_422_naming_the_field(secured):
    with httpx.Client(base_url=secured.base_url, timeout=30) as c:
        auth = bearer(token_for(c, "dispatcher"))
        for since in (2**63, 2**64, 10**30):
            assert_problem(_open_problem(c, headers=auth, params={"since": since}), 422, "since")
        for value in (str(2**64), "99999999999999999999", "-1", "1e3"):
            assert_problem(_open_problem(c, headers=auth | {"Last-Event-ID": value}), 422, "Last-Event-ID")
        assert _status(c, headers=auth, params={"since": 2**63 - 1}) == 200
        assert _status(c, headers=auth | {"Last-Event-ID": "0"}) == 200


# -- scope ---------------------------------------------------------------------------------------------


def _worker_grids(secured, username: str) -> set[int]:
    with secured.db.reader() as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        worker = s.scalar(select(GridWorker).where(GridWorker.user_id == uid))
        return {g.id for g in worker.grids}


def _report_in(c: httpx.Client, grid: dict) -> dict:
    p = shape(grid["geometry"]).representative_point()
    body = {"category": "littering", "description": f"scope {uuid.uuid4().hex[:6]}", "channel": "web"}
    r = c.post("/api/v1/requests", json=body | {"lon": p.x, "lat": p.y})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_grid_workers_stream_carries_only_their_grids_cases(secured):
    with httpx.Client(base_url=secured.base_url, timeout=30) as c:
        dispatcher, worker = token_for(c, "dispatcher"), token_for(c, "gridworker1")
        mine = _worker_grids(secured, "gridworker1")
        grids = c.get("/api/v1/grids", headers=bearer(dispatcher)).json()["features"]
        own = next(g for g in grids if g["id"] in mine)
        other = next(g for g in grids if g["id"] not in mine)
        readers = {who: SseReader(secured.base_url, EVENTS, headers=bearer(t)) for who, t in
                   (("dispatcher", dispatcher), ("worker", worker))}  # fmt: skip
        try:
            theirs = _report_in(c, other)
            ours = _report_in(c, own)
            seen = [readers["dispatcher"].wait_for(lambda e, rid=rid: e.data.get("id") == rid) for rid in
                    (theirs["id"], ours["id"])]  # fmt: skip
            assert [e.event for e in seen] == ["request.created"] * 2
            got = readers["worker"].wait_for(lambda e: e.data.get("id") in (theirs["id"], ours["id"]))
            assert got.data["id"] == ours["id"] and got.data["grid_id"] in mine  # theirs (sent first) never came
            # a replay from before both cases is filtered the same way
            replay = SseReader(secured.base_url, EVENTS, headers=bearer(worker), params={"since": seen[0].id - 1})
            try:
                again = replay.wait_for(lambda e: e.data.get("id") in (theirs["id"], ours["id"]))
                assert again.data["id"] == ours["id"]
            finally:
                replay.close()
        finally:
            for r in readers.values():
                r.close()
        # the REST list agrees: the worker cannot list the other grid's case
        listed = c.get("/api/v1/requests", headers=bearer(worker), params={"limit": 1000}).json()
        ids = {item["id"] for item in listed["items"]}
        assert ours["id"] in ids and theirs["id"] not in ids


# -- resources: no connection held, caps ---------------------------------------------------------------


def _median_seconds(c: httpx.Client, path: str, headers: dict[str, str], n: int = 7) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        r = c.get(path, headers=headers)
        times.append(time.perf_counter() - started)
        assert r.status_code == 200, r.text
    return statistics.median(times)


def test_fifty_open_streams_do_not_slow_ordinary_reads(secured):
    users = ["dispatcher", "planner", "admin", "gridworker1", "dispatcher2"]
    with ExitStack() as stack, httpx.Client(base_url=secured.base_url, timeout=60) as c:
        app = another_app(stack, secured, events_max_streams=60, events_max_streams_per_user=10)
        tokens = {u: token_for(c, u) for u in users[:4]}
        tokens["dispatcher2"] = _new_account(c)[1]
        paths = {"/api/v1/requests": bearer(tokens["dispatcher"]), "/healthz": {}}
        with httpx.Client(base_url=app.base_url, timeout=60) as reads:
            before = {p: _median_seconds(reads, p, h) for p, h in paths.items()}
            readers = []
            try:
                for i in range(50):
                    r = SseReader(app.base_url, EVENTS, headers=bearer(tokens[users[i % len(users)]]))
                    readers.append(r)
                    assert r.status == 200, i
                created = c.post(
                    "/api/v1/requests",
                    json={"category": "noise", "description": "fan-out", "lon": 117.7552, "lat": 24.6221},
                )
                assert created.status_code == 201
                # every stream reads the outbox on this event; reads meanwhile keep their pace
                after = {p: _median_seconds(reads, p, h) for p, h in paths.items()}
                readers[0].wait_for(lambda e: e.data.get("id") == created.json()["id"], timeout=15)
            finally:
                for r in readers:
                    r.close()
        for path, t in before.items():
            assert after[path] < 3 * t + 0.25, (path, t, after[path])


def test_streams_above_the_caps_get_429_with_retry_after(secured):
    with ExitStack() as stack, httpx.Client(base_url=secured.base_url, timeout=30) as c:
        app = another_app(stack, secured, events_max_streams=3, events_max_streams_per_user=2)
        dispatcher, planner, admin = (token_for(c, u) for u in ("dispatcher", "planner", "admin"))
        streams = stack.enter_context(httpx.Client(base_url=app.base_url, timeout=httpx.Timeout(10, read=30)))
        with ExitStack() as open_streams:
            for token in (dispatcher, dispatcher):
                r = open_streams.enter_context(streams.stream("GET", EVENTS, headers=bearer(token)))
                assert r.status_code == 200
            own = _open_problem(streams, headers=bearer(dispatcher))
            body = assert_problem(own, 429)
            assert int(own.headers["Retry-After"]) > 0 and "account" in body["detail"]
            ticket = _ticket(c, dispatcher)  # a ticket refused for the cap is not used up
            assert_problem(_open_problem(streams, params={"ticket": ticket}), 429)
            r = open_streams.enter_context(streams.stream("GET", EVENTS, headers=bearer(planner)))
            assert r.status_code == 200
            total = _open_problem(streams, headers=bearer(admin))
            assert_problem(total, 429)
            assert int(total.headers["Retry-After"]) > 0
        deadline = time.monotonic() + 10  # closed streams free their slots
        while (status := _status(streams, params={"ticket": ticket})) == 429 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status == 200
