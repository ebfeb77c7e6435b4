"""Time-driven community life on a database of this module's own, with its scheduler running and its
clock injected and moved forward: stale positions stop counting, claims expire, key households
become overdue and are announced once, and a key case closed by the scheduler gets its follow-up.

The clock only ever moves forward here, so the tests run in file order on one app per backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta

import pytest
from sqlalchemy import select

from service.audit.models import AuditEntry
from service.db import Database
from service.households.service import flag_overdue
from service.jobs.community import expire_wish_claims
from tests.service.community.support import Demo, new_account
from tests.service.requests.api import Api, body, wait_for
from tests.support.backends import BACKENDS, Backend, start_backend
from tests.support.race import all_at_once
from tests.support.sse import SseReader
from tests.support.town import Town


@pytest.fixture(scope="module", params=BACKENDS)
def timed(request, tmp_path_factory) -> Iterator[Backend]:
    """The app with the production rule for positions (12 hours) and its scheduler ticking."""
    with ExitStack() as stack:
        yield start_backend(
            request.param,
            stack,
            tmp_path_factory.mktemp(f"life-{request.param}"),
            volunteer_position_max_age_minutes=720.0,
        )


@pytest.fixture(scope="module")
def tapi(timed) -> Iterator[Api]:
    api = Api(timed, {})
    yield api
    api.close()


@pytest.fixture(scope="module")
def tdemo(timed) -> Demo:
    return Demo.load(timed)


@pytest.fixture(scope="module")
def ttown(timed) -> Town:
    return Town.of(timed)


def entries(backend, entity: str, entity_id: int, action: str) -> list[AuditEntry]:
    with backend.db.reader() as s:
        return list(
            s.scalars(
                select(AuditEntry).where(
                    AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id), AuditEntry.action == action
                )
            )
        )


def ticks(n: int = 5) -> None:
    """Let the scheduler run a few times (it ticks every 0.2 s in tests)."""
    time.sleep(0.2 * n + 0.3)


def dispatcher_stream(backend) -> SseReader:
    token = backend.token("dispatcher")
    return SseReader(backend.base_url, "/api/v1/events", headers={"Authorization": f"Bearer {token}"})


def test_a_position_older_than_the_limit_no_longer_counts(timed, tapi, tdemo, ttown):
    point = ttown.inner_point(tdemo.worker1_grid, away_from_buildings=True, seed=7)
    # The loader stamped the demo's positions at load time, so the demo assigns volunteers at once.
    first = tapi.create(body("other", point))
    assert first["volunteer_id"] is not None and first["assignment_method"] == "network"
    vol = new_account(timed, "volunteer", volunteer=True)
    with vol.client(timed) as c:
        assert (
            c.post(
                "/api/v1/volunteers/me/position", json={"lon": point[0], "lat": point[1], "on_duty": True}
            ).status_code
            == 200
        )
    assert tapi.create(body("other", point))["volunteer_id"] == vol.volunteer_id  # standing right there
    timed.clock.advance(timedelta(hours=12, minutes=1))
    stale = tapi.create(body("other", point))
    assert stale["volunteer_id"] is None  # every position is now older than 12 hours
    layer = tapi.as_("dispatcher").get("/api/v1/volunteers", params={"on_duty": True}).json()["features"]
    mine = next(f["properties"] for f in layer if f["id"] == vol.volunteer_id)
    assert mine["position_fresh"] is False and mine["position_age_minutes"] >= 721
    with vol.client(timed) as c:
        c.post("/api/v1/volunteers/me/position", json={"lon": point[0], "lat": point[1]})
    assert tapi.create(body("other", point))["volunteer_id"] == vol.volunteer_id
    tapi.settle()


def test_an_unfulfilled_claim_expires_and_the_wish_reopens(timed, tapi, ttown):
    building = sorted(ttown.buildings)[3]
    wishes = []
    for _ in range(2):
        r = tapi.as_("resident1").post(
            "/api/v1/wishes", json={"category": "shopping", "title": "代购", "building_id": building}
        )
        assert r.status_code == 201, r.text
        wishes.append(r.json())
    held, done = wishes
    for w in wishes:
        assert tapi.as_("volunteer1").post(f"/api/v1/wishes/{w['id']}/claim", json={}).status_code == 200
    tapi.as_("volunteer1").post(f"/api/v1/wishes/{done['id']}/fulfil", json={"note": "买好了"})
    reader = dispatcher_stream(timed)
    try:
        timed.clock.advance(timedelta(hours=timed.settings.wish_claim_hours - 1))
        ticks()
        assert tapi.as_("volunteer1").get(f"/api/v1/wishes/{held['id']}").json()["status"] == "claimed"
        timed.clock.advance(timedelta(hours=2))
        event = reader.wait_for(lambda e: e.event == "wish.updated" and e.data["id"] == held["id"])
    finally:
        reader.close()
    assert (event.data["action"], event.data["status"]) == ("claim_expired", "open")
    after = tapi.as_("resident1").get(f"/api/v1/wishes/{held['id']}").json()
    assert after["status"] == "open" and after["claimed_at"] is None and after["claim_expires_at"] is None
    assert tapi.as_("resident1").get(f"/api/v1/wishes/{done['id']}").json()["status"] == "fulfilled"
    ticks()
    assert len(entries(timed, "wish", held["id"], "wish:claim_expired")) == 1
    # It can be claimed again, by anyone.
    assert tapi.as_("volunteer1").post(f"/api/v1/wishes/{held['id']}/claim", json={}).status_code == 200


def test_four_workers_racing_expire_a_claim_once(timed, tapi, ttown):
    building = sorted(ttown.buildings)[4]
    wish = (
        tapi.as_("resident1")
        .post("/api/v1/wishes", json={"category": "repair", "title": "修灯", "building_id": building})
        .json()
    )
    tapi.as_("volunteer1").post(f"/api/v1/wishes/{wish['id']}/claim", json={})
    timed.clock.advance(timedelta(hours=timed.settings.wish_claim_hours + 1))
    workers = [Database.from_settings(timed.settings) for _ in range(4)]
    results = all_at_once(lambda db: expire_wish_claims(db, now=timed.clock()), workers)
    for db in workers:
        db.dispose()
    ticks()
    assert len(entries(timed, "wish", wish["id"], "wish:claim_expired")) == 1
    # every worker ran (the scheduler races them too); one expiry was recorded
    assert len([r for r in results if r is not None]) == 4
    assert tapi.as_("resident1").get(f"/api/v1/wishes/{wish['id']}").json()["status"] == "open"


def test_an_overdue_household_is_listed_and_announced_once(timed, tapi, tdemo, ttown):
    building = next(b for b, p in sorted(ttown.building_props.items()) if p["grid_id"] == tdemo.worker1_grid)
    hh = (
        tapi.as_("gridworker1")
        .post(
            "/api/v1/key-households",
            json={
                "building_id": building,
                "head_name": "超期测试户",
                "kinds": ["lone_elderly"],
                "caretaker_worker_id": tdemo.worker1,
            },
        )
        .json()
    )
    tapi.as_("gridworker1").post(f"/api/v1/key-households/{hh['id']}/visits", json={"notes": "一切安好"})

    def overdue_ids() -> set[int]:
        listed = tapi.as_("gridworker1").get("/api/v1/key-households", params={"overdue": True})
        return {h["id"] for h in listed.json()["items"]}

    assert hh["id"] not in overdue_ids()
    reader = dispatcher_stream(timed)
    try:
        timed.clock.advance(timedelta(days=6, hours=23))
        ticks()
        assert hh["id"] not in overdue_ids()
        assert entries(timed, "key_household", hh["id"], "key_household:overdue") == []
        timed.clock.advance(timedelta(hours=2))
        event = reader.wait_for(
            lambda e: e.event == "key_household.overdue" and e.data["grid_id"] == tdemo.worker1_grid
        )
    finally:
        reader.close()
    assert set(event.data) == {"grid_id", "overdue_in_grid"} and event.data["overdue_in_grid"] >= 1
    wait_for(lambda: entries(timed, "key_household", hh["id"], "key_household:overdue"), what="the announcement")
    assert hh["id"] in overdue_ids()
    one = tapi.as_("gridworker1").get(f"/api/v1/key-households/{hh['id']}").json()
    assert one["overdue"] is True and 0 < one["overdue_days"] < 1
    ticks()
    timed.clock.advance(timedelta(hours=5))
    ticks()
    assert len(entries(timed, "key_household", hh["id"], "key_household:overdue")) == 1  # once per overdue spell
    # A visit clears it; the next spell is announced again.
    tapi.as_("gridworker1").post(f"/api/v1/key-households/{hh['id']}/visits", json={"notes": "补上门"})
    assert hh["id"] not in overdue_ids()
    timed.clock.advance(timedelta(days=7, hours=1))
    wait_for(
        lambda: len(entries(timed, "key_household", hh["id"], "key_household:overdue")) == 2,
        what="the second announcement",
    )
    # Four workers racing over an overdue household announce it once.
    workers = [Database.from_settings(timed.settings) for _ in range(4)]
    all_at_once(lambda db: flag_overdue(db, now=timed.clock()), workers)
    for db in workers:
        db.dispose()
    ticks()
    assert len(entries(timed, "key_household", hh["id"], "key_household:overdue")) == 2


def test_a_key_case_closed_by_the_scheduler_gets_its_follow_up(timed, tapi, tdemo, ttown):
    req = tapi.create(body("lift_failure", ttown.inner_point(tdemo.worker1_grid, seed=17)))
    tapi.drive(req, "verified", retries=3)
    timed.clock.advance(timedelta(days=timed.settings.auto_close_after_days, hours=1))
    closed = wait_for(lambda: (r := tapi.get(req["id"]))["status"] == "closed" and r, what="the automatic close")
    assert closed["trail"][-1]["actor"] == "system"
    items = tapi.as_("gridworker1").get("/api/v1/follow-ups", params={"request_id": req["id"]}).json()["items"]
    assert [(f["kind"], f["status"], f["assigned_by_rule"]) for f in items] == [
        ("secretary_visit", "pending", "grid_lead")
    ]
