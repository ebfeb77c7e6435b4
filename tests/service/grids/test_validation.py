"""Every validation rule, through the preview and through PUT/apply, which refuse and save nothing.

The expected areas, locations and ``make_valid`` results are computed independently in
``cases.py``; here the API's answers are held against them.
"""

from __future__ import annotations

import json

import pytest
from shapely.geometry import Point, shape

from tests.service.grids import cases
from tests.service.grids.town import db_state, etag, m2, ok, version_of
from tests.service.helpers import assert_problem

PREVIEW = "/api/v1/grids/preview"
APPLY = "/api/v1/grids/apply"


def preview(client, body) -> dict:
    return ok(client.post(PREVIEW, json=body))


def rules_of(result: dict) -> set[str]:
    return {i["rule"] for i in result["validation"]}


# -- what each case must report ------------------------------------------------------------------


def _check_invalid(case, result, town):
    (issue,) = result["validation"]
    assert "self-intersection" in issue["message"].lower()
    x, y = case.expect["location"]
    assert issue["location"] == pytest.approx([x, y], abs=2e-7), "the crossing of the two diagonals"
    offer = shape(issue["make_valid"])
    assert offer.is_valid and offer.geom_type in ("Polygon", "MultiPolygon")
    assert m2(offer.symmetric_difference(case.expect["make_valid"])) < 0.05, "make_valid keeps the two triangles"


def _check_outside(case, result, town):
    region = town.communities[town.community_of(case.grid_id)]
    total = sum(i["area_m2"] for i in result["validation"])
    assert total == pytest.approx(case.expect["area_m2"], rel=0.01)
    for issue in result["validation"]:
        assert str(issue["grid"]) == str(case.grid_id)
        piece = shape(issue["geometry"])
        assert m2(piece.intersection(region)) < 0.05, "the reported piece lies outside the community"
        assert not region.contains(Point(issue["location"]))
        assert piece.distance(Point(issue["location"])) < 1e-6


def _check_overlap(case, result, town):
    total = sum(i["area_m2"] for i in result["validation"])
    assert total == pytest.approx(case.expect["area_m2"], rel=0.02, abs=0.05)
    for issue in result["validation"]:
        assert {str(issue["grid"]), str(issue["other"])} == {str(case.grid_id), str(case.expect["other"])}
        loc = Point(issue["location"])
        assert town.grids[case.expect["other"]].distance(loc) < 1e-6, "the overlap lies in the neighbour"


def _check_gap(case, result, town):
    total = sum(i["area_m2"] for i in result["validation"])
    assert total == pytest.approx(case.expect["area_m2"], rel=0.02, abs=0.05)
    for issue in result["validation"]:
        assert issue["grid"] is None, "a gap is the layer's fault, not one grid's"
        assert case.expect["lost"].distance(Point(issue["location"])) < 1e-6, "the gap is the strip given up"


def _check_valid_and_still(case, result, town):
    """A valid proposal that moves nothing: no building changes grid, households stay as listed."""
    assert result["valid"] is True and result["validation"] == []
    (effect,) = result["impact"]
    assert effect["community_id"] == town.community_of(case.grid_id)
    assert effect["buildings_moved"] == [] and effect["households_moved"] == 0
    assert effect["requests_reassigned"] == [] and effect["homeless_buildings"] == []
    per_grid = {int(h["grid"]): h for h in effect["households"]}
    siblings = town.siblings(town.community_of(case.grid_id))
    assert set(per_grid) == set(siblings)
    for gid, h in per_grid.items():
        listed = town.grid_props[gid]["households"]
        assert h["households_before"] == h["households_after"] == listed, gid
        assert h["warning"] is None  # every demo grid holds 300-500 households


def _check_vertices(case, result, town):
    (issue,) = result["validation"]
    assert str(case.expect["vertices"]) in issue["message"] and str(case.expect["limit"]) in issue["message"]


def _check_undeclared_gcj02(case, result, town):
    assert not result["valid"]
    assert rules_of(result) <= {"outside_community", "overlap", "gap", "wrong_place"}, result["validation"]


CHECKS = {
    "self-intersecting": _check_invalid,
    "outside community": _check_outside,
    "overlap above tolerance": _check_overlap,
    "overlap of about 3 m²": _check_overlap,
    "overlap below tolerance": _check_valid_and_still,
    "gap": _check_gap,
    "gap below tolerance": _check_valid_and_still,
    "exactly at the vertex limit": _check_valid_and_still,
    "one vertex over the limit": _check_vertices,
    "GCJ-02 declared": _check_valid_and_still,
    "GCJ-02 sent as WGS84": _check_undeclared_gcj02,
    "the grid as it is": _check_valid_and_still,
}


@pytest.mark.parametrize("name", list(cases.BUILDERS))
def test_preview_reports_each_rule(refusing_backend, clients, town, name):
    case = cases.build(name, town, max_vertices=refusing_backend.settings.grid_max_vertices)
    r = clients["planner"].post(PREVIEW, json=case.preview_body())
    if case.refused is not None:
        status, _ = case.refused
        assert_problem(r, status, "grids[0].geometry")
        return
    result = ok(r)
    if case.rules is not None:
        assert rules_of(result) == set(case.rules), result["validation"]
        assert result["valid"] is (not case.rules)
    for issue in result["validation"]:
        assert issue["message"]
        assert issue["community_id"] == town.community_of(case.grid_id)
        if issue["rule"] != "gap":
            assert str(issue["grid"]) == str(case.grid_id)
    if not result["valid"]:
        assert result["impact"] == [], "no impact is worked out for a broken proposal"
    if name in CHECKS:
        CHECKS[name](case, result, town)


def test_the_overlap_tolerance_is_one_square_metre(refusing_backend, town):
    """The cases bracket the configured tolerance (so the two overlap cases mean what they say)."""
    assert refusing_backend.settings.grid_tolerance_m2 == 1.0
    below = cases.build("overlap below tolerance", town, max_vertices=20_000)
    above = cases.build("overlap of about 3 m²", town, max_vertices=20_000)
    assert 0.2 < below.expect["area_m2"] < 0.8 and 2.0 < above.expect["area_m2"] < 4.0


def test_preview_names_what_it_cannot_understand(clients, town):
    planner = clients["planner"]
    a, _ = town.neighbours()[0]
    geometry = town.grid_json[a]
    assert_problem(planner.post(PREVIEW, json={"grids": [{"id": 987654, "geometry": geometry}]}), 404, "id")
    new_without_community = {"grids": [{"geometry": geometry}]}
    assert_problem(planner.post(PREVIEW, json=new_without_community), 422, "community_id")
    assert_problem(planner.post(PREVIEW, json={"grids": [{"community_id": 3}]}), 422, "grids[0].geometry")
    assert_problem(planner.post(PREVIEW, json={"grids": []}), 422, "grids")
    assert_problem(planner.post(PREVIEW, json={"grids": [{"id": a, "geometry": geometry, "colour": 1}]}), 422)
    bad_coords = {"grids": [{"id": a, "geometry": geometry}], "coord_type": "utm50n"}
    assert_problem(planner.post(PREVIEW, json=bad_coords), 422, "coord_type")


def test_rejected_edits_answer_like_the_preview_and_change_nothing(refusing_backend, clients, town):
    """PUT and apply refuse every broken proposal with 422 carrying the preview's ``validation``
    list, and the database (grids, versions, history, buildings, requests, events) stays as it was."""
    planner = clients["planner"]
    before = db_state(refusing_backend)
    refused = [
        c for c in cases.all_cases(town, max_vertices=refusing_backend.settings.grid_max_vertices) if c.rules != []
    ]
    assert len(refused) >= 12
    for case in refused:
        tag = etag(planner, case.grid_id)
        put = planner.put(f"/api/v1/grids/{case.grid_id}/geometry", json=case.put_body(), headers={"If-Match": tag})
        applied = planner.post(APPLY, json=case.apply_body(int(tag.strip('"'))))
        if case.refused is not None:
            assert_problem(put, 422, "geometry")
            assert_problem(applied, 422, "grids[0].geometry")
        else:
            expected = preview(planner, case.preview_body())
            assert not expected["valid"], case.name
            for r in (put, applied):
                body = assert_problem(r, 422, "geometry")
                assert body["validation"] == expected["validation"], case.name
                assert body["valid"] is False
        assert db_state(refusing_backend) == before, f"{case.name}: a refused edit changed the database"


def test_a_million_vertices_get_a_4xx_with_a_reason(refusing_backend, clients, town):
    planner = clients["planner"]
    a, _ = town.neighbours()[0]
    before = db_state(refusing_backend)
    geometry = cases.million_vertices(town)
    headers = {"Content-Type": "application/json"}
    bodies = {
        PREVIEW: f'{{"grids":[{{"id":{a},"geometry":{geometry}}}]}}',
        APPLY: f'{{"grids":[{{"id":{a},"version":1,"geometry":{geometry}}}],"comment":"huge"}}',
    }
    for path, text in bodies.items():
        r = planner.post(path, content=text.encode(), headers=headers)
        body = assert_problem(r, r.status_code)
        assert r.status_code in (413, 422), r.text[:500]
        assert body["detail"]
    put = planner.put(
        f"/api/v1/grids/{a}/geometry",
        content=f'{{"geometry":{geometry},"comment":"huge"}}'.encode(),
        headers=headers | {"If-Match": etag(planner, a)},
    )
    assert put.status_code in (413, 422) and assert_problem(put, put.status_code)["detail"]
    assert db_state(refusing_backend) == before


# -- roles and the comment -----------------------------------------------------------------------


def _edit_requests(town, version: int) -> dict[str, tuple[str, str, dict]]:
    """One well-formed request per editing endpoint, all about the same two neighbours."""
    a, b = town.neighbours()[0]
    geometry = town.grid_json[a]
    cx, cy = town.grids[a].centroid.x, town.grids[a].centroid.y
    minx, _, maxx, _ = town.grids[a].bounds
    line = {"type": "LineString", "coordinates": [[minx - 0.001, cy], [maxx + 0.001, cy]]}
    return {
        "preview": ("POST", PREVIEW, {"grids": [{"id": a, "geometry": geometry}]}),
        "apply": ("POST", APPLY, {"grids": [{"id": a, "version": version, "geometry": geometry}], "comment": "x"}),
        "put": ("PUT", f"/api/v1/grids/{a}/geometry", {"geometry": geometry, "comment": "x"}),
        "split": (
            "POST",
            "/api/v1/grids/split",
            {"grid_id": a, "version": version, "line": line, "comment": f"x {cx}"},
        ),
        "merge": ("POST", "/api/v1/grids/merge", {"grid_ids": [a, b], "versions": [version, version], "comment": "x"}),
        "revert": ("POST", f"/api/v1/grids/{a}/revert", {"to_version": 1, "comment": "x"}),
    }


def _import(client, town, comment: str | None = "x"):
    a, _ = town.neighbours()[0]
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": town.grid_props[a]["code"]}, "geometry": town.grid_json[a]}
        ],
    }
    data = {"layer": "health"} | ({"comment": comment} if comment is not None else {})
    files = {"file": ("layer.geojson", json.dumps(collection).encode(), "application/geo+json")}
    return client.post("/api/v1/grid-layers/import", data=data, files=files)


@pytest.mark.parametrize("user", [None, "dispatcher", "resident1", "gridworker1", "volunteer1", "dept_zjj"])
def test_only_planners_and_admins_may_edit(refusing_backend, clients, town, user):
    before = db_state(refusing_backend)
    status = 401 if user is None else 403
    client = clients[user]
    a, _ = town.neighbours()[0]
    for name, (method, path, body) in _edit_requests(town, version_of(clients["planner"], a)).items():
        headers = {"If-Match": '"1"'} if method == "PUT" or name == "revert" else {}
        r = client.request(method, path, json=body, headers=headers)
        assert_problem(r, status)
    assert_problem(_import(client, town), status)
    community = town.community_of(a)
    proposal = client.get("/api/v1/grid-layers/proposal", params={"community_id": community, "layers": "health"})
    assert_problem(proposal, status)
    assert db_state(refusing_backend) == before


def test_planners_and_admins_get_past_the_role_check(clients, town):
    """The same requests from editors are answered on their merits (not 401/403)."""
    for user in ("planner", "admin"):
        result = preview(clients[user], _edit_requests(town, 1)["preview"][2])
        assert result["valid"] is True


def test_a_comment_is_required_to_change_anything(refusing_backend, clients, town):
    planner = clients["planner"]
    before = db_state(refusing_backend)
    a, _ = town.neighbours()[0]
    requests = _edit_requests(town, version_of(planner, a))
    for name, (method, path, body) in requests.items():
        if name == "preview":
            continue
        headers = {"If-Match": etag(planner, a)} if method == "PUT" or name == "revert" else {}
        for comment in (None, "", "   "):
            sent = {k: v for k, v in body.items() if k != "comment"}
            if comment is not None:
                sent["comment"] = comment
            r = planner.request(method, path, json=sent, headers=headers)
            assert_problem(r, 422, "comment")
    assert_problem(_import(planner, town, comment=None), 422, "comment")
    assert_problem(_import(planner, town, comment=""), 422, "comment")
    assert db_state(refusing_backend) == before
