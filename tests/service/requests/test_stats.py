"""KPIs against an independent computation, over a window in which only this test's requests exist.

The clock is moved 400 days ahead, a known set of requests is driven to known outcomes (closed on
time, closed late, open and overdue, rated 5, 1 and 2-then-4 after a reopen, rejected, six
channels), and every number of ``GET /api/v1/stats`` is recomputed here from the requests' stage
timestamps as the API reports them, with the definitions of the national practice:

* closure rate (结案率) = cases closed (核查结案: verified or later) / cases due to close (closed, or
  open past their resolve deadline); rejected and merged cases do not count;
* on-time rate (按期结案率) = cases verified by their resolve deadline / cases due to close;
* mean minutes from report to acceptance, and from report to on site;
* satisfaction rate = ratings of 4 or 5 / ratings; rework rate (返工率) = reopened / closed.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from statistics import mean

import pytest

from service.requests.models import STAFF_CHANNELS
from tests.service.helpers import assert_problem
from tests.service.requests.api import ANON, Api, body, check, wait_for
from tests.support.town import Town

CLOSED = {"verified", "evaluated", "closed"}
OPEN = {"reported", "accepted", "dispatched", "on_site", "reopened"}


def t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def minutes(a: str, b: str) -> float:
    return (t(b) - t(a)).total_seconds() / 60


def expected_kpis(reqs: list[dict], now: datetime) -> dict:
    live = [r for r in reqs if r["status"] not in ("rejected", "merged")]
    closed = [r for r in live if r["status"] in CLOSED]
    due = [r for r in live if r["status"] in CLOSED or t(r["due_resolve_at"]) <= now]
    on_time = [r for r in closed if t(r["verified_at"]) <= t(r["due_resolve_at"])]
    rated = [r["satisfaction"] for r in reqs if r["satisfaction"] is not None]
    return {
        "total": len(reqs),
        "open": sum(r["status"] in OPEN for r in reqs),
        "closed": len(closed),
        "due_to_close": len(due),
        "closure_rate": len(closed) / len(due),
        "on_time_rate": len(on_time) / len(due),
        "mean_response_minutes": mean(minutes(r["reported_at"], r["accepted_at"]) for r in reqs if r["accepted_at"]),
        "mean_onsite_minutes": mean(minutes(r["reported_at"], r["on_site_at"]) for r in reqs if r["on_site_at"]),
        "satisfaction_rate": sum(s >= 4 for s in rated) / len(rated),
        "mean_satisfaction": mean(rated),
        "rework_rate": sum(r["reopen_count"] > 0 for r in closed) / len(closed),
        "overdue_open": sum(r["status"] in OPEN and t(r["due_resolve_at"]) <= now for r in reqs),
        "by_category": dict(Counter(r["category"] for r in reqs)),
        "by_channel": dict(Counter(r["channel"] for r in reqs)),
    }


def assert_kpis(got: dict, want: dict) -> None:
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=0.01), key
        else:
            assert got[key] == value, key


@pytest.fixture(scope="module")
def window(backend, clients, town: Town):
    """The known set, built once per backend in a fresh window 400 days ahead (the clock stays there
    for this module's tests): (grid, other grid, requests, the other grid's request, start, end)."""
    api, clock = Api(backend, clients), backend.clock
    clock.advance(timedelta(days=400))
    try:
        yield build(api, town, clock)
    finally:
        api.settle()
        clock.reset()


def build(api: Api, town: Town, clock) -> tuple:
    grid = sorted(town.grids)[8]
    other = next(
        g for g in sorted(town.grids) if town.grid_props[g]["community_id"] != town.grid_props[grid]["community_id"]
    )
    start = clock() - timedelta(minutes=1)

    def new(category: str, channel: str, seed: int, where: int = grid) -> dict:
        # Calls, walk-ins and patrol findings are entered by staff (the dispatcher), the rest by residents.
        user = "dispatcher" if channel in STAFF_CHANNELS else ANON
        return api.create(body(category, town.inner_point(where, seed=seed), channel=channel), user=user)

    a = new("littering", "wechat", 1)  # closed on time, rated 5
    b = new("sanitation", "phone", 2)  # closed on time, rated 1
    r = new("littering", "mini_program", 3)  # rated 2, reopened, closed again rated 4
    late = new("epidemic_control", "walk_in", 4)  # 2-hour deadline: closed after 3 hours
    overdue = new("epidemic_control", "patrol", 5)  # accepted, left open past its deadline
    fresh = new("noise", "web", 6)  # left open, not yet due
    rejected = new("littering", "web", 7)
    elsewhere = new("littering", "web", 8, where=other)  # same window, another grid and community
    api.act(rejected["id"], "reject", reason="重复上报", retries=5)

    clock.advance(timedelta(minutes=2))
    for req in (a, b, r):
        api.act(req["id"], "accept", retries=5)
    clock.advance(timedelta(minutes=8))
    api.act(overdue["id"], "accept", retries=5)
    for req, score in ((a, 5), (b, 1)):
        api.drive_from(req, ("dispatch", "arrive", "resolve", "verify"), retries=5)
        api.act(req["id"], "evaluate", user=ANON, tracking_code=req["tracking_code"], satisfaction=score, retries=5)
        api.act(req["id"], "close", retries=5)
    api.drive_from(r, ("dispatch", "resolve", "verify"), retries=5)
    api.act(r["id"], "evaluate", user=ANON, tracking_code=r["tracking_code"], satisfaction=2, retries=5)
    api.act(r["id"], "reopen", user=ANON, tracking_code=r["tracking_code"], reason="又脏了", retries=5)
    api.drive_from(r, ("dispatch", "resolve", "verify"), retries=5)
    api.act(r["id"], "evaluate", user=ANON, tracking_code=r["tracking_code"], satisfaction=4, retries=5)
    api.act(r["id"], "close", retries=5)

    clock.advance(timedelta(hours=3))
    wait_for(lambda: "resolve" in api.get(late["id"])["breached"], what="the late case's resolve breach")
    api.drive_from(late, ("accept", "dispatch", "arrive", "resolve", "verify", "close"), retries=5)
    end = clock() + timedelta(minutes=1)
    mine = [api.get(x["id"]) for x in (a, b, r, late, overdue, fresh, rejected)]
    return grid, other, mine, api.get(elsewhere["id"]), start, end


def stats(api: Api, **params) -> dict:
    r = api.as_("planner").get(
        "/api/v1/stats", params={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in params.items()}
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_kpis_of_a_grid_match_an_independent_computation(api, backend, window):
    """Every KPI for the grid and period equals the number recomputed from the requests themselves."""
    grid, _, mine, _, start, end = window
    assert {r["grid_id"] for r in mine} == {grid}
    by = {r["channel"] + ":" + r["category"]: r for r in mine}
    # The set is what was planned (guards the computation below against a silent setup change).
    assert by["walk_in:epidemic_control"]["status"] == "closed"
    assert t(by["walk_in:epidemic_control"]["verified_at"]) > t(by["walk_in:epidemic_control"]["due_resolve_at"])
    assert by["patrol:epidemic_control"]["status"] == "accepted"
    assert by["mini_program:littering"]["reopen_count"] == 1
    assert minutes(by["wechat:littering"]["reported_at"], by["wechat:littering"]["accepted_at"]) == pytest.approx(
        2, abs=0.5
    )

    want = expected_kpis(mine, backend.clock())
    assert want["closure_rate"] == 4 / 5 and want["on_time_rate"] == 3 / 5
    assert want["satisfaction_rate"] == 2 / 3 and want["rework_rate"] == 1 / 4
    got = stats(api, grid_id=grid, start=start, end=end)
    assert_kpis(got, want)
    assert got["grid_id"] == grid


def test_kpis_filter_by_community_and_period_and_group_by_grid(api, backend, town, window):
    """The community filter, the period and grouping select the same requests a recount does."""
    grid, other, mine, elsewhere, start, end = window
    community = town.grid_props[grid]["community_id"]
    now = backend.clock()
    assert_kpis(stats(api, community_id=community, start=start, end=end), expected_kpis(mine, now))
    everything = stats(api, start=start, end=end)
    assert_kpis(everything, expected_kpis([*mine, elsewhere], now))
    assert everything["by_channel"]["web"] == 3

    grouped = stats(api, start=start, end=end, group_by="grid")
    groups = {g["grid_id"]: g for g in grouped["groups"]}
    assert set(groups) == {grid, other}
    assert_kpis(groups[grid], expected_kpis(mine, now))
    assert groups[other]["total"] == 1 and groups[other]["by_category"] == {"littering": 1}

    before = stats(api, grid_id=grid, start=start - timedelta(days=2), end=start - timedelta(days=1))
    assert before["total"] == 0 and before["closure_rate"] is None
    assert stats(api, grid_id=grid, start=start, end=end - timedelta(hours=3, minutes=5))["total"] == len(mine)
    assert_problem(api.as_("resident1").get("/api/v1/stats"), 403)
    assert_problem(api.as_(None).get("/api/v1/stats"), 401)


def test_grouping_stays_within_the_filter(api, town, window):
    """Grouping a community's KPIs by grid gives only that community's grids, summing to its total."""
    grid, _, mine, _, start, end = window
    community = town.grid_props[grid]["community_id"]
    grouped = stats(api, community_id=community, start=start, end=end, group_by="grid")
    assert grouped["total"] == len(mine)
    grids = {g["grid_id"] for g in grouped["groups"]}
    check(grids == {grid}, f"groups for grids {sorted(grids)}, the community holds only {grid} here")
    total = sum(g["total"] for g in grouped["groups"])
    check(total == grouped["total"], f"groups sum to {total}, the filtered total is {grouped['total']}")
