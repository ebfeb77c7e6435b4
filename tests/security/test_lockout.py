"""Login throttling per account name and client IP, on an app of its own with the limits on.

* An attacker's failures from one address make that address wait for that account, not the owner
  logging in from another address (the served app sees 127.0.0.2 and 127.0.0.1 on loopback).
* The waits grow: after ``login_max_failures`` failures 1 s, then 2 s, 4 s ... up to the cap, each a
  429 with Retry-After, even with the right password; a success after waiting starts afresh.
* A name that does not exist gets exactly the answers of one that does, failure after failure
  (status, body, Retry-After, WWW-Authenticate) and in about the same time.
"""

from __future__ import annotations

import statistics
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from service.auth.models import LoginFailure, User
from tests.reliability.harness import another_app
from tests.service.helpers import assert_problem
from tests.support.accounts import login, new_account

LIMITS = {
    "login_max_failures": 3,
    "login_first_wait_seconds": 1.0,
    "login_lock_minutes": 8 / 60,  # the longest wait: 8 s
    "login_rate_per_ip": 0,
}


def _client(base_url: str, source: str = "127.0.0.1") -> httpx.Client:
    """A client whose connections come from ``source`` (any 127.x address is this machine)."""
    return httpx.Client(base_url=base_url, timeout=30, transport=httpx.HTTPTransport(local_address=source))


def _wait_of(r: httpx.Response) -> int:
    assert_problem(r, 429)
    return int(r.headers["retry-after"])


def test_an_attackers_failures_do_not_lock_the_owner_out(secured):
    with ExitStack() as stack:
        app = another_app(stack, secured, **(LIMITS | {"login_first_wait_seconds": 120.0, "login_lock_minutes": 10.0}))
        owner, attacker = _client(app.base_url, "127.0.0.1"), _client(app.base_url, "127.0.0.2")
        stack.callback(owner.close)
        stack.callback(attacker.close)
        _, dispatcher, password = new_account(owner, "dispatcher")
        for _ in range(3):
            assert_problem(login(attacker, dispatcher, "wrong-password"), 401)
        for attempt in ("wrong-password", password):  # that address waits, even with the right password
            assert _wait_of(login(attacker, dispatcher, attempt)) > 100
        for _ in range(3):  # the owner, from their own address, is not locked out
            r = login(owner, dispatcher, password)
            assert r.status_code == 200, r.text
        assert _wait_of(login(attacker, dispatcher, password)) > 100  # the attacker still waits
    with secured.db.reader() as s:
        assert s.scalar(select(User.locked_until).where(User.username == dispatcher)) is None
        ips = set(s.scalars(select(LoginFailure.ip)))
    assert "127.0.0.2" in ips


def test_repeated_failures_wait_longer_each_time(secured):
    with ExitStack() as stack:
        app = another_app(stack, secured, **LIMITS)
        c = stack.enter_context(_client(app.base_url, "127.0.0.3"))
        app.clock.frozen = datetime.now(UTC)  # waits move only when the test says so
        _, name, password = new_account(c, "resident")
        for _ in range(3):
            assert_problem(login(c, name, "wrong-password"), 401)
        waits = []
        for _ in range(6):
            wait = _wait_of(login(c, name, "wrong-password"))
            assert _wait_of(login(c, name, password)) == wait  # still waiting, whatever the password
            waits.append(wait)
            app.clock.advance(timedelta(seconds=wait))
            assert_problem(login(c, name, "wrong-password"), 401)  # after the wait: one more try
        assert waits == [1, 2, 4, 8, 8, 8]
        app.clock.advance(timedelta(seconds=8))
        assert login(c, name, password).status_code == 200  # a success forgets the failures
        for _ in range(3):
            assert_problem(login(c, name, "wrong-password"), 401)
        assert _wait_of(login(c, name, "wrong-password")) == 1


def test_unknown_and_known_names_get_the_same_answers(secured):
    with ExitStack() as stack:
        app = another_app(stack, secured, **LIMITS)
        c = stack.enter_context(_client(app.base_url, "127.0.0.4"))
        app.clock.frozen = datetime.now(UTC)  # the same waits for both, however long an answer takes
        known = new_account(c, "dispatcher").name
        unknown = f"acct_{uuid.uuid4().hex[:8]}"
        answers: dict[str, list[tuple]] = {known: [], unknown: []}
        times: dict[str, list[float]] = {known: [], unknown: []}

        def attempt(name: str) -> None:
            started = time.perf_counter()
            r = login(c, name, "wrong-password")
            if r.status_code == 401:
                times[name].append(time.perf_counter() - started)
            headers = {k: r.headers.get(k) for k in ("retry-after", "www-authenticate", "content-type")}
            answers[name].append((r.status_code, r.json(), headers))

        for step in range(12):
            for name in (known, unknown):
                attempt(name)
            if step in (4, 7, 9):
                app.clock.advance(timedelta(seconds=2 ** (step // 3)))
        assert answers[known] == answers[unknown]
        statuses = [status for status, _, _ in answers[known]]
        assert statuses[:3] == [401] * 3 and 429 in statuses and statuses.count(401) >= 5
        # The same work (an Argon2 check) for both: no name is told apart by its answer time.
        k, u = statistics.median(times[known]), statistics.median(times[unknown])
        assert abs(k - u) < max(k, u) * 0.5 + 0.02, (times[known], times[unknown])
