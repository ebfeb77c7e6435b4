"""Every action of the closed loop, from every status: legal moves, 409s, 403s, 401s and 422s.

``LOOP`` below is this test's own statement of the loop in issue 3 (who may do what, from where, to
where, needing which fields); the served app must agree with it over HTTP for all 11 statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from service.requests.models import ServiceRequest
from service.requests.workflow import TRANSITIONS
from tests.service.helpers import assert_problem
from tests.service.requests.api import (
    ANON,
    ROLE_OF,
    STATUSES,
    Api,
    body,
    linked_volunteer_id,
    linked_worker,
    unique,
    user_id,
)
from tests.support.town import Town

STAFF = frozenset({"dispatcher", "grid_worker", "admin"})
FIELD_ONLY = frozenset({"reporter"})  # the reporter: signed in, or holding the tracking code
OPEN = frozenset({"reported", "accepted", "dispatched", "on_site", "reopened"})


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str | None  # None: the status stays
    roles: frozenset[str]
    needs: tuple[str, ...] = ()


def move(sources, target, roles, needs=()) -> Move:
    return Move(frozenset(sources), target, frozenset(roles), tuple(needs))


LOOP: dict[str, Move] = {
    "accept": move({"reported"}, "accepted", STAFF),
    "reject": move({"reported", "accepted"}, "rejected", STAFF, ("reason",)),
    "merge": move({"reported", "accepted"}, "merged", STAFF, ("duplicate_of",)),
    "dispatch": move({"accepted", "reopened"}, "dispatched", STAFF),
    "department_accept": move({"dispatched"}, None, {"department", "admin"}),
    "department_refuse": move({"dispatched"}, "accepted", {"department", "admin"}, ("reason",)),
    "pledge": move({"dispatched", "on_site"}, None, {"volunteer", "grid_worker"}),
    "arrive": move({"dispatched"}, "on_site", STAFF | {"volunteer", "department"}),
    "resolve": move({"dispatched", "on_site"}, "resolved", STAFF | {"volunteer", "department"}, ("note",)),
    "redispatch": move({"resolved"}, "dispatched", STAFF, ("reason",)),
    "verify": move({"resolved"}, "verified", STAFF),
    "evaluate": move({"resolved", "verified"}, "evaluated", FIELD_ONLY, ("satisfaction",)),
    "reopen": move(
        {"resolved", "verified", "evaluated", "closed"}, "reopened", {"reporter", "dispatcher", "admin"}, ("reason",)
    ),
    "close": move({"verified", "evaluated"}, "closed", {"dispatcher", "admin"}),
    "escalate": move(OPEN, None, STAFF, ("reason",)),
}

STAMP = {
    "accepted": "accepted_at",
    "dispatched": "dispatched_at",
    "on_site": "on_site_at",
    "resolved": "resolved_at",
    "verified": "verified_at",
    "evaluated": "evaluated_at",
    "closed": "closed_at",
}
LEVELS = ["grid", "compound", "community", "township", "department"]
DEPARTMENT_ACTIONS = ("department_accept", "department_refuse")
LEGAL = [(a, s) for a, m in LOOP.items() for s in sorted(m.sources)]
#: The category used here: general work, routed to the housing bureau (zjj), paired with community 1.
CATEGORY = "property_service"


def actor_for(action: str) -> str | None:
    """A user allowed to take ``action`` (None: the reporter, with the tracking code)."""
    return {"department_accept": "dept_zjj", "department_refuse": "dept_zjj", "pledge": "gridworker1"}.get(
        action, ANON if action == "evaluate" else "dispatcher"
    )


def fields_for(api: Api, req: dict, action: str, merge_into: int | None = None) -> dict:
    """The fields ``action`` needs, filled in (a merge goes into ``merge_into`` or a new request)."""
    out: dict = {}
    if "reason" in LOOP[action].needs:
        out["reason"] = unique("reason 原因")
    if action == "resolve":
        out["note"] = unique("note 处置")
    if action == "evaluate":
        out |= {"satisfaction": 3, "comment": unique("comment 评价")}
    if action == "merge":
        out["duplicate_of"] = merge_into or api.create(body(CATEGORY, (req["lon"], req["lat"])))["id"]
    if actor_for(action) is ANON:
        out["tracking_code"] = req["tracking_code"]
    return out


@pytest.fixture
def home(backend, town: Town) -> tuple[float, float]:
    """A point in gridworker1's grid (community 1), so the grid worker and zjj are in scope."""
    _, grid_ids = linked_worker(backend)
    return town.inner_point(grid_ids[0], seed=3)


def fresh_at(api: Api, home, status: str, *, to_department: bool = False) -> dict:
    req = api.create(body(CATEGORY, home, reporter_name="王小明", reporter_phone="13812345678"))
    return api.drive(req, status, to_department=to_department)


def near_now(backend, stamp: str | None) -> bool:
    return stamp is not None and abs(datetime.fromisoformat(stamp) - backend.clock()) < timedelta(seconds=30)


def test_the_loop_here_names_every_action_of_the_service():
    """No action of the service escapes these tests."""
    assert set(LOOP) == set(TRANSITIONS)


@pytest.mark.parametrize(("action", "source"), LEGAL, ids=[f"{a}-from-{s}" for a, s in LEGAL])
def test_legal_move(api, backend, home, action, source):
    """From a legal status an allowed user moves the request to the right status, with its stamp and
    a full audit entry. Before that (checked once per action) wrong roles get 403, no caller 401 and a
    missing field 422, and none of them moves anything."""
    rule = LOOP[action]
    req = fresh_at(api, home, source, to_department=action in DEPARTMENT_ACTIONS)
    before = api.get(req["id"])
    fields = fields_for(api, req, action)
    no_code = {k: v for k, v in fields.items() if k != "tracking_code"}  # the code would make anyone the reporter

    first_source = source == min(rule.sources)
    for user, role in ROLE_OF.items():
        if role not in rule.roles and first_source:
            assert_problem(api.send(req["id"], action, user=user, **no_code), 403)
    assert_problem(api.send(req["id"], action, user=ANON, **no_code), 401)
    if "reporter" not in rule.roles and first_source:  # the tracking code grants no staff action
        with_code = api.send(req["id"], action, user=ANON, tracking_code=req["tracking_code"], **no_code)
        assert with_code.status_code in (401, 403), with_code.text
    for name in rule.needs if first_source else ():
        without = {k: v for k, v in fields.items() if k != name}
        assert_problem(api.send(req["id"], action, user=actor_for(action), **without), 422, name)
        if name in ("reason", "note"):
            blank = without | {name: "   "}
            assert_problem(api.send(req["id"], action, user=actor_for(action), **blank), 422, name)
    unchanged = api.get(req["id"])
    assert (unchanged["status"], unchanged["version"], unchanged["trail"]) == (
        before["status"],
        before["version"],
        before["trail"],
    )

    r = api.send(req["id"], action, user=actor_for(action), **fields)
    assert r.status_code == 200, r.text
    after = api.get(req["id"])
    expected_status = rule.target or source
    assert after["status"] == expected_status
    assert after["version"] == before["version"] + 1
    if rule.target in STAMP:
        assert near_now(backend, after[STAMP[rule.target]])
    entry = after["trail"][-1]
    assert len(after["trail"]) == len(before["trail"]) + 1
    assert (entry["action"], entry["from"], entry["to"]) == (action, source, expected_status)
    assert entry["actor"] == (actor_for(action) or "reporter")
    assert near_now(backend, entry["at"])
    note = fields.get("note") or fields.get("reason") or fields.get("comment")
    assert entry["note"] == note
    if action == "escalate":
        assert LEVELS.index(after["level"]) == LEVELS.index(before["level"]) + 1
    if action == "department_accept":
        assert after["department_status"] == "accepted"
    if action == "department_refuse":
        assert after["department_status"] == "refused" and after["department_id"] is None
    if action == "merge":
        assert after["duplicate_of"] == fields["duplicate_of"]
    if action == "evaluate":
        assert after["satisfaction"] == 3 and after["evaluation_comment"] == fields["comment"]
        assert r.json()["can_reopen"] is False  # only 2 or less offers a reopen
    if action == "pledge":
        with backend.db.reader() as session:  # stored, though not shown in the API
            pledged_by = session.get(ServiceRequest, req["id"]).pledged_by_user_id
        assert pledged_by == user_id(backend, "gridworker1")


@pytest.mark.parametrize("status", STATUSES)
def test_illegal_moves_from_a_status_are_409_and_change_nothing(api, home, status):
    """Every action that may not start from ``status`` is refused with 409, even for an admin; so is a
    department's accept or refusal of a case dispatched to a volunteer."""
    req = fresh_at(api, home, status)
    target = api.create(body(CATEGORY, home))["id"]
    before = api.get(req["id"])
    refused = []
    for action, rule in LOOP.items():
        if status in rule.sources and not (status == "dispatched" and action in DEPARTMENT_ACTIONS):
            continue  # (a case dispatched to a volunteer has no department dispatch to accept or refuse)
        user = {"evaluate": ANON, "pledge": "gridworker1"}.get(action, "admin")
        r = api.send(req["id"], action, user=user, **fields_for(api, req, action, merge_into=target))
        assert_problem(r, 409)
        refused.append(action)
    after = api.get(req["id"])
    assert (after["status"], after["version"], after["trail"]) == (before["status"], before["version"], before["trail"])
    assert refused  # from every status something is illegal


def test_scope_grid_workers_volunteers_and_departments_act_only_on_their_own_cases(api, backend, town, home):
    """A grid worker outside their grid, a volunteer on someone else's case and a department on a
    case not sent to it get 403; on their own cases the same actions succeed."""
    _, my_grids = linked_worker(backend)
    other_grid = next(g for g in sorted(town.grids) if g not in my_grids)
    elsewhere = api.create(body(CATEGORY, town.inner_point(other_grid)))
    assert_problem(api.send(elsewhere["id"], "accept", user="gridworker1"), 403)
    mine = api.create(body(CATEGORY, home))
    api.act(mine["id"], "accept", user="gridworker1")

    me = linked_volunteer_id(backend)
    someone = api.drive(api.create(body(CATEGORY, home)), "accepted")
    other_volunteer = next(v["id"] for v in town.volunteers if v["on_duty"] and v["id"] != me)
    api.act(someone["id"], "dispatch", volunteer_id=other_volunteer)
    assert_problem(api.send(someone["id"], "arrive", user="volunteer1"), 403)
    assert_problem(api.as_("volunteer1").get(f"/api/v1/requests/{someone['id']}"), 403)
    assigned = api.drive(api.create(body(CATEGORY, home)), "accepted")
    api.act(assigned["id"], "dispatch", volunteer_id=me)
    api.act(assigned["id"], "pledge", user="volunteer1")
    assert api.act(assigned["id"], "arrive", user="volunteer1")["status"] == "on_site"

    cgj = town.departments["cgj"]["id"]
    to_cgj = api.drive(api.create(body(CATEGORY, home)), "accepted")
    api.act(to_cgj["id"], "dispatch", department_id=cgj)
    for action, extra in (("department_accept", {}), ("department_refuse", {"reason": "not ours"}), ("arrive", {})):
        assert_problem(api.send(to_cgj["id"], action, user="dept_zjj", **extra), 403)
    to_nobody = api.drive(api.create(body(CATEGORY, home)), "dispatched")
    assert_problem(api.send(to_nobody["id"], "arrive", user="dept_zjj"), 403)
    to_zjj = api.drive(api.create(body(CATEGORY, home)), "dispatched", to_department=True)
    assert api.act(to_zjj["id"], "department_accept", user="dept_zjj")["department_status"] == "accepted"


def test_the_audit_trail_records_every_step_with_actor_time_from_to_and_note(api, backend, home):
    """A full loop, each step by its proper actor: the trail is complete, chained and stamped."""
    req = api.create(body(CATEGORY, home, reporter_phone="13900001111"), user="resident1")
    assert req["volunteer_id"] is not None  # assigned at intake: a plain dispatch uses it
    steps = [
        ("accept", "gridworker1", {}),
        ("dispatch", "dispatcher", {"note": "请尽快到场"}),
        ("pledge", "gridworker1", {"note": "我承诺 I pledge"}),
        ("arrive", "gridworker1", {}),
        ("resolve", "dispatcher", {"note": "更换水管 replaced"}),
        ("verify", "gridworker1", {"note": "核查通过"}),
        ("evaluate", "resident1", {"satisfaction": 5, "comment": "很满意"}),
        ("close", "dispatcher", {}),
    ]
    for action, user, fields in steps:
        api.act(req["id"], action, user=user, **fields)
    final = api.get(req["id"])
    trail = final["trail"]
    assert [e["action"] for e in trail] == ["report"] + [s[0] for s in steps]
    assert [e["actor"] for e in trail] == ["resident1"] + [s[1] for s in steps]
    assert [e["note"] for e in trail[1:]] == [s[2].get("note") or s[2].get("comment") for s in steps]
    for prev, entry in pairwise(trail):
        assert entry["from"] == prev["to"]
        assert datetime.fromisoformat(entry["at"]) >= datetime.fromisoformat(prev["at"])
    assert final["status"] == "closed"
    at = {e["to"]: e["at"] for e in trail if e["action"] != "pledge"}
    for status, stamp in STAMP.items():
        assert final[stamp] == at[status], status
    assert final["volunteer_id"] == req["volunteer_id"]
    # The public tracking page shows the same stages but the internal ones (the pledge), without
    # names or notes.
    public = api.track(req["tracking_code"])["trail"]
    assert [(e["action"], e["from"], e["to"], e["at"]) for e in public] == [
        (e["action"], e["from"], e["to"], e["at"]) for e in trail if e["action"] != "pledge"
    ]
    assert all(e["actor"] is None and e["note"] is None for e in public)


def test_a_stale_version_or_if_match_is_409_and_changes_nothing(api, home):
    """Optimistic locking: an edit based on an old version is refused whole."""
    req = api.create(body(CATEGORY, home))
    accepted = api.act(req["id"], "accept", version=req["version"])
    assert accepted["version"] == req["version"] + 1
    before = api.get(req["id"])
    assert_problem(api.send(req["id"], "escalate", reason="stale", version=req["version"]), 409, "version")
    stale_header = {"If-Match": f'"{req["version"]}"'}
    assert_problem(api.send(req["id"], "escalate", reason="stale", headers=stale_header), 409, "version")
    assert_problem(api.send(req["id"], "escalate", reason="stale", headers={"If-Match": 'W/"1"'}), 409, "version")
    after = api.get(req["id"])
    assert after == before
    fresh_header = {"If-Match": f'"{before["version"]}"'}
    assert api.act(req["id"], "escalate", reason="current", headers=fresh_header)["level"] != before["level"]
    assert_problem(api.send(req["id"], "escalate", reason="x", headers={"If-Match": "yesterday"}), 422, "If-Match")
