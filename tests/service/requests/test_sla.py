"""Deadlines, colours and escalation, with the app's clock moved by the test.

The scheduler ticks every 0.2 s against the injected clock; the tests poll the API until it has
acted. Colours: severity 1 starts blue; a running deadline at least half used adds one step, a
breached one two; a whole building (≥ 30 households) adds one step, a compound (≥ 300) two.
"""

from __future__ import annotations

import time
from datetime import timedelta

from tests.service.helpers import assert_problem
from tests.service.requests.api import Api, body, wait_for
from tests.support.town import Town

COLOURS = ["blue", "yellow", "orange", "red"]
TICKS = 0.8  # a few scheduler ticks (0.2 s each)


def breaches(api: Api, request_id: int) -> list[dict]:
    return [e for e in api.get(request_id)["trail"] if e["action"] == "breach"]


def when(api: Api, request_id: int, check, what: str) -> dict:
    """Poll the request until ``check(request)`` holds."""
    return wait_for(lambda: (lambda r: r if check(r) else None)(api.get(request_id)), what=what)


def test_an_unanswered_case_turns_yellow_then_breaches_and_climbs_one_level_per_deadline(api, town, clock):
    """Not accepted: at 3 of 5 minutes it turns yellow; past 5 the response deadline is breached
    (orange, grid → compound) exactly once; past 30 the on-site deadline (→ community). A case
    accepted in time, alongside, is not breached."""
    point = town.inner_point(sorted(town.grids)[4], seed=21)
    late = api.create(body("littering", point))
    in_time = api.create(body("littering", point))
    api.act(in_time["id"], "accept")
    assert late["warning_level"] == "blue" and late["level"] == "grid"

    clock.advance(timedelta(minutes=3))
    yellow = when(api, late["id"], lambda r: r["warning_level"] == "yellow", "the colour to rise with time")
    assert yellow["breached"] == [] and yellow["level"] == "grid"
    assert any(e["action"] == "recolour" and e["actor"] == "system" for e in yellow["trail"])

    clock.advance(timedelta(minutes=3))
    breached = when(api, late["id"], lambda r: "response" in r["breached"], "the response breach")
    assert breached["level"] == "compound" and breached["warning_level"] == "orange"
    assert breached["status"] == "reported"
    time.sleep(TICKS)
    first = breaches(api, late["id"])
    assert len(first) == 1 and first[0]["actor"] == "system" and "response" in first[0]["note"]
    assert api.get(late["id"])["level"] == "compound"  # later ticks do not escalate again
    control = api.get(in_time["id"])
    assert control["breached"] == [] and control["level"] == "grid" and control["warning_level"] == "blue"

    clock.advance(timedelta(minutes=25))
    onsite = when(api, late["id"], lambda r: "onsite" in r["breached"], "the on-site breach")
    assert onsite["level"] == "community"
    time.sleep(TICKS)
    assert len(breaches(api, late["id"])) == 2
    assert api.get(late["id"])["level"] == "community"
    assert "response" not in api.get(in_time["id"])["breached"]


def test_escalation_to_township_puts_the_case_on_the_joint_meeting_list(api, town, clock):
    """A community-level case that breaches climbs to township and joins the joint meeting; its
    item cannot be closed (销号) while the case is open, and can once it is closed."""
    assert town.categories["illegal_construction"]["default_level"] == "community"
    req = api.create(body("illegal_construction", town.inner_point(sorted(town.grids)[9], away_from_buildings=True)))
    clock.advance(timedelta(minutes=6))
    up = when(api, req["id"], lambda r: r["level"] == "township", "escalation to township")
    assert up["breached"] == ["response"]
    items = api.as_("planner").get("/api/v1/joint-meetings").json()
    item = next(i for i in items if i["request_id"] == req["id"])
    assert item["level"] == "township" and item["closed_at"] is None and item["request_status"] == "reported"

    assert_problem(api.as_("dispatcher").post(f"/api/v1/joint-meetings/{item['id']}/close"), 409, "item_id")
    assert_problem(api.as_("planner").post(f"/api/v1/joint-meetings/{item['id']}/close"), 403)
    api.drive(req, "verified", retries=5)
    closed = api.as_("dispatcher").post(f"/api/v1/joint-meetings/{item['id']}/close")
    assert closed.status_code == 200, closed.text
    assert closed.json()["closed_by"] == "dispatcher"
    assert req["id"] not in {i["request_id"] for i in api.as_("dispatcher").get("/api/v1/joint-meetings").json()}


def test_a_manual_escalation_to_township_also_joins_the_joint_meeting(api, town):
    """Escalating by hand (with a reason) to township or above opens a joint-meeting item."""
    req = api.create(body("littering", town.inner_point(sorted(town.grids)[2])))
    up = api.act(req["id"], "escalate", level="township", reason="涉及多部门 needs several departments")
    assert up["level"] == "township"
    items = api.as_("dispatcher").get("/api/v1/joint-meetings").json()
    assert any(i["request_id"] == req["id"] and i["level"] == "township" for i in items)
    assert_problem(api.send(req["id"], "escalate", level="compound", reason="down"), 409, "level")


def test_impact_raises_the_starting_colour(api, town: Town):
    """The same category starts one colour higher for a whole building of 30+ households than for a
    flat, and two higher for a compound of 300+; a small building adds nothing."""
    big = next(b for b, p in sorted(town.building_props.items()) if p["households"] >= 30)
    small = next(b for b, p in sorted(town.building_props.items()) if p["households"] < 30)
    by_compound: dict[int, int] = {}
    for p in town.building_props.values():
        by_compound[p["compound_id"]] = by_compound.get(p["compound_id"], 0) + p["households"]
    crowded = next(b for b, p in sorted(town.building_props.items()) if by_compound[p["compound_id"]] >= 300)

    def at(bid: int, scope: str) -> dict:
        p = town.buildings[bid].representative_point()
        return api.create(body("littering", (p.x, p.y), scope=scope))

    assert town.categories["littering"]["severity"] == 1
    flat = at(big, "flat")
    whole = at(big, "building")
    little = at(small, "building")
    compound = at(crowded, "compound")
    assert (flat["warning_level"], flat["households_affected"]) == ("blue", 1)
    assert whole["warning_level"] == "yellow"
    assert whole["households_affected"] == town.building_props[big]["households"]
    assert little["warning_level"] == "blue"
    assert little["households_affected"] == town.building_props[small]["households"]
    assert compound["warning_level"] == "orange"
    assert compound["households_affected"] == by_compound[town.building_props[crowded]["compound_id"]]
    # Severity counts too: a lift failure (severity 3) in a flat starts orange.
    lift = api.create(body("lift_failure", (flat["lon"], flat["lat"]), scope="flat"))
    assert COLOURS.index(lift["warning_level"]) == COLOURS.index("blue") + 2
