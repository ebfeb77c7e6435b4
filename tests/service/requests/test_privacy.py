"""The reporter's name and phone: in full only for dispatchers, admins and the assigned grid worker;
masked (138****5678) and nameless for everyone else who may see the case; absent from tracking."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select

from service.requests.models import ServiceRequest
from tests.service.helpers import assert_problem
from tests.service.requests.api import Api, body, linked_volunteer_id, linked_worker, user_id
from tests.support.town import Town

NAME, PHONE, MASKED = "王秀英", "13812345678", "138****5678"


def seen_by(api: Api, user: str, request_id: int) -> list[dict]:
    """The request as ``user`` gets it: from GET one, and from the list."""
    one = api.get(request_id, user=user)
    listed = [i for i in api.listing(user)["items"] if i["id"] == request_id]
    assert len(listed) == 1, f"{user} should find the request in their list"
    return [one, listed[0]]


def new_resident(api: Api) -> httpx.Client:
    """A second resident account (made by the admin), signed in."""
    name, password = f"resident_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
    made = api.as_("admin").post("/api/v1/users", json={"username": name, "password": password, "role": "resident"})
    assert made.status_code == 201, made.text
    token = api.backend.token(name, password)
    return httpx.Client(base_url=api.backend.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_only_dispatchers_admins_and_the_assigned_worker_see_the_reporter(api, backend, town: Town):
    """Full for dispatcher, admin and the case's grid worker; masked and nameless for the planner,
    the assigned volunteer, the department it was sent to and the reporter's own account."""
    worker_id, grids = linked_worker(backend)
    point = town.inner_point(grids[0], seed=31)
    req = api.create(body("property_service", point, reporter_name=NAME, reporter_phone=PHONE), user="resident1")
    assert req["grid_worker_id"] == worker_id  # gridworker1 is this case's worker
    api.act(req["id"], "accept")
    api.act(req["id"], "dispatch", volunteer_id=linked_volunteer_id(backend))
    sent = api.create(body("property_service", point, reporter_name=NAME, reporter_phone=PHONE))
    api.drive(sent, "dispatched", to_department=True)

    for user in ("dispatcher", "admin", "gridworker1"):
        for view in seen_by(api, user, req["id"]):
            assert (view["reporter_name"], view["reporter_phone"]) == (NAME, PHONE), user
    for user in ("planner", "volunteer1", "resident1"):
        for view in seen_by(api, user, req["id"]):
            assert (view["reporter_name"], view["reporter_phone"]) == (None, MASKED), user
    for view in seen_by(api, "dept_zjj", sent["id"]):
        assert (view["reporter_name"], view["reporter_phone"]) == (None, MASKED)
    geo = api.listing("planner", format="geojson")["features"]
    props = next(f["properties"] for f in geo if f["id"] == req["id"])
    assert (props["reporter_name"], props["reporter_phone"]) == (None, MASKED)
    # A transition's answer follows the same rule.
    moved = api.act(req["id"], "arrive", user="volunteer1")
    assert (moved["reporter_name"], moved["reporter_phone"]) == (None, MASKED)
    moved = api.act(req["id"], "pledge", user="gridworker1")
    assert (moved["reporter_name"], moved["reporter_phone"]) == (NAME, PHONE)


def test_the_public_tracking_page_shows_nothing_about_the_reporter(api, town: Town):
    """``/track/{code}`` needs no login and carries no reporter field, masked or not, nor names in the trail."""
    req = api.create(
        body("littering", town.inner_point(sorted(town.grids)[1]), reporter_name=NAME, reporter_phone=PHONE),
        user="resident1",
    )
    api.act(req["id"], "accept", note="已受理 accepted by 调度员")
    r = api.as_(None).get(f"/api/v1/track/{req['tracking_code']}")
    assert r.status_code == 200, r.text
    page = r.json()
    assert not [k for k in page if "reporter" in k]
    for secret in (NAME, PHONE, MASKED, "5678", "resident1", "dispatcher"):
        assert secret not in r.text, secret
    assert [e["action"] for e in page["trail"]] == ["report", "accept"]
    assert_problem(api.as_(None).get("/api/v1/track/NOSUCHCODE"), 404)
    assert_problem(api.as_(None).get(f"/api/v1/requests/{req['id']}"), 401)


def test_a_resident_sees_only_their_own_requests(api, backend, town: Town):
    """Another resident's request is 403, and a resident's list holds exactly their own."""
    mine = api.create(body("littering", town.inner_point(sorted(town.grids)[2])), user="resident1")
    other = new_resident(api)
    try:
        r = other.post("/api/v1/requests", json=body("noise", town.inner_point(sorted(town.grids)[3])))
        assert r.status_code == 201, r.text
        theirs = r.json()
        api.created.append(theirs["id"])
        assert_problem(other.get(f"/api/v1/requests/{mine['id']}"), 403)
        listed = other.get("/api/v1/requests").json()
        assert [i["id"] for i in listed["items"]] == [theirs["id"]] and listed["total"] == 1
        assert other.get(f"/api/v1/requests/{theirs['id']}").status_code == 200
    finally:
        other.close()
    assert_problem(api.as_("resident1").get(f"/api/v1/requests/{theirs['id']}"), 403)

    own = {i["id"] for i in api.listing("resident1")["items"]}
    resident1 = user_id(backend, "resident1")
    with backend.db.reader() as s:
        reporters = set(s.scalars(select(ServiceRequest.reporter_user_id).where(ServiceRequest.id.in_(own))))
        count = s.scalar(
            select(func.count()).select_from(ServiceRequest).where(ServiceRequest.reporter_user_id == resident1)
        )
    assert mine["id"] in own and theirs["id"] not in own
    assert reporters == {resident1} and len(own) == count
