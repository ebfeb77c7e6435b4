"""Deadlines are data: breaches escalate exactly once across workers, and survive a restart."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta

from sqlalchemy import select

from service.db import Database
from service.requests.models import RequestEvent, ServiceRequest
from service.requests.scheduler import apply_deadlines
from tests.support.backends import serve
from tests.support.clock import TestClock
from tests.support.race import all_at_once

BODY = {"category": "noise", "description": "楼上装修噪音", "lon": 117.7552, "lat": 24.6221, "channel": "wechat"}


def breach_events(db: Database, request_id: int) -> list[RequestEvent]:
    with db.reader() as s:
        return list(
            s.scalars(
                select(RequestEvent).where(RequestEvent.request_id == request_id, RequestEvent.action == "breach")
            )
        )


def test_four_workers_racing_escalate_a_breach_once(private_backend):
    b = private_backend
    with b.client() as anon:
        created = anon.post("/api/v1/requests", json=BODY).json()
    reported = b.clock()
    later = reported + timedelta(minutes=6)  # past the 5-minute response deadline only
    workers = [Database.from_settings(b.settings) for _ in range(4)]  # as if four processes
    results = all_at_once(lambda db: apply_deadlines(db, now=later, settings=b.settings), workers)
    for db in workers:
        db.dispose()

    assert len(breach_events(b.db, created["id"])) == 1
    assert sum(r.breaches for r in results) == 1
    with b.client("dispatcher") as d:
        after = d.get(f"/api/v1/requests/{created['id']}").json()
    assert after["breached"] == ["response"]
    assert after["level"] == "compound"  # noise starts at grid level and climbs one step
    # Another tick later in the same window changes nothing more for this deadline.
    apply_deadlines(b.db, now=later + timedelta(minutes=1), settings=b.settings)
    assert len(breach_events(b.db, created["id"])) == 1


def test_a_restart_loses_no_deadline(private_backend):
    b = private_backend
    with b.client() as anon:
        created = anon.post("/api/v1/requests", json=BODY).json()
    # The first app never ran its scheduler. Start another app on the same database, 31 minutes on.
    clock = TestClock()
    clock.advance(timedelta(minutes=31))
    with ExitStack() as stack:
        import httpx

        url = serve(stack, b.settings.model_copy(update={"scheduler_enabled": True}), b.db, clock)
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with b.db.reader() as s:
                req = s.get(ServiceRequest, created["id"])
                if req.response_breached and req.onsite_breached:
                    break
            time.sleep(0.1)
        with httpx.Client(base_url=url) as c:
            token = c.post("/api/v1/auth/token", data={"username": "dispatcher", "password": "demo-password-for-tests"})
            after = c.get(
                f"/api/v1/requests/{created['id']}", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
            ).json()
    assert set(after.get("breached", [])) == {"response", "onsite"}, after
    assert after["warning_level"] in ("orange", "red")
