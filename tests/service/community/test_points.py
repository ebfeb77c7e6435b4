"""The points ledger over HTTP on both backends: balances are sums, earning is confirmed once per
source by the grid's staff, redemptions never exceed the balance (not even racing), corrections are
new entries, and the database refuses to change a ledger row."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, text

from service.points.models import PointsEntry
from tests.service.community.support import new_account
from tests.service.helpers import assert_problem
from tests.service.requests.api import body, unique
from tests.support.race import all_at_once

#: Points per hour of each kind of service, as the rules page publishes them (志愿积分制).
RATES = {
    "general": 10,
    "elder_care": 12,
    "childcare": 12,
    "tutoring": 12,
    "repair": 12,
    "health": 12,
    "mediation": 15,
    "legal": 15,
    "patrol": 8,
    "sanitation": 8,
    "event": 5,
}


def balance_of(client: httpx.Client) -> int:
    r = client.get("/api/v1/points/me")
    assert r.status_code == 200, r.text
    return r.json()["balance"]


def new_event(backend, community_id: int, *, hours: float, kind: str = "general", starts_in_h: float = -1) -> dict:
    with backend.client("dispatcher") as d:
        r = d.post(
            "/api/v1/community-events",
            json={
                "title_zh": unique("测试活动"),
                "service_kind": kind,
                "starts_at": (backend.clock() + timedelta(hours=starts_in_h)).isoformat(),
                "hours": hours,
                "community_id": community_id,
            },
        )
    assert r.status_code == 201, r.text
    return r.json()


def credit(backend, volunteer_id: int, community_id: int, points: int) -> None:
    """Give a volunteer exactly ``points`` (10 points an hour of general volunteering)."""
    event = new_event(backend, community_id, hours=points / 10)
    with backend.client("dispatcher") as d:
        r = d.post(
            "/api/v1/points/earn", json={"volunteer_id": volunteer_id, "source_type": "event", "source_id": event["id"]}
        )
    assert r.status_code == 201, r.text
    assert r.json()["entry"]["amount"] == points


def new_item(backend, price: int, **extra) -> dict:
    with backend.client("dispatcher") as d:
        r = d.post("/api/v1/points/catalogue", json={"name_zh": unique("测试兑换"), "price": price, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_my_points_are_the_sum_of_my_ledger_with_running_balances(api, backend, demo):
    me = api.as_("volunteer1").get("/api/v1/points/me").json()
    with backend.db.reader() as s:
        total = s.scalar(select(func.sum(PointsEntry.amount)).where(PointsEntry.volunteer_id == demo.volunteer1))
    assert me["volunteer_id"] == demo.volunteer1
    assert me["balance"] == total == sum(e["amount"] for e in me["history"])
    oldest_first = me["history"][::-1]
    running = 0
    for e in oldest_first:
        running += e["amount"]
        assert e["balance_after"] == running >= 0
    assert me["earned"] >= me["redeemed"] >= 0
    # Staff see the same; another volunteer does not.
    staff = api.as_("dispatcher").get(f"/api/v1/points/volunteers/{demo.volunteer1}").json()
    assert staff["balance"] == me["balance"]
    other = new_account(backend, "volunteer", volunteer=True)
    with other.client(backend) as c:
        assert_problem(c.get(f"/api/v1/points/volunteers/{demo.volunteer1}"), 403)
    for user in ("resident1", "planner", "dispatcher"):
        assert_problem(api.as_(user).get("/api/v1/points/me"), 403)
    assert_problem(api.as_(None).get("/api/v1/points/me"), 401)


def test_a_handled_request_earns_once_confirmed_by_its_grids_worker(api, backend, demo, town):
    grid = demo.worker1_grid
    req = api.create(body("pipe_leak", town.inner_point(grid, seed=81)))
    api.act(req["id"], "accept")
    api.act(req["id"], "dispatch", volunteer_id=demo.volunteer1)
    earn = {"volunteer_id": demo.volunteer1, "source_type": "request", "source_id": req["id"], "hours": 1.5}
    # Not handled yet.
    assert_problem(api.as_("gridworker1").post("/api/v1/points/earn", json=earn), 409, "source_id")
    api.act(req["id"], "arrive", user="volunteer1")
    api.act(req["id"], "resolve", user="volunteer1", note="换了阀门 valve replaced")
    before = balance_of(api.as_("volunteer1"))
    # Volunteers cannot credit themselves; a worker of another grid may not confirm.
    assert_problem(api.as_("volunteer1").post("/api/v1/points/earn", json=earn), 403)
    outsider = new_account(backend, "grid_worker", worker_grid=demo.other_grid)
    with outsider.client(backend) as c:
        assert_problem(c.post("/api/v1/points/earn", json=earn), 403)
    # The wrong volunteer.
    assert_problem(
        api.as_("gridworker1").post("/api/v1/points/earn", json=earn | {"volunteer_id": 1 + demo.volunteer1}),
        422,
        "volunteer_id",
    )
    r = api.as_("gridworker1").post("/api/v1/points/earn", json=earn)
    assert r.status_code == 201, r.text
    entry = r.json()["entry"]
    assert entry["amount"] == 18  # a plumbing case is repair work, 12 points an hour, 1.5 hours
    assert (entry["source_type"], entry["source_id"], entry["grid_id"]) == ("request", req["id"], grid)
    assert entry["confirmed_by"] == "gridworker1"
    assert balance_of(api.as_("volunteer1")) == before + entry["amount"]
    # A source earns once, whoever confirms again.
    again = assert_problem(
        api.as_("dispatcher").post("/api/v1/points/earn", json=earn | {"hours": 3.0}), 409, "source_id"
    )
    assert again["entry_id"] == entry["id"]
    assert balance_of(api.as_("volunteer1")) == before + entry["amount"]


def test_an_event_earns_once_per_attending_volunteer(backend, demo):
    a = new_account(backend, "volunteer", volunteer=True, community_id=demo.volunteer1_community)
    b = new_account(backend, "volunteer", volunteer=True, community_id=demo.volunteer1_community)
    event = new_event(backend, demo.volunteer1_community, hours=2.0, kind="event")
    with backend.client("dispatcher") as d:
        for who in (a, b):
            r = d.post(
                "/api/v1/points/earn",
                json={"volunteer_id": who.volunteer_id, "source_type": "event", "source_id": event["id"]},
            )
            assert r.status_code == 201, r.text
            assert r.json()["entry"]["amount"] == 10  # 2 hours of a community event, 5 points an hour
        twice = d.post(
            "/api/v1/points/earn",
            json={"volunteer_id": a.volunteer_id, "source_type": "event", "source_id": event["id"]},
        )
        assert_problem(twice, 409, "source_id")
        future = new_event(backend, demo.volunteer1_community, hours=1.0, starts_in_h=24)
        early = d.post(
            "/api/v1/points/earn",
            json={"volunteer_id": a.volunteer_id, "source_type": "event", "source_id": future["id"]},
        )
        assert_problem(early, 409, "source_id")
        unknown = d.post(
            "/api/v1/points/earn", json={"volunteer_id": a.volunteer_id, "source_type": "event", "source_id": 2**31 - 1}
        )
        assert_problem(unknown, 404, "source_id")
        bad_kind = d.post(
            "/api/v1/points/earn",
            json={
                "volunteer_id": b.volunteer_id,
                "source_type": "event",
                "source_id": future["id"],
                "kind": "juggling",
            },
        )
        assert bad_kind.status_code in (409, 422)
    with a.client(backend) as c:
        assert balance_of(c) == 10


def test_redeeming_more_than_the_balance_fails_naming_the_item(backend, demo):
    vol = new_account(backend, "volunteer", volunteer=True, community_id=demo.volunteer1_community)
    credit(backend, vol.volunteer_id, demo.volunteer1_community, 50)
    dear, cheap = new_item(backend, 60), new_item(backend, 20)
    with vol.client(backend) as c:
        body_ = assert_problem(c.post("/api/v1/points/redeem", json={"item": dear["id"]}), 409, "item")
        assert (body_["balance"], body_["cost"]) == (50, 60)
        assert_problem(c.post("/api/v1/points/redeem", json={"item": cheap["id"], "quantity": 3}), 409, "item")
        ok = c.post("/api/v1/points/redeem", json={"item": cheap["id"], "quantity": 2})
        assert ok.status_code == 201, ok.text
        assert ok.json()["balance"] == 10 and ok.json()["entry"]["amount"] == -40
        assert balance_of(c) == 10
        # Bad input, each naming its field.
        assert_problem(c.post("/api/v1/points/redeem", json={"item": 2**31 - 1}), 422, "item")
        assert_problem(c.post("/api/v1/points/redeem", json={"item": "1"}), 422, "item")
        assert_problem(c.post("/api/v1/points/redeem", json={"item": cheap["id"], "quantity": 0}), 422, "quantity")
        assert_problem(
            c.post("/api/v1/points/redeem", json={"item": cheap["id"], "volunteer_id": 1}), 403, "volunteer_id"
        )
        history = c.get("/api/v1/points/me").json()["history"]
    assert [e["kind"] for e in history] == ["redeem", "earn"]  # refused redemptions left no row


def test_withdrawn_and_other_community_items_cannot_be_redeemed(backend, demo):
    vol = new_account(backend, "volunteer", volunteer=True, community_id=demo.volunteer1_community)
    credit(backend, vol.volunteer_id, demo.volunteer1_community, 100)
    item = new_item(backend, 10)
    with backend.db.reader() as s:
        other_community = s.scalar(
            text("SELECT id FROM areas WHERE level = 'community' AND id != :c ORDER BY id LIMIT 1"),
            {"c": demo.volunteer1_community},
        )
    elsewhere = new_item(backend, 10, community_id=other_community)
    with backend.client("dispatcher") as d:
        assert d.patch(f"/api/v1/points/catalogue/{item['id']}", json={"active": False}).status_code == 200
        listed = [i["id"] for i in d.get("/api/v1/points/catalogue").json()]
        assert item["id"] not in listed
    with vol.client(backend) as c:
        assert_problem(c.post("/api/v1/points/redeem", json={"item": item["id"]}), 409, "item")
        assert_problem(c.post("/api/v1/points/redeem", json={"item": elsewhere["id"]}), 422, "item")
        assert balance_of(c) == 100


def test_two_redemptions_racing_for_the_same_points_cannot_both_succeed(backend, demo):
    """Eight concurrent HTTP redemptions of a 30-point item against a balance of 100: exactly three
    succeed, on SpatiaLite (serialised writers) and on PostGIS (the volunteer's row locked)."""
    vol = new_account(backend, "volunteer", volunteer=True, community_id=demo.volunteer1_community)
    credit(backend, vol.volunteer_id, demo.volunteer1_community, 100)
    item = new_item(backend, 30)
    token = backend.token(vol.username, vol.password)
    clients = [
        httpx.Client(base_url=backend.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        for _ in range(8)
    ]
    answers = all_at_once(lambda c: c.post("/api/v1/points/redeem", json={"item": item["id"]}), clients, timeout=90)
    for c in clients:
        c.close()
    results = [r for r in answers if r is not None]
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 3 + [409] * 5, [r.text for r in results]
    for r in results:
        if r.status_code == 409:
            assert_problem(r, 409, "item")
    balances = sorted(r.json()["balance"] for r in results if r.status_code == 201)
    assert balances == [10, 40, 70]
    with vol.client(backend) as c:
        me = c.get("/api/v1/points/me").json()
    assert me["balance"] == 10
    assert sum(e["kind"] == "redeem" for e in me["history"]) == 3


def test_corrections_are_new_entries_and_the_database_refuses_edits(backend, demo):
    vol = new_account(backend, "volunteer", volunteer=True, community_id=demo.volunteer1_community)
    credit(backend, vol.volunteer_id, demo.volunteer1_community, 30)
    with vol.client(backend) as c:
        earned = c.get("/api/v1/points/me").json()["history"][0]
    with backend.client("admin") as a:
        r = a.post("/api/v1/points/corrections", json={"entry_id": earned["id"], "amount": -10, "note": "多记了一小时"})
        assert r.status_code == 201, r.text
        fix = r.json()
        assert fix["entry"]["kind"] == "correction" and fix["entry"]["corrects_entry_id"] == earned["id"]
        assert fix["balance"] == 20
        below = a.post("/api/v1/points/corrections", json={"entry_id": earned["id"], "amount": -21, "note": "x"})
        assert_problem(below, 409, "amount")
        assert_problem(
            a.post("/api/v1/points/corrections", json={"entry_id": earned["id"], "amount": 0, "note": "x"}),
            422,
            "amount",
        )
        assert_problem(
            a.post("/api/v1/points/corrections", json={"entry_id": earned["id"], "amount": 5, "note": ""}), 422, "note"
        )
        assert_problem(
            a.post("/api/v1/points/corrections", json={"entry_id": 2**31 - 1, "amount": 5, "note": "x"}),
            404,
            "entry_id",
        )
    with backend.client("gridworker1") as g:
        assert_problem(
            g.post("/api/v1/points/corrections", json={"entry_id": earned["id"], "amount": 1, "note": "x"}), 403
        )
    with vol.client(backend) as c:
        history = c.get("/api/v1/points/me").json()["history"]
    assert [(e["kind"], e["amount"]) for e in history] == [("correction", -10), ("earn", 30)]
    # The ledger itself refuses changes, whoever connects.
    for statement in (
        "UPDATE points_ledger SET amount = 1000 WHERE id = :id",
        "DELETE FROM points_ledger WHERE id = :id",
    ):
        with pytest.raises(Exception, match="append-only"), backend.db.transaction() as s:
            s.execute(text(statement), {"id": earned["id"]})
    with backend.db.reader() as s:
        assert s.get(PointsEntry, earned["id"]).amount == 30


def test_catalogue_is_public_and_kept_by_staff(api, backend):
    items = api.as_(None).get("/api/v1/points/catalogue").json()
    names = {i["name_zh"] for i in items}
    assert {"理发", "家电维修", "托育时长"} <= names
    assert all(i["price"] > 0 and i["active"] for i in items)
    prices = [i["price"] for i in items]
    assert prices == sorted(prices)
    rules = api.as_(None).get("/api/v1/points/rules").json()
    assert {k["kind"]: k["points_per_hour"] for k in rules["kinds"]} == RATES
    for user in ("volunteer1", "gridworker1", "resident1"):
        assert_problem(api.as_(user).post("/api/v1/points/catalogue", json={"name_zh": "x", "price": 5}), 403)
    assert_problem(
        api.as_("dispatcher").post("/api/v1/points/catalogue", json={"name_zh": "x", "price": 0}), 422, "price"
    )
    assert_problem(
        api.as_("dispatcher").post("/api/v1/points/catalogue", json={"name_zh": "x", "price": 5.5}), 422, "price"
    )


def test_leaderboards_per_volunteer_team_and_grid_and_community_totals(api, backend, demo):
    by_volunteer = api.as_("resident1").get("/api/v1/points/leaderboard").json()["items"]
    assert by_volunteer and [r["rank"] for r in by_volunteer] == list(range(1, len(by_volunteer) + 1))
    points = [r["points"] for r in by_volunteer]
    assert points == sorted(points, reverse=True)
    assert "phone" not in by_volunteer[0]
    teams = api.as_("volunteer1").get("/api/v1/points/leaderboard", params={"by": "team", "limit": 500}).json()["items"]
    assert len(teams) >= 30 and any(t["name_zh"].endswith("长者调解队") for t in teams)
    grids = api.as_("dispatcher").get("/api/v1/points/leaderboard", params={"by": "grid", "limit": 500}).json()["items"]
    assert grids and all(g["grid_id"] for g in grids)
    in_grid = (
        api.as_("dispatcher")
        .get("/api/v1/points/leaderboard", params={"grid_id": grids[0]["grid_id"], "limit": 500})
        .json()["items"]
    )
    assert sum(r["points"] for r in in_grid) == grids[0]["points"]
    summary = api.as_("dispatcher").get("/api/v1/points/summary").json()
    assert summary["earned"] > summary["redeemed"] > 0
    assert summary["by_month"] and sum(m["earned"] for m in summary["by_month"]) == summary["earned"]
    community = (
        api.as_("dispatcher").get("/api/v1/points/summary", params={"community_id": demo.volunteer1_community}).json()
    )
    assert 0 < community["earned"] < summary["earned"]
    assert_problem(api.as_("dispatcher").get("/api/v1/points/leaderboard", params={"by": "building"}), 422, "by")
    assert_problem(api.as_("dispatcher").get("/api/v1/points/summary", params={"start": "yesterday"}), 422, "start")
    assert_problem(api.as_(None).get("/api/v1/points/leaderboard"), 401)
