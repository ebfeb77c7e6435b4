"""Follow-ups over HTTP on both backends: a key case that closes gets the secretary's door-knock
visit (书记敲门) assigned to the grid's lead worker; its answer feeds satisfaction or reopens the case
through the normal workflow; return visits on request; roles and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.service.community.support import new_account
from tests.service.helpers import assert_problem
from tests.service.requests.api import body, user_id


def follow_ups_of(api, request_id: int, user: str = "dispatcher", **params) -> list[dict]:
    r = api.as_(user).get("/api/v1/follow-ups", params={"request_id": request_id, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def closed_key_case(api, town, grid: int, *, category: str = "lift_failure", seed: int = 0) -> dict:
    req = api.create(body(category, town.inner_point(grid, seed=seed)))
    assert req["warning_level"] in ("orange", "red") or req["level"] in ("community", "township", "department")
    return api.drive(req, "closed")


def test_a_key_case_that_closes_gets_the_secretarys_visit(api, backend, demo, town):
    closed = closed_key_case(api, town, demo.worker1_grid, seed=11)
    items = follow_ups_of(api, closed["id"])
    assert len(items) == 1
    f = items[0]
    assert (f["kind"], f["status"], f["assigned_by_rule"]) == ("secretary_visit", "pending", "grid_lead")
    assert f["assignee_user_id"] == user_id(backend, "gridworker1")  # the grid's lead worker
    assert f["reason"].startswith(("warning:", "level:"))
    due = datetime.fromisoformat(f["due_at"]) - datetime.fromisoformat(closed["closed_at"])
    assert abs(due - timedelta(days=backend.settings.follow_up_due_days)) < timedelta(seconds=1)
    assert f["request"]["tracking_code"] == closed["tracking_code"]
    mine = api.as_("gridworker1").get("/api/v1/follow-ups", params={"mine": True}).json()["items"]
    assert f["id"] in {m["id"] for m in mine}
    # An everyday case gets none.
    plain = api.new_at("closed", body("littering", town.inner_point(demo.worker1_grid, seed=12)))
    assert plain["warning_level"] == "blue"
    assert follow_ups_of(api, plain["id"]) == []


def test_the_return_visit_can_reopen_the_case_through_the_workflow(api, backend, demo, town):
    closed = closed_key_case(api, town, demo.worker1_grid, seed=21)
    f = follow_ups_of(api, closed["id"])[0]
    r = api.as_("gridworker1").post(
        f"/api/v1/follow-ups/{f['id']}/result",
        json={
            "resident_answer": "not_resolved",
            "result": "电梯又停了 the lift stopped again",
            "satisfaction": 1,
            "reopen": True,
            "version": f["version"],
        },
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["resident_answer"], done["reopened"], done["done_by"]) == (
        "done",
        "not_resolved",
        True,
        "gridworker1",
    )
    case = api.get(closed["id"])
    assert case["status"] == "reopened" and case["reopen_count"] == 1
    last = case["trail"][-1]
    assert (last["action"], last["from"], last["to"], last["actor"]) == ("reopen", "closed", "reopened", "gridworker1")
    assert f"return visit {f['id']}" in last["note"]
    # The reopened case runs the loop again; closing it again asks for a new visit.
    again = api.drive_from(case, ("dispatch", "arrive", "resolve", "verify", "close"))
    assert again["status"] == "closed"
    kinds = [(x["kind"], x["status"]) for x in follow_ups_of(api, closed["id"])]
    assert sorted(kinds) == [("secretary_visit", "done"), ("secretary_visit", "pending")]
    # A done follow-up cannot be answered twice.
    assert_problem(
        api.as_("gridworker1").post(
            f"/api/v1/follow-ups/{f['id']}/result", json={"resident_answer": "resolved", "result": "x"}
        ),
        409,
        "follow_up_id",
    )


def test_an_answer_feeds_satisfaction_on_an_unrated_case(api, backend, demo, town):
    closed = closed_key_case(api, town, demo.worker1_grid, seed=31)
    assert closed["satisfaction"] is None
    f = follow_ups_of(api, closed["id"])[0]
    r = api.as_("gridworker1").post(
        f"/api/v1/follow-ups/{f['id']}/result",
        json={"resident_answer": "resolved", "result": "已修好，很满意", "satisfaction": 5},
    )
    assert r.status_code == 200, r.text
    case = api.get(closed["id"])
    assert case["status"] == "closed" and case["satisfaction"] == 5
    assert case["trail"][-1]["action"] == "return_visit"
    stats = api.as_("dispatcher").get("/api/v1/follow-ups/stats").json()
    assert stats["done"] >= 1 and stats["answers"]["resolved"] >= 1 and stats["mean_satisfaction"] is not None


def test_return_visits_on_request_and_who_may_do_what(api, backend, demo, town):
    resolved = api.new_at("resolved", body("littering", town.inner_point(demo.worker1_grid, seed=41)))
    r = api.as_("gridworker1").post("/api/v1/follow-ups", json={"request_id": resolved["id"]})
    assert r.status_code == 201, r.text
    visit = r.json()
    assert (visit["kind"], visit["assignee_user_id"]) == ("return_visit", user_id(backend, "gridworker1"))
    due = datetime.fromisoformat(visit["due_at"]) - datetime.fromisoformat(visit["created_at"])
    assert abs(due - timedelta(days=backend.settings.return_visit_due_days)) < timedelta(seconds=1)
    # A resolved, unrated case: the answer becomes its rating.
    done = api.as_("gridworker1").post(
        f"/api/v1/follow-ups/{visit['id']}/result",
        json={"resident_answer": "resolved", "result": "ok", "satisfaction": 4},
    )
    assert done.status_code == 200, done.text
    assert api.get(resolved["id"])["satisfaction"] == 4

    outsider = new_account(backend, "grid_worker", worker_grid=demo.other_grid)
    with outsider.client(backend) as c:
        assert_problem(c.get(f"/api/v1/follow-ups/{visit['id']}"), 403, "follow_up_id")
        assert visit["id"] not in {
            x["id"] for x in c.get("/api/v1/follow-ups", params={"status": "done"}).json()["items"]
        }
        assert_problem(c.post("/api/v1/follow-ups", json={"request_id": resolved["id"]}), 403, "request_id")
    for user in ("resident1", "volunteer1", "planner", "dept_zjj"):
        assert_problem(api.as_(user).get("/api/v1/follow-ups"), 403)
    assert_problem(api.as_(None).get("/api/v1/follow-ups"), 401)


def test_bad_follow_up_input_names_the_field(api, demo, town):
    open_case = api.new_at("accepted", body("littering", town.inner_point(demo.worker1_grid, seed=51)))
    assert_problem(
        api.as_("dispatcher").post("/api/v1/follow-ups", json={"request_id": open_case["id"]}), 409, "request_id"
    )
    assert_problem(api.as_("dispatcher").post("/api/v1/follow-ups", json={"request_id": 2**31 - 1}), 422, "request_id")
    resolved = api.new_at("resolved", body("littering", town.inner_point(demo.worker1_grid, seed=52)))
    assert_problem(
        api.as_("dispatcher").post("/api/v1/follow-ups", json={"request_id": resolved["id"], "due_at": "2000-01-01"}),
        422,
        "due_at",
    )
    assert_problem(
        api.as_("dispatcher").post(
            "/api/v1/follow-ups", json={"request_id": resolved["id"], "assignee_user_id": 2**31 - 1}
        ),
        422,
        "assignee_user_id",
    )
    f = api.as_("dispatcher").post("/api/v1/follow-ups", json={"request_id": resolved["id"]}).json()
    url = f"/api/v1/follow-ups/{f['id']}/result"
    cases = [
        ({"resident_answer": "resolved", "result": "ok", "reopen": True}, 422, "reopen"),
        ({"resident_answer": "not_resolved", "result": "x", "reopen": True, "satisfaction": 4}, 422, "satisfaction"),
        ({"resident_answer": "resolved", "result": "ok", "satisfaction": 6}, 422, "satisfaction"),
        ({"resident_answer": "unreachable", "result": "nobody home", "satisfaction": 3}, 422, "satisfaction"),
        ({"resident_answer": "maybe", "result": "ok"}, 422, "resident_answer"),
        ({"resident_answer": "resolved", "result": ""}, 422, "result"),
        ({"resident_answer": "resolved", "result": "ok", "version": 99}, 409, "version"),
    ]
    for payload, status, field in cases:
        assert_problem(api.as_("dispatcher").post(url, json=payload), status, field)
    assert api.get(resolved["id"])["status"] == "resolved"
