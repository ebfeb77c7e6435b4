"""``GET /api/v1/requests/queue`` at volume, on both backends: 300 open cases, most breached.

The cases are raised once per backend through ``POST /api/v1/requests`` (a dispatcher entering
calls), aged with the test clock: 300 minor cases (blue at intake, at most orange once breached),
three days later a red medical emergency, then ten minutes more, so the emergency is 5 minutes past
its response deadline and the others days past theirs. The queue's counts are checked against the
dispatcher's own listing of open cases (``GET /api/v1/requests``), an independent read.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import pytest
from shapely.geometry import Point

from tests.service.requests.api import OPEN, Api, body, wait_for

QUEUE = "/api/v1/requests/queue"
MINOR = ("policy_inquiry", "service_inquiry", "legal_advice", "littering", "noise", "illegal_parking")
COUNT = 300


def phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


@pytest.fixture(scope="module")
def volume(backend, clients, town):
    """The 300 breached cases and the red emergency; settled (taken out of the queue) afterwards."""
    api = Api(backend, clients)
    grids = sorted(town.grids)
    points = [town.grids[g].representative_point() for g in grids]
    named = next((bid, p) for bid, p in sorted(town.building_props.items()) if p.get("name_zh") and p.get("number"))
    building_point = town.buildings[named[0]].representative_point()
    cases = []
    for i in range(COUNT):
        p: Point = points[i % len(points)]
        extra = {"channel": "phone", "reporter_phone": phone()}
        if i == 7:
            extra |= {"building_id": named[0]}
            p = building_point
        cases.append(api.create(body(MINOR[i % len(MINOR)], (p.x, p.y), **extra), user="dispatcher"))
    backend.clock.advance(timedelta(days=3))
    emergency = api.create(
        body("medical_emergency", (points[0].x, points[0].y), channel="phone", reporter_phone=phone()),
        user="dispatcher",
    )
    backend.clock.advance(timedelta(minutes=10))
    yield {"api": api, "cases": cases, "emergency": emergency, "building": named}
    backend.clock.reset()
    api.settle()


def queue(api: Api, user: str = "dispatcher", **params):
    return api.as_(user).get(QUEUE, params=params)


def ok(api: Api, user: str = "dispatcher", **params) -> dict:
    r = queue(api, user, **params)
    assert r.status_code == 200, r.text
    return r.json()


def page_through(api: Api, **params) -> list[int] | None:
    """Every id of the queue, page by page (None when the order moved under the pages)."""
    ids: list[int] = []
    offset: int | None = 0
    while offset is not None:
        page = ok(api, limit=50, offset=offset, **params)
        ids += [i["id"] for i in page["items"]]
        offset = page["next_offset"]
    return ids if len(ids) == len(set(ids)) == page["total"] else None


def test_the_red_emergency_comes_first(volume):
    api, emergency = volume["api"], volume["emergency"]
    top = ok(api, limit=10)
    first = top["items"][0]
    assert first["id"] == emergency["id"], [(i["id"], i["warning_level"], i["overdue_minutes"]) for i in top["items"]]
    assert first["warning_level"] == "red"
    assert first["overdue_minutes"] == pytest.approx(5, abs=1)
    mine = {c["id"] for c in volume["cases"]}
    overdue_days = [i for i in top["items"][1:] if i["id"] in mine]
    assert all(i["overdue_minutes"] > 60 * 24 for i in overdue_days)
    urgencies = [i["urgency"] for i in top["items"]]
    assert urgencies == sorted(urgencies, reverse=True)


def test_counts_per_level_equal_the_real_counts(volume):
    api = volume["api"]

    def agree():
        listed = api.listing(status=sorted(OPEN))["items"]
        page = ok(api, limit=1)
        levels = Counter(i["warning_level"] for i in listed)
        expected = {level: levels.get(level, 0) for level in ("red", "orange", "yellow", "blue")}
        expected["unassigned"] = sum(i["grid_id"] is None for i in listed)
        counts = page["counts"]
        same = {k: counts[k] for k in expected} == expected and page["total"] == len(listed)
        return same and counts["overdue"] >= COUNT

    wait_for(agree, timeout=30, what="the queue's counts to equal the listing's (the scheduler recolours)")


@pytest.mark.parametrize("sort", ["urgency", "due", "created"])
def test_paging_through_all_returns_every_case_exactly_once(volume, sort):
    ids = wait_for(lambda: page_through(volume["api"], sort=sort), timeout=30, what="a stable order")
    mine = {c["id"] for c in volume["cases"]} | {volume["emergency"]["id"]}
    assert mine <= set(ids)


def test_search_by_id_tracking_code_phone_and_address(volume, town):
    api = volume["api"]
    case = volume["cases"][7]
    _bid, building = volume["building"]
    for q in (str(case["id"]), case["tracking_code"], case["tracking_code"].lower(), case["reporter_phone"]):
        found = [i["id"] for i in ok(api, q=q, limit=200)["items"]]
        assert case["id"] in found, q
    for q in (building["name_zh"], building["number"]):
        found = page_through(api, q=q) or []
        assert case["id"] in found, q
    grid_name = town.grid_props[case["grid_id"]]["name_zh"]
    assert case["id"] in (page_through(api, q=grid_name) or []), grid_name
    other = volume["cases"][8]
    assert other["id"] not in [i["id"] for i in ok(api, q=case["reporter_phone"])["items"]]
    # what is typed is matched literally: a lone wildcard finds nothing, not everything
    assert ok(api, q="%")["total"] == 0 and ok(api, q="_")["total"] == 0


def test_phone_search_is_for_dispatchers_and_never_echoed(volume):
    api = volume["api"]
    number = volume["cases"][7]["reporter_phone"]
    assert ok(api, "gridworker1", q=number)["total"] == 0
    bad = queue(api, q=number + "x" * 200)
    assert bad.status_code == 422
    assert number not in bad.text


def test_filters(volume, town):
    api = volume["api"]
    checks = {
        "level": ("red", lambda i: i["warning_level"] == "red"),
        "unassigned": ("true", lambda i: i["grid_id"] is None),
        "outside_coverage": ("false", lambda i: not i["outside_coverage"]),
        "grid_id": (volume["cases"][0]["grid_id"], lambda i: i["grid_id"] == volume["cases"][0]["grid_id"]),
        "community_id": (
            volume["cases"][0]["community_id"],
            lambda i: i["community_id"] == volume["cases"][0]["community_id"],
        ),
        "group": ("info_consulting", lambda i: i["category"] in ("policy_inquiry", "service_inquiry", "legal_advice")),
    }
    for name, (value, holds) in checks.items():
        page = ok(api, limit=200, **{name: value})
        assert all(holds(i) for i in page["items"]), name
        assert all(i["status"] in OPEN for i in page["items"])
    assert volume["emergency"]["id"] in [i["id"] for i in ok(api, level="red", limit=200)["items"]]
    grid = ok(api, grid_id=volume["cases"][0]["grid_id"], limit=200)
    assert volume["cases"][0]["id"] in [i["id"] for i in grid["items"]] or grid["next_offset"] is not None
    assert ok(api, group="info_consulting", limit=1)["total"] >= COUNT // 2
    assert ok(api, township="no-such-township")["total"] == 0
    communities = api.as_("dispatcher").get("/api/v1/areas", params={"level": "community"}).json()["features"]
    parent = {f["id"]: f["properties"]["parent_code"] for f in communities}
    case = volume["cases"][0]
    township = parent[case["community_id"]]
    in_township = page_through(api, township=township) or []
    assert case["id"] in in_township
    assert all(parent.get(i["community_id"]) == township for i in ok(api, township=township, limit=200)["items"])


@pytest.mark.parametrize("user,status", [("resident1", 403), ("volunteer1", 403), ("planner", 403), (None, 401)])
def test_who_may_not_read_the_queue(volume, user, status):
    assert queue(volume["api"], user).status_code == status


def test_a_department_sees_only_its_own_cases(volume):
    page = ok(volume["api"], "dept_zjj", limit=200)
    assert volume["emergency"]["id"] not in [i["id"] for i in page["items"]]
    assert all(i["department_id"] is not None for i in page["items"])
