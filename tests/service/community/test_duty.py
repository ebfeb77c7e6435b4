"""Building duty over HTTP on both backends: the chair and weekly rotation, the week's duty-holder's
dispute log and property rating, the per-compound property-service score, and bad input."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from service.duty.models import BuildingRotation, RotationMember
from tests.service.community.support import local_today, monday_of, new_account
from tests.service.helpers import assert_problem


def rotation_building_of(backend, volunteer_id: int) -> int:
    with backend.db.reader() as s:
        return s.scalar(
            select(BuildingRotation.building_id)
            .join(RotationMember, RotationMember.rotation_id == BuildingRotation.id)
            .where(RotationMember.volunteer_id == volunteer_id)
        )


def test_the_weeks_duty_holder_logs_disputes_and_rates_the_property_service(api, backend, demo):
    building = rotation_building_of(backend, demo.volunteer1)
    duty = api.as_("volunteer1").get(f"/api/v1/buildings/{building}/duty").json()
    members = [m["volunteer_id"] for m in duty["rotation"]["members"]]
    assert demo.volunteer1 in members and len(members) >= 3
    assert duty["this_week"]["holder"]["volunteer_id"] == demo.volunteer1  # the demo's week is volunteer1's
    assert duty["this_week"]["week_start"] == monday_of(local_today(backend.clock())).isoformat()
    schedule = [w["holder"]["volunteer_id"] for w in duty["schedule"]]
    i = members.index(demo.volunteer1)
    assert schedule == [members[(i + k) % len(members)] for k in range(len(schedule))]
    assert duty["rotation"]["chair"]["volunteer_id"] in members

    r = api.as_("volunteer1").post(
        f"/api/v1/buildings/{building}/duty/disputes",
        json={"summary": "楼上漏水到楼下，协调维修", "outcome": "settled"},
    )
    assert r.status_code == 201, r.text
    referred = api.as_("volunteer1").post(
        f"/api/v1/buildings/{building}/duty/disputes",
        json={"summary": "噪音纠纷调解不成，转社区", "outcome": "referred", "request_category": "noise"},
    )
    assert referred.status_code == 201, referred.text
    api.created.append(referred.json()["request_id"])
    assert api.get(referred.json()["request_id"])["building_id"] == building
    rated = api.as_("volunteer1").post(
        f"/api/v1/buildings/{building}/duty/property-rating", json={"score": 4, "comment": "保洁及时"}
    )
    assert rated.status_code == 201, rated.text
    assert_problem(
        api.as_("volunteer1").post(f"/api/v1/buildings/{building}/duty/property-rating", json={"score": 5}),
        409,
        "building_id",
    )
    log = api.as_("dispatcher").get(f"/api/v1/buildings/{building}/duty/log").json()
    assert log["ratings"][0]["id"] == rated.json()["id"]
    assert {d["id"] for d in log["disputes"][:2]} == {r.json()["id"], referred.json()["id"]}

    # Nobody else: another volunteer, staff, residents.
    other = new_account(backend, "volunteer", volunteer=True)
    with other.client(backend) as c:
        assert_problem(
            c.post(f"/api/v1/buildings/{building}/duty/disputes", json={"summary": "x", "outcome": "settled"}),
            403,
            "building_id",
        )
    for user in ("gridworker1", "dispatcher", "resident1"):
        assert_problem(api.as_(user).post(f"/api/v1/buildings/{building}/duty/property-rating", json={"score": 3}), 403)
    assert_problem(api.as_("resident1").get(f"/api/v1/buildings/{building}/duty"), 403)


def test_setting_a_rotation_and_its_bad_input(api, backend, demo, town):
    building = next(
        b
        for b, p in sorted(town.building_props.items())
        if p["grid_id"] == demo.worker1_grid and b != rotation_building_of(backend, demo.volunteer1)
    )
    a = new_account(backend, "volunteer", volunteer=True, home_building_id=building)
    b = new_account(backend, "volunteer", volunteer=True, home_building_id=building)
    elsewhere = new_account(backend, "volunteer", volunteer=True, home_building_id=building + 1)
    url = f"/api/v1/buildings/{building}/duty"
    cases = [
        ({"members": []}, 422, "members"),
        ({"members": [elsewhere.volunteer_id]}, 422, "members[0]"),
        ({"members": [a.volunteer_id, a.volunteer_id]}, 422, "members[1]"),
        ({"members": [a.volunteer_id, 2**31 - 1]}, 422, "members[1]"),
        ({"members": [a.volunteer_id], "chair_volunteer_id": b.volunteer_id}, 422, "chair_volunteer_id"),
        ({"members": [a.volunteer_id], "starts_on": "next week"}, 422, "starts_on"),
        ({"members": "a"}, 422, "members"),
    ]
    for payload, status, field in cases:
        assert_problem(api.as_("gridworker1").put(url, json=payload), status, field)
    # Before any rotation, nobody holds the duty.
    assert api.as_("dispatcher").get(url).json()["rotation"] is None
    with a.client(backend) as c:
        assert_problem(c.post(f"{url}/property-rating", json={"score": 3}), 409, "building_id")
    # Only the grid's workers, dispatchers and admins organise it.
    outsider = new_account(backend, "grid_worker", worker_grid=demo.other_grid)
    with outsider.client(backend) as c:
        assert_problem(c.put(url, json={"members": [a.volunteer_id]}), 403)
    assert_problem(api.as_("volunteer1").put(url, json={"members": [a.volunteer_id]}), 403)

    last_monday = monday_of(local_today(backend.clock())) - timedelta(weeks=1)
    r = api.as_("gridworker1").put(
        url,
        json={"members": [a.volunteer_id, b.volunteer_id], "starts_on": (last_monday + timedelta(days=2)).isoformat()},
    )
    assert r.status_code == 200, r.text
    duty = r.json()
    assert duty["rotation"]["starts_on"] == last_monday.isoformat()  # moved to its Monday
    assert duty["rotation"]["chair"]["volunteer_id"] == a.volunteer_id  # the first member by default
    holders = [w["holder"]["volunteer_id"] for w in duty["schedule"][:4]]
    assert holders == [b.volunteer_id, a.volunteer_id, b.volunteer_id, a.volunteer_id]  # a held last week
    with a.client(backend) as c:
        assert_problem(c.post(f"{url}/property-rating", json={"score": 3}), 403, "building_id")
    with b.client(backend) as c:
        assert_problem(c.post(f"{url}/property-rating", json={"score": 6}), 422, "score")
        assert_problem(c.post(f"{url}/property-rating", json={"score": "3"}), 422, "score")
        assert_problem(c.post(f"{url}/disputes", json={"summary": "  ", "outcome": "settled"}), 422, "summary")
        assert_problem(
            c.post(f"{url}/disputes", json={"summary": "x", "outcome": "settled", "request_category": "noise"}),
            422,
            "request_category",
        )
        assert_problem(
            c.post(f"{url}/disputes", json={"summary": "x", "outcome": "referred", "request_category": "nope"}),
            422,
            "request_category",
        )
        assert c.post(f"{url}/property-rating", json={"score": 2}).status_code == 201
    assert_problem(api.as_("dispatcher").get("/api/v1/buildings/0/duty"), 422, "building_id")
    assert_problem(api.as_("dispatcher").get(f"/api/v1/buildings/{2**31 - 1}/duty"), 404, "building_id")


def test_property_service_scores_per_compound_over_time(api, backend):
    data = api.as_(None).get("/api/v1/property-scores").json()
    assert data["items"], "the demo has weekly ratings"
    for item in data["items"]:
        assert 1 <= item["score"] <= 5 and item["ratings"] == sum(p["ratings"] for p in item["series"])
        periods = [p["period"] for p in item["series"]]
        assert periods == sorted(periods) and all(len(p) == 7 for p in periods)
        assert "volunteer_id" not in str(item)
    weekly = api.as_(None).get("/api/v1/property-scores", params={"period": "week"}).json()["items"][0]
    assert all(date.fromisoformat(p["period"]).weekday() == 0 for p in weekly["series"])
    one = api.as_(None).get("/api/v1/property-scores", params={"compound_id": weekly["compound_id"]}).json()["items"]
    assert [i["compound_id"] for i in one] == [weekly["compound_id"]]
    assert_problem(api.as_(None).get("/api/v1/property-scores", params={"period": "day"}), 422, "period")
