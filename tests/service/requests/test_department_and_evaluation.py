"""派单/接单/诺单/评单: dispatch to the paired department, its accept or refusal, the joint-meeting
item it opens, and the resident's evaluation (signed in or with the tracking code) and reopen."""

from __future__ import annotations

import uuid

import pytest

from tests.service.helpers import assert_problem
from tests.service.requests.api import ANON, Api, body, linked_worker
from tests.support.town import Town

CATEGORY = "property_service"  # routed to the housing bureau (zjj)


@pytest.fixture
def home(backend, town: Town) -> tuple[float, float]:
    """A point in gridworker1's grid, in community 1, which the demo pairs with zjj."""
    _, grid_ids = linked_worker(backend)
    return town.inner_point(grid_ids[0], seed=11)


def meeting_item(api: Api, request_id: int, *, open_only: bool = True) -> dict | None:
    r = api.as_("dispatcher").get("/api/v1/joint-meetings", params={"open_only": open_only})
    assert r.status_code == 200, r.text
    return next((i for i in r.json() if i["request_id"] == request_id), None)


def test_dispatch_to_the_paired_department_which_accepts_and_handles_it(api, town, home):
    """The dispatcher sends it to the department paired with the community for this kind of case;
    it waits for that department, which accepts, arrives and resolves; the case joins the joint
    meeting, whose item can be closed (销号) only once the case is closed."""
    zjj = town.departments["zjj"]
    req = api.create(body(CATEGORY, home))
    assert town.categories[CATEGORY]["department_code"] == "zjj"
    assert req["community_id"] in {c["id"] for c in zjj["communities"]}
    api.act(req["id"], "accept")
    sent = api.act(req["id"], "dispatch", to_department=True, note="请住建局处理")
    assert sent["status"] == "dispatched"
    assert sent["department_id"] == zjj["id"] and sent["department_status"] == "pending"
    assert sent["level"] == "department"
    item = meeting_item(api, req["id"])
    assert item is not None and item["level"] == "department" and item["closed_at"] is None

    assert req["id"] in {i["id"] for i in api.listing("dept_zjj")["items"]}
    accepted = api.act(req["id"], "department_accept", user="dept_zjj", note="接单")
    assert accepted["status"] == "dispatched" and accepted["department_status"] == "accepted"
    assert api.act(req["id"], "arrive", user="dept_zjj")["status"] == "on_site"
    assert api.act(req["id"], "resolve", user="dept_zjj", note="已修复")["status"] == "resolved"
    trail = api.get(req["id"])["trail"]
    assert [e["actor"] for e in trail if e["action"] in ("department_accept", "arrive", "resolve")] == ["dept_zjj"] * 3

    close = api.as_("dispatcher").post(f"/api/v1/joint-meetings/{item['id']}/close")
    assert_problem(close, 409, "item_id")
    assert meeting_item(api, req["id"])["closed_at"] is None
    api.act(req["id"], "verify")
    close = api.as_("dispatcher").post(f"/api/v1/joint-meetings/{item['id']}/close", params={"note": "销号"})
    assert close.status_code == 200, close.text
    assert meeting_item(api, req["id"]) is None
    done = meeting_item(api, req["id"], open_only=False)
    assert done["closed_at"] is not None
    assert_problem(api.as_("dispatcher").post(f"/api/v1/joint-meetings/{item['id']}/close"), 409)
    assert_problem(api.as_("resident1").get("/api/v1/joint-meetings"), 403)


def test_a_department_refusal_sends_the_case_back_to_accepted(api, town, home):
    """Refused (with a reason), the case is accepted again, no longer the department's, and can be
    dispatched anew."""
    req = api.drive(api.create(body(CATEGORY, home)), "dispatched", to_department=True)
    assert_problem(api.send(req["id"], "department_refuse", user="dept_zjj"), 422, "reason")
    refused = api.act(req["id"], "department_refuse", user="dept_zjj", reason="不属于本局职责")
    assert refused["status"] == "accepted"
    assert refused["department_status"] == "refused" and refused["department_id"] is None
    assert api.get(req["id"])["trail"][-1]["note"] == "不属于本局职责"
    assert_problem(api.as_("dept_zjj").get(f"/api/v1/requests/{req['id']}"), 403)
    assert_problem(api.send(req["id"], "department_accept", user="dept_zjj"), 403)
    again = api.act(req["id"], "dispatch", volunteer_id=req["volunteer_id"] or api.fallback_volunteer())
    assert again["status"] == "dispatched"


def test_the_reporter_evaluates_with_the_tracking_code_and_a_low_score_offers_a_reopen(api, home):
    """No login: the tracking code lets the reporter rate; 2 or less offers a reopen, which goes
    back to dispatch."""
    req = api.drive(api.create(body(CATEGORY, home)), "resolved")
    code = req["tracking_code"]
    assert api.track(code)["can_evaluate"] is True
    assert_problem(api.send(req["id"], "evaluate", user=ANON, satisfaction=2), 401)
    assert_problem(api.send(req["id"], "evaluate", user=ANON, satisfaction=2, tracking_code="WRONGCODE"), 401)
    rated = api.act(req["id"], "evaluate", user=ANON, tracking_code=code.lower(), satisfaction=2, comment="没修好")
    assert rated["status"] == "evaluated" and rated["satisfaction"] == 2
    assert rated["can_reopen"] is True
    tracked = api.track(code)
    assert tracked["can_reopen"] is True and tracked["satisfaction"] == 2
    assert tracked["evaluation_comment"] == "没修好"
    assert api.get(req["id"])["trail"][-1]["actor"] == "reporter"

    reopened = api.act(req["id"], "reopen", user=ANON, tracking_code=code, reason="still leaking")
    assert reopened["status"] == "reopened" and reopened["reopen_count"] == 1
    assert reopened["satisfaction"] is None and reopened["resolved_at"] is None
    assert api.act(req["id"], "dispatch")["status"] == "dispatched"


def test_a_signed_in_reporter_who_is_satisfied_cannot_reopen(api, backend, home):
    """The resident who reported it rates it 5: no reopen is offered, and their reopen is refused
    (409), before and after the case is closed; another resident may not rate it at all."""
    req = api.drive(api.create(body(CATEGORY, home), user="resident1"), "verified")
    other = f"resident_{uuid.uuid4().hex[:8]}"
    made = api.as_("admin").post(
        "/api/v1/users", json={"username": other, "password": "pw-12345678", "role": "resident"}
    )
    assert made.status_code == 201, made.text
    with backend.client() as c:
        token = c.post("/api/v1/auth/token", data={"username": other, "password": "pw-12345678"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        refused = c.post(
            f"/api/v1/requests/{req['id']}/transitions", json={"action": "evaluate", "satisfaction": 1}, headers=headers
        )
        assert_problem(refused, 403)

    rated = api.act(req["id"], "evaluate", user="resident1", satisfaction=5, comment="很好")
    assert rated["status"] == "evaluated" and rated["can_reopen"] is False
    assert api.track(req["tracking_code"])["can_reopen"] is False
    assert api.get(req["id"])["trail"][-1]["actor"] == "resident1"
    assert_problem(api.send(req["id"], "reopen", user="resident1", reason="changed my mind"), 409)
    assert_problem(
        api.send(req["id"], "reopen", user=ANON, tracking_code=req["tracking_code"], reason="changed my mind"), 409
    )
    api.act(req["id"], "close")
    assert_problem(api.send(req["id"], "reopen", user="resident1", reason="changed my mind"), 409)
    after = api.get(req["id"])
    assert after["status"] == "closed" and after["reopen_count"] == 0 and after["satisfaction"] == 5
