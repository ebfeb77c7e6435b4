"""Moving the boundary two neighbouring grids share: the impact preview against an independent
computation, applying it (buildings, open requests, households, the event), the history with as-of
lookups, and reverting through the same validation."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from shapely.geometry import Point, shape

from tests.service.grids.town import (
    Town,
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


def test_moving_a_shared_boundary_end_to_end(private_backend):
    backend = private_backend
    planner, dispatcher, anon = backend.client("planner"), backend.client("dispatcher"), backend.client()
    api = Api(backend)
    try:
        _moving_a_shared_boundary(backend, planner, dispatcher, anon, api)
    finally:
        api.close()
        for c in (planner, dispatcher, anon):
            c.close()


def _moving_a_shared_boundary(backend, planner, dispatcher, anon, api):
    town = Town.load(planner)
    a, b, _, new_a, new_b, strip = choose_move(town)
    community = town.community_of(a)
    assert town.community_of(b) == community
    original = town.siblings(community)
    stored_grid = {bid: p["grid_id"] for bid, p in town.building_props.items()}
    assert town.assignment(town.grids) == stored_grid, "the demo's buildings sit in the grid holding them"

    # -- requests in and around the strip: open ones move, closed and rejected ones keep their grid
    in_strip = inner_points(strip, 5, seed=1)
    statuses = ["reported", "accepted", "dispatched", "closed", "rejected"]
    requests = {}
    for status, point in zip(statuses, in_strip, strict=True):
        req = new_request(anon, point, status)
        assert req["grid_id"] == b, "before the edit the strip belongs to the grid giving it up"
        requests[status] = api.drive(req, status) if status != "reported" else req
    stay_a = new_request(anon, inner_points(town.grids[a].difference(strip), 1, margin_m=10, seed=2)[0], "in a")
    stay_b = new_request(anon, inner_points(new_b, 1, margin_m=10, seed=3)[0], "in b")
    assert (stay_a["grid_id"], stay_b["grid_id"]) == (a, b)
    listed = ok(dispatcher.get("/api/v1/requests", params={"limit": 5000}))["items"]
    assert len(listed) == 7

    # -- the preview, against our own computation
    after = original | {a: new_a, b: new_b}
    expected = expected_impact(town, original, after, listed)
    assert len(expected["buildings"]) >= 2 and len(expected["requests"]) == 3
    for gid, (before_hh, _) in expected["households"].items():
        assert town.grid_props[gid]["households"] == before_hh, "our sums agree with the listed households"
    proposal = {"grids": [{"id": a, "geometry": gj(new_a)}, {"id": b, "geometry": gj(new_b)}]}
    result = ok(planner.post("/api/v1/grids/preview", json=proposal))
    assert result["valid"] is True and result["validation"] == []
    (effect,) = result["impact"]
    assert effect["community_id"] == community and effect["layer"] == "one_network"
    assert_impact_matches(effect, expected)

    # a deeper move pushes a grid out of the 300-500 band: the preview warns, as we predict
    for deeper in (60.0, 80.0, 110.0, 150.0, 200.0):
        big_a, big_b, _ = move_boundary(town.grids[a], town.grids[b], deeper)
        big_expected = expected_impact(town, original, original | {a: big_a, b: big_b}, listed)
        if big_expected["warnings"]:
            break
    else:
        pytest.fail("no move deep enough to leave the household band")
    big = ok(
        planner.post(
            "/api/v1/grids/preview",
            json={"grids": [{"id": a, "geometry": gj(big_a)}, {"id": b, "geometry": gj(big_b)}]},
        )
    )
    assert big["valid"] is True
    assert_impact_matches(big["impact"][0], big_expected)
    assert db_state(backend)["grids"][a][2] == 1, "a preview saves nothing"

    # -- apply (two days later), watching the event stream
    backend.clock.advance(timedelta(days=2))
    stream = SseReader(
        backend.base_url, "/api/v1/events", headers={"Authorization": f"Bearer {backend.token('dispatcher')}"}
    )
    try:
        applied = planner.post(
            "/api/v1/grids/apply",
            json={
                "grids": [
                    {"id": a, "version": 1, "geometry": gj(new_a)},
                    {"id": b, "version": 1, "geometry": gj(new_b)},
                ],
                "comment": "新小区入住 a new compound moved in",
            },
        )
        result = ok(applied)
        assert {g["id"]: g["version"] for g in result["grids"]} == {a: 2, b: 2}
        assert_impact_matches(result["impact"][0], expected)
        seen = {}
        while set(seen) != {a, b}:
            event = stream.wait_for(lambda e: e.event == "grid.changed", timeout=10)
            seen[event.data["id"]] = event.data
        assert seen[a]["version"] == seen[b]["version"] == 2 and not seen[a]["retired"]
    finally:
        stream.close()

    now_grids = grids_of(planner, community_id=community)
    for gid, geom in ((a, new_a), (b, new_b)):
        assert same_shape(shape(now_grids[gid]["geometry"]), geom)
        assert now_grids[gid]["properties"]["version"] == 2
        assert planner.get(f"/api/v1/grids/{gid}").headers["etag"] == '"2"'
    holders = town.assignment(after)
    for gid in (a, b):
        assert building_ids_of(planner, gid) == {bid for bid, g in holders.items() if g == gid}
    hh_after = households_per_grid(town, after)
    for gid, f in now_grids.items():
        assert f["properties"]["households"] == hh_after[gid], gid
    for status, req in requests.items():
        assert api.get(req["id"])["grid_id"] == (a if status in ("reported", "accepted", "dispatched") else b), status
    (reassign,) = [e for e in api.get(requests["accepted"]["id"])["trail"] if e["action"] == "reassign"]
    assert reassign["data"] == {"from_grid": b, "to_grid": a} and reassign["actor"] == "planner"
    assert not any(e["action"] == "reassign" for e in api.get(requests["closed"]["id"])["trail"])
    assert api.get(stay_a["id"])["grid_id"] == a and api.get(stay_b["id"])["grid_id"] == b
    assert history_rows(backend, a) == history_rows(backend, b) == 2

    # -- history and as-of lookups
    hist = history_of(planner, a)
    assert [h["properties"]["version"] for h in hist] == [1, 2]
    v1, v2 = (h["properties"] for h in hist)
    assert v1["valid_to"] == v2["valid_from"] and v2["valid_to"] is None
    assert parse(v1["valid_from"]) < parse(v1["valid_to"])
    assert (v2["change"], v2["changed_by"], v2["comment"]) == ("edit", "planner", "新小区入住 a new compound moved in")
    assert hist[0]["geometry"] == town.grid_json[a] and same_shape(shape(hist[1]["geometry"]), new_a)
    then, now = (
        between(v1["valid_from"], v1["valid_to"]),
        between(v2["valid_from"], (backend.clock() + timedelta(hours=1)).isoformat()),
    )
    old_layer = as_of(planner, then, community)
    assert set(old_layer) == set(original)
    for gid in (a, b):
        assert old_layer[gid]["geometry"] == town.grid_json[gid] and old_layer[gid]["properties"]["version"] == 1
    new_layer = as_of(planner, now, community)
    assert new_layer[a]["properties"]["version"] == 2 and new_layer[b]["properties"]["version"] == 2
    assert same_shape(shape(new_layer[a]["geometry"]), new_a)
    day = (parse(v1["valid_from"]) + timedelta(days=1)).date().isoformat()  # a plain date: midnight UTC
    if parse(v1["valid_from"]) < parse(day + "T00:00:00+00:00") < parse(v1["valid_to"]):
        assert as_of(planner, day, community)[a]["geometry"] == town.grid_json[a]
    probe = Point(*in_strip[0])
    assert located(anon, probe, then) == b, "on the old date the strip belonged to b"
    assert located(anon, probe, now) == a and located(anon, probe) == a
    assert located(anon, probe, "2000-01-01") is None, "before the grids existed"
    assert api.get(requests["closed"]["id"])["grid_id"] == b, "old requests keep their grid"

    # -- revert: one grid alone would overlap (or leave a gap beside) the edited neighbour
    backend.clock.advance(timedelta(days=1))
    before = db_state(backend)
    r = planner.post(
        f"/api/v1/grids/{b}/revert", json={"to_version": 1, "comment": "undo"}, headers={"If-Match": '"2"'}
    )
    body = assert_problem(r, 422, "geometry")
    assert {i["rule"] for i in body["validation"]} == {"overlap"}
    assert {str(body["validation"][0]["grid"]), str(body["validation"][0]["other"])} == {str(a), str(b)}
    assert sum(i["area_m2"] for i in body["validation"]) == pytest.approx(m2(strip), rel=0.02)
    r = planner.post(
        f"/api/v1/grids/{a}/revert", json={"to_version": 1, "comment": "undo"}, headers={"If-Match": '"2"'}
    )
    body = assert_problem(r, 422, "geometry")
    assert {i["rule"] for i in body["validation"]} == {"gap"}
    assert sum(i["area_m2"] for i in body["validation"]) == pytest.approx(m2(strip), rel=0.02)
    assert_problem(planner.post(f"/api/v1/grids/{a}/revert", json={"to_version": 1, "comment": "undo"}), 428)
    r = planner.post(
        f"/api/v1/grids/{a}/revert", json={"to_version": 9, "comment": "undo"}, headers={"If-Match": '"2"'}
    )
    assert_problem(r, 404, "to_version")
    assert db_state(backend) == before, "refused reverts change nothing"

    # reverting both (their version-1 boundaries from the history) restores the original layer exactly
    old = {gid: history_of(planner, gid)[0]["geometry"] for gid in (a, b)}
    both = {"grids": [{"id": gid, "version": 2, "geometry": old[gid]} for gid in (a, b)], "comment": "undo the move"}
    result = ok(planner.post("/api/v1/grids/apply", json=both))
    assert_impact_matches(
        result["impact"][0], expected_impact(town, after, original, ok(dispatcher.get("/api/v1/requests"))["items"])
    )
    restored = grids_of(planner, community_id=community)
    assert {gid: f["geometry"] for gid, f in restored.items()} == {gid: town.grid_json[gid] for gid in original}
    assert {gid: f["properties"]["households"] for gid, f in restored.items()} == {
        gid: town.grid_props[gid]["households"] for gid in original
    }
    for gid in (a, b):
        assert building_ids_of(planner, gid) == {bid for bid, g in stored_grid.items() if g == gid}
    for status, req in requests.items():
        assert api.get(req["id"])["grid_id"] == b, status

    # the revert endpoint itself: an edit that keeps the shape (one more vertex), then back to version 1
    backend.clock.advance(timedelta(days=1))
    tag = planner.get(f"/api/v1/grids/{a}").headers["etag"]
    assert tag == '"3"'
    put = planner.put(
        f"/api/v1/grids/{a}/geometry",
        json={"geometry": gj(with_extra_vertex(shape(town.grid_json[a]), 3)), "comment": "one more vertex"},
        headers={"If-Match": tag},
    )
    assert ok(put)["grids"][0]["version"] == 4 and ok(put)["impact"][0]["buildings_moved"] == []
    backend.clock.advance(timedelta(days=1))
    reverted = planner.post(
        f"/api/v1/grids/{a}/revert",
        json={"to_version": 1, "comment": "back to the original"},
        headers={"If-Match": '"4"'},
    )
    assert ok(reverted)["grids"] == [{"id": a, "code": town.grid_props[a]["code"], "version": 5, "retired": False}]
    assert grids_of(planner)[a]["geometry"] == town.grid_json[a]
    hist = [h["properties"] for h in history_of(planner, a)]
    assert [h["version"] for h in hist] == [1, 2, 3, 4, 5]
    assert [h["change"] for h in hist] == ["create", "edit", "edit", "edit", "revert"]
    for older, newer in itertools.pairwise(hist):
        assert older["valid_to"] == newer["valid_from"] and parse(older["valid_from"]) < parse(older["valid_to"])
    assert hist[-1]["valid_to"] is None
    assert Counter(h["changed_by"] for h in hist) == Counter({"planner": 4, "load-demo": 1})
    # as of a moment in version 2's life, the moved boundary again
    mid_v2 = between(hist[1]["valid_from"], hist[1]["valid_to"])
    assert same_shape(shape(as_of(planner, mid_v2, community)[a]["geometry"]), new_a)
    assert located(anon, probe, mid_v2) == a and located(anon, probe) == b
