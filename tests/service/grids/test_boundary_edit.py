"""Moving the boundary two neighbouring grids share: the impact preview against an independent
computation, applying it (buildings, open requests, households, the event), the history with as-of
lookups, and reverting through the same validation.

One scenario per backend on a database of its own: each step is a module-scoped fixture that acts
and records what it saw (later steps change the layer again), and each test checks one step's
records, so a failure in one step does not hide the others'."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from shapely.geometry import Point, shape

from tests.service.grids.town import (
    building_ids_of,
    db_state,
    gj,
    grids_of,
    history_of,
    history_rows,
    inner_points,
    m2,
    metric,
    move_boundary,
    ok,
    polygons,
    same_shape,
    with_extra_vertex,
)
from tests.service.helpers import assert_problem
from tests.service.requests.api import Api
from tests.support.sse import SseReader
from tests.support.town import Town

BAND = (300, 500)


def choose_move(town: Town, depths=(20.0, 25.0, 30.0, 40.0), min_buildings: int = 2):
    """Two neighbours and a depth such that moving their shared boundary hands over a strip that
    holds at least ``min_buildings`` buildings and leaves both grids in one piece."""
    points = town.points()
    for a, b in town.neighbours():
        for grow, give in ((a, b), (b, a)):
            for depth in depths:
                new_grow, new_give, taken = move_boundary(town.grids[grow], town.grids[give], depth)
                if len(polygons(new_grow)) != 1 or len(polygons(new_give)) != 1:
                    continue
                inside = [bid for bid, p in points.items() if taken.covers(p)]
                if len(inside) >= min_buildings and metric(taken).buffer(-4).area > 200:
                    return grow, give, depth, new_grow, new_give, taken
    raise AssertionError("no pair of neighbours with buildings near their shared boundary")


def households_per_grid(town: Town, layer: dict[int, Any]) -> dict[int, int]:
    totals = dict.fromkeys(layer, 0)
    for bid, gid in town.assignment(layer).items():
        if gid is not None:
            totals[gid] += town.households(bid)
    return totals


def expected_impact(town: Town, before: dict, after: dict, requests: list[dict]) -> dict[str, Any]:
    """Which buildings, households and open requests change grid, and the households per grid."""
    was, now = town.assignment(before), town.assignment(after)
    moved = {bid: (was[bid], now[bid]) for bid in was if was[bid] != now[bid]}
    open_requests = [
        r for r in requests if r["status"] in {"reported", "accepted", "dispatched", "on_site", "reopened"}
    ]
    reassigned = {}
    for r in open_requests:
        p = Point(r["lon"], r["lat"])
        r_was, r_now = _holder(before, p), _holder(after, p)
        if r_was != r_now:
            reassigned[r["id"]] = (r_was, r_now)
    hh_before, hh_after = households_per_grid(town, before), households_per_grid(town, after)
    return {
        "buildings": moved,
        "households_moved": sum(town.households(bid) for bid in moved),
        "requests": reassigned,
        "households": {g: (hh_before[g], hh_after[g]) for g in after},
        "warnings": {g for g in after if not BAND[0] <= hh_after[g] <= BAND[1]},
    }


def _holder(layer, p):
    found = [k for k, g in layer.items() if g.covers(p)]
    assert len(found) <= 1
    return found[0] if found else None


def _int(key):
    return None if key is None else int(key)


def assert_impact_matches(effect: dict, expected: dict) -> None:
    got_buildings = {m["item"]: (_int(m["before"]), _int(m["after"])) for m in effect["buildings_moved"]}
    assert got_buildings == expected["buildings"]
    weights = {m["item"]: m["weight"] for m in effect["buildings_moved"]}
    assert effect["households_moved"] == expected["households_moved"] == sum(weights.values())
    got_requests = {m["item"]: (_int(m["before"]), _int(m["after"])) for m in effect["requests_reassigned"]}
    assert got_requests == expected["requests"]
    got_households = {int(h["grid"]): (h["households_before"], h["households_after"]) for h in effect["households"]}
    assert got_households == expected["households"]
    got_warnings = {int(h["grid"]) for h in effect["households"] if h["warning"]}
    assert got_warnings == expected["warnings"]
    for h in effect["households"]:
        if h["warning"]:
            assert str(h["households_after"]) in h["warning"] and "300" in h["warning"] and "500" in h["warning"]
    assert effect["homeless_buildings"] == []


def new_request(client, point: tuple[float, float], label: str) -> dict:
    body = {"category": "littering", "description": f"网格测试 grid test {label}", "channel": "web"}
    return ok(client.post("/api/v1/requests", json=body | {"lon": point[0], "lat": point[1]}), 201)


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def between(start: str, end: str) -> str:
    a, b = parse(start), parse(end)
    return (a + (b - a) / 2).isoformat()


def as_of(client, at: str, community_id: int) -> dict[int, dict]:
    fc = ok(client.get("/api/v1/grids", params={"at": at, "community_id": community_id}))
    return {f["id"]: f for f in fc["features"]}


def located(client, point: Point, at: str | None = None) -> int | None:
    params: dict[str, Any] = {"lon": point.x, "lat": point.y}
    if at is not None:
        params["at"] = at
    grid = ok(client.get("/api/v1/grids/locate", params=params))["grid"]
    return grid["id"] if grid else None


@pytest.fixture(scope="module")
def world(scenario_backend) -> Iterator[SimpleNamespace]:
    """The scenario's database and its clients."""
    backend = scenario_backend
    with ExitStack() as stack:
        planner, dispatcher, anon = (stack.enter_context(backend.client(u)) for u in ("planner", "dispatcher", None))
        api = Api(backend)
        stack.callback(api.close)
        yield SimpleNamespace(backend=backend, planner=planner, dispatcher=dispatcher, anon=anon, api=api)


@pytest.fixture(scope="module")
def start(world) -> SimpleNamespace:
    """Two neighbours, the move, and requests in and around the strip that changes hands: open ones
    must move, closed and rejected ones keep their grid."""
    town = Town.load(world.planner)
    a, b, _, new_a, new_b, strip = choose_move(town)
    community = town.community_of(a)
    in_strip = inner_points(strip, 5, seed=1)
    requests, created_in = {}, {}
    for status, point in zip(("reported", "accepted", "dispatched", "closed", "rejected"), in_strip, strict=True):
        req = new_request(world.anon, point, status)
        created_in[status] = req["grid_id"]
        requests[status] = world.api.drive(req, status) if status != "reported" else req
    stay_a = new_request(world.anon, inner_points(town.grids[a].difference(strip), 1, margin_m=10, seed=2)[0], "in a")
    stay_b = new_request(world.anon, inner_points(new_b, 1, margin_m=10, seed=3)[0], "in b")
    original = town.siblings(community)
    return SimpleNamespace(
        town=town,
        a=a,
        b=b,
        new_a=new_a,
        new_b=new_b,
        strip=strip,
        community=community,
        original=original,
        after=original | {a: new_a, b: new_b},
        stored_grid={bid: p["grid_id"] for bid, p in town.building_props.items()},
        probe=Point(*in_strip[0]),
        requests=requests,
        created_in=created_in,
        stay_a=stay_a,
        stay_b=stay_b,
        listed=ok(world.dispatcher.get("/api/v1/requests", params={"limit": 5000}))["items"],
    )


def test_the_two_grids_are_neighbours_of_one_community_holding_their_buildings(start):
    town = start.town
    assert town.community_of(start.b) == start.community
    assert town.assignment(town.grids) == start.stored_grid, "the demo's buildings sit in the grid holding them"


def test_requests_start_in_the_grid_holding_them(start):
    for status, grid in start.created_in.items():
        assert grid == start.b, f"before the edit the strip belongs to the grid giving it up ({status})"
    assert (start.stay_a["grid_id"], start.stay_b["grid_id"]) == (start.a, start.b)
    assert len(start.listed) == 7


@pytest.fixture(scope="module")
def previewed(world, start) -> SimpleNamespace:
    """The preview of the move, and of a deeper one that pushes a grid out of the 300-500 band."""
    town, a, b = start.town, start.a, start.b
    proposal = {"grids": [{"id": a, "geometry": gj(start.new_a)}, {"id": b, "geometry": gj(start.new_b)}]}
    result = ok(world.planner.post("/api/v1/grids/preview", json=proposal))
    for deeper in (60.0, 80.0, 110.0, 150.0, 200.0):
        big_a, big_b, _ = move_boundary(town.grids[a], town.grids[b], deeper)
        big_expected = expected_impact(town, start.original, start.original | {a: big_a, b: big_b}, start.listed)
        if big_expected["warnings"]:
            break
    else:
        pytest.fail("no move deep enough to leave the household band")
    big = ok(
        world.planner.post(
            "/api/v1/grids/preview",
            json={"grids": [{"id": a, "geometry": gj(big_a)}, {"id": b, "geometry": gj(big_b)}]},
        )
    )
    return SimpleNamespace(
        expected=expected_impact(town, start.original, start.after, start.listed),
        result=result,
        big=big,
        big_expected=big_expected,
        stored_version=db_state(world.backend)["grids"][a][2],
    )


def test_the_preview_matches_an_independent_computation(start, previewed):
    expected = previewed.expected
    assert len(expected["buildings"]) >= 2 and len(expected["requests"]) == 3
    for gid, (before_hh, _) in expected["households"].items():
        assert start.town.grid_props[gid]["households"] == before_hh, "our sums agree with the listed households"
    result = previewed.result
    assert result["valid"] is True and result["validation"] == []
    (effect,) = result["impact"]
    assert effect["community_id"] == start.community and effect["layer"] == "one_network"
    assert_impact_matches(effect, expected)


def test_a_deeper_move_warns_of_the_household_band_as_predicted(previewed):
    assert previewed.big["valid"] is True
    assert_impact_matches(previewed.big["impact"][0], previewed.big_expected)


def test_a_preview_saves_nothing(previewed):
    assert previewed.stored_version == 1, "a preview saves nothing"


@pytest.fixture(scope="module")
def applied(world, start, previewed) -> SimpleNamespace:
    """The move applied two days later, watching the event stream; what the API says right after."""
    backend, planner, api, a, b = world.backend, world.planner, world.api, start.a, start.b
    backend.clock.advance(timedelta(days=2))
    stream = SseReader(
        backend.base_url, "/api/v1/events", headers={"Authorization": f"Bearer {backend.token('dispatcher')}"}
    )
    try:
        result = ok(
            planner.post(
                "/api/v1/grids/apply",
                json={
                    "grids": [
                        {"id": a, "version": 1, "geometry": gj(start.new_a)},
                        {"id": b, "version": 1, "geometry": gj(start.new_b)},
                    ],
                    "comment": "新小区入住 a new compound moved in",
                },
            )
        )
        seen = {}
        while set(seen) != {a, b}:
            event = stream.wait_for(lambda e: e.event == "grid.changed", timeout=10)
            seen[event.data["id"]] = event.data
    finally:
        stream.close()
    cases = {status: api.get(req["id"]) for status, req in start.requests.items()}
    return SimpleNamespace(
        result=result,
        seen=seen,
        grids=grids_of(planner, community_id=start.community),
        etags={gid: planner.get(f"/api/v1/grids/{gid}").headers["etag"] for gid in (a, b)},
        building_ids={gid: building_ids_of(planner, gid) for gid in (a, b)},
        cases=cases,
        stay_grids=(api.get(start.stay_a["id"])["grid_id"], api.get(start.stay_b["id"])["grid_id"]),
        history_rows=(history_rows(backend, a), history_rows(backend, b)),
    )


def test_apply_answers_the_new_versions_and_the_predicted_impact(start, previewed, applied):
    assert {g["id"]: g["version"] for g in applied.result["grids"]} == {start.a: 2, start.b: 2}
    assert_impact_matches(applied.result["impact"][0], previewed.expected)


def test_apply_announces_both_grids_on_the_event_stream(start, applied):
    seen = applied.seen
    assert seen[start.a]["version"] == seen[start.b]["version"] == 2 and not seen[start.a]["retired"]


def test_apply_stores_the_new_boundaries(start, applied):
    for gid, geom in ((start.a, start.new_a), (start.b, start.new_b)):
        assert same_shape(shape(applied.grids[gid]["geometry"]), geom)
        assert applied.grids[gid]["properties"]["version"] == 2
        assert applied.etags[gid] == '"2"'
    assert applied.history_rows == (2, 2)


def test_apply_moves_the_buildings_and_households_in_the_strip(start, applied):
    holders = start.town.assignment(start.after)
    for gid in (start.a, start.b):
        assert applied.building_ids[gid] == {bid for bid, g in holders.items() if g == gid}
    hh_after = households_per_grid(start.town, start.after)
    for gid, f in applied.grids.items():
        assert f["properties"]["households"] == hh_after[gid], gid


def test_apply_moves_open_requests_only(start, applied):
    a, b = start.a, start.b
    for status, case in applied.cases.items():
        assert case["grid_id"] == (a if status in ("reported", "accepted", "dispatched") else b), status
    (reassign,) = [e for e in applied.cases["accepted"]["trail"] if e["action"] == "reassign"]
    assert reassign["data"] == {"from_grid": b, "to_grid": a} and reassign["actor"] == "planner"
    assert not any(e["action"] == "reassign" for e in applied.cases["closed"]["trail"])
    assert applied.stay_grids == (a, b)


@pytest.fixture(scope="module")
def looked_back(world, start, applied) -> SimpleNamespace:
    """The history of the grown grid and the layer as of moments in each version's life."""
    planner, anon, community, probe = world.planner, world.anon, start.community, start.probe
    hist = history_of(planner, start.a)
    v1, v2 = (h["properties"] for h in hist)
    then = between(v1["valid_from"], v1["valid_to"])
    now = between(v2["valid_from"], (world.backend.clock() + timedelta(hours=1)).isoformat())
    day = (parse(v1["valid_from"]) + timedelta(days=1)).date().isoformat()  # a plain date: midnight UTC
    in_v1 = parse(v1["valid_from"]) < parse(day + "T00:00:00+00:00") < parse(v1["valid_to"])
    return SimpleNamespace(
        hist=hist,
        old_layer=as_of(planner, then, community),
        new_layer=as_of(planner, now, community),
        on_day=as_of(planner, day, community) if in_v1 else None,
        located={
            "then": located(anon, probe, then),
            "now": located(anon, probe, now),
            "today": located(anon, probe),
            "2000": located(anon, probe, "2000-01-01"),
        },
        closed_grid=world.api.get(start.requests["closed"]["id"])["grid_id"],
    )


def test_the_history_holds_both_versions(start, looked_back):
    hist = looked_back.hist
    assert [h["properties"]["version"] for h in hist] == [1, 2]
    v1, v2 = (h["properties"] for h in hist)
    assert v1["valid_to"] == v2["valid_from"] and v2["valid_to"] is None
    assert parse(v1["valid_from"]) < parse(v1["valid_to"])
    assert (v2["change"], v2["changed_by"], v2["comment"]) == ("edit", "planner", "新小区入住 a new compound moved in")
    assert hist[0]["geometry"] == start.town.grid_json[start.a] and same_shape(shape(hist[1]["geometry"]), start.new_a)


def test_the_layer_as_of_each_version(start, looked_back):
    old_layer, new_layer = looked_back.old_layer, looked_back.new_layer
    assert set(old_layer) == set(start.original)
    for gid in (start.a, start.b):
        assert old_layer[gid]["geometry"] == start.town.grid_json[gid] and old_layer[gid]["properties"]["version"] == 1
    assert new_layer[start.a]["properties"]["version"] == 2 and new_layer[start.b]["properties"]["version"] == 2
    assert same_shape(shape(new_layer[start.a]["geometry"]), start.new_a)
    if looked_back.on_day is not None:
        assert looked_back.on_day[start.a]["geometry"] == start.town.grid_json[start.a]


def test_locating_as_of_a_date(start, looked_back):
    found = looked_back.located
    assert found["then"] == start.b, "on the old date the strip belonged to b"
    assert found["now"] == start.a and found["today"] == start.a
    assert found["2000"] is None, "before the grids existed"
    assert looked_back.closed_grid == start.b, "old requests keep their grid"


@pytest.fixture(scope="module")
def refused_reverts(world, start, looked_back) -> SimpleNamespace:
    """Reverting one grid alone, a day later: it would overlap (or leave a gap beside) the edited
    neighbour; and a revert without If-Match, or to a version that never was."""
    planner, a, b = world.planner, start.a, start.b
    world.backend.clock.advance(timedelta(days=1))
    before = db_state(world.backend)
    undo = {"to_version": 1, "comment": "undo"}
    return SimpleNamespace(
        b_alone=planner.post(f"/api/v1/grids/{b}/revert", json=undo, headers={"If-Match": '"2"'}),
        a_alone=planner.post(f"/api/v1/grids/{a}/revert", json=undo, headers={"If-Match": '"2"'}),
        no_if_match=planner.post(f"/api/v1/grids/{a}/revert", json=undo),
        no_version=planner.post(
            f"/api/v1/grids/{a}/revert", json=undo | {"to_version": 9}, headers={"If-Match": '"2"'}
        ),
        changed=db_state(world.backend) != before,
    )


def test_reverting_one_grid_alone_is_refused_by_the_same_validation(start, refused_reverts):
    body = assert_problem(refused_reverts.b_alone, 422, "geometry")
    assert {i["rule"] for i in body["validation"]} == {"overlap"}
    assert {str(body["validation"][0]["grid"]), str(body["validation"][0]["other"])} == {str(start.a), str(start.b)}
    assert sum(i["area_m2"] for i in body["validation"]) == pytest.approx(m2(start.strip), rel=0.02)
    body = assert_problem(refused_reverts.a_alone, 422, "geometry")
    assert {i["rule"] for i in body["validation"]} == {"gap"}
    assert sum(i["area_m2"] for i in body["validation"]) == pytest.approx(m2(start.strip), rel=0.02)


def test_a_revert_needs_if_match_and_an_existing_version(refused_reverts):
    assert_problem(refused_reverts.no_if_match, 428)
    assert_problem(refused_reverts.no_version, 404, "to_version")
    assert not refused_reverts.changed, "refused reverts change nothing"


@pytest.fixture(scope="module")
def restored(world, start, refused_reverts) -> SimpleNamespace:
    """Both grids given their version-1 boundaries (from the history) in one edit."""
    planner = world.planner
    old = {gid: history_of(planner, gid)[0]["geometry"] for gid in (start.a, start.b)}
    both = {
        "grids": [{"id": gid, "version": 2, "geometry": old[gid]} for gid in (start.a, start.b)],
        "comment": "undo the move",
    }
    result = ok(planner.post("/api/v1/grids/apply", json=both))
    return SimpleNamespace(
        result=result,
        listed=ok(world.dispatcher.get("/api/v1/requests"))["items"],
        grids=grids_of(planner, community_id=start.community),
        building_ids={gid: building_ids_of(planner, gid) for gid in (start.a, start.b)},
        case_grids={status: world.api.get(req["id"])["grid_id"] for status, req in start.requests.items()},
    )


def test_applying_both_old_boundaries_restores_the_original_layer_exactly(start, restored):
    town = start.town
    assert_impact_matches(
        restored.result["impact"][0], expected_impact(town, start.after, start.original, restored.listed)
    )
    assert {gid: f["geometry"] for gid, f in restored.grids.items()} == {
        gid: town.grid_json[gid] for gid in start.original
    }
    assert {gid: f["properties"]["households"] for gid, f in restored.grids.items()} == {
        gid: town.grid_props[gid]["households"] for gid in start.original
    }
    for gid in (start.a, start.b):
        assert restored.building_ids[gid] == {bid for bid, g in start.stored_grid.items() if g == gid}
    for status, grid in restored.case_grids.items():
        assert grid == start.b, status


@pytest.fixture(scope="module")
def reverted(world, start, restored) -> SimpleNamespace:
    """The revert endpoint itself: an edit that keeps the shape (one more vertex), then back to
    version 1, a day apart each."""
    backend, planner, a = world.backend, world.planner, start.a
    backend.clock.advance(timedelta(days=1))
    tag = planner.get(f"/api/v1/grids/{a}").headers["etag"]
    put = planner.put(
        f"/api/v1/grids/{a}/geometry",
        json={"geometry": gj(with_extra_vertex(shape(start.town.grid_json[a]), 3)), "comment": "one more vertex"},
        headers={"If-Match": tag},
    )
    backend.clock.advance(timedelta(days=1))
    reverted = planner.post(
        f"/api/v1/grids/{a}/revert",
        json={"to_version": 1, "comment": "back to the original"},
        headers={"If-Match": '"4"'},
    )
    hist = [h["properties"] for h in history_of(planner, a)]
    mid_v2 = between(hist[1]["valid_from"], hist[1]["valid_to"])
    return SimpleNamespace(
        tag=tag,
        put=put,
        reverted=reverted,
        geometry=grids_of(planner)[a]["geometry"],
        hist=hist,
        as_of_v2=as_of(planner, mid_v2, start.community)[a]["geometry"],
        located=(located(world.anon, start.probe, mid_v2), located(world.anon, start.probe)),
    )


def test_an_edit_keeping_the_shape_moves_nothing(reverted):
    assert reverted.tag == '"3"'
    assert ok(reverted.put)["grids"][0]["version"] == 4 and ok(reverted.put)["impact"][0]["buildings_moved"] == []


def test_the_revert_endpoint_brings_back_version_one_as_a_new_version(start, reverted):
    a = start.a
    assert ok(reverted.reverted)["grids"] == [
        {"id": a, "code": start.town.grid_props[a]["code"], "version": 5, "retired": False}
    ]
    assert reverted.geometry == start.town.grid_json[a]


def test_the_history_after_the_revert(reverted):
    hist = reverted.hist
    assert [h["version"] for h in hist] == [1, 2, 3, 4, 5]
    assert [h["change"] for h in hist] == ["create", "edit", "edit", "edit", "revert"]
    for older, newer in itertools.pairwise(hist):
        assert older["valid_to"] == newer["valid_from"] and parse(older["valid_from"]) < parse(older["valid_to"])
    assert hist[-1]["valid_to"] is None
    assert Counter(h["changed_by"] for h in hist) == Counter({"planner": 4, "load-demo": 1})


def test_as_of_version_two_the_moved_boundary_again(start, reverted):
    assert same_shape(shape(reverted.as_of_v2), start.new_a)
    assert reverted.located == (start.a, start.b)
