"""Optimistic locking: the ETag is the grid's version, edits need If-Match, a stale one gets 412 with
the current version, and of two planners racing from the same version exactly one wins."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shapely
from shapely.geometry import shape

from geo.coords import from_wgs84
from tests.service.grids.town import (
    db_state,
    etag,
    gj,
    grids_of,
    history_of,
    history_rows,
    metric,
    ok,
    same_shape,
    with_extra_vertex,
)
from tests.service.helpers import assert_problem
from tests.support.town import Town


def put(client, grid_id: int, geometry: dict, if_match: str | None, comment: str = "test edit", **extra):
    headers = {"If-Match": if_match} if if_match is not None else {}
    body = {"geometry": geometry, "comment": comment, **extra}
    return client.put(f"/api/v1/grids/{grid_id}/geometry", json=body, headers=headers)


def assert_stale(r, current: int) -> None:
    """412 (or 409) problem+json naming If-Match, carrying the current version (body and ETag)."""
    assert r.status_code in (409, 412), r.text
    body = assert_problem(r, r.status_code)
    assert body["current_version"] == current
    if r.status_code == 412:
        assert r.headers["etag"] == f'"{current}"'


def test_if_match_and_concurrent_edits(private_backend):
    backend = private_backend
    planner, admin = backend.client("planner"), backend.client("admin")
    try:
        _if_match_and_concurrent_edits(backend, planner, admin)
    finally:
        planner.close()
        admin.close()


def _if_match_and_concurrent_edits(backend, planner, admin):
    town = Town.load(planner)
    a, _ = town.neighbours()[0]
    original = town.grids[a]
    r = planner.get(f"/api/v1/grids/{a}")
    assert r.headers["etag"] == '"1"' and r.json()["properties"]["version"] == 1

    # refused without touching anything: no If-Match, a malformed one, a version that is not current
    before = db_state(backend)
    same = gj(with_extra_vertex(original, 1))
    assert_problem(put(planner, a, same, None), 428, "If-Match")
    assert_problem(put(planner, a, same, "yesterday"), 422, "If-Match")
    assert_stale(put(planner, a, same, '"7"'), current=1)
    no_version = {"grids": [{"id": a, "geometry": same}], "comment": "x"}
    assert_problem(planner.post("/api/v1/grids/apply", json=no_version), 428, "version")
    stale_apply = {"grids": [{"id": a, "version": 3, "geometry": same}], "comment": "x"}
    assert_stale(planner.post("/api/v1/grids/apply", json=stale_apply), current=1)
    assert db_state(backend) == before

    # GCJ-02 input is the right place: the grid's own boundary sent in GCJ-02 is stored within a centimetre
    shifted = shapely.transform(original, lambda c: np.column_stack(from_wgs84(c[:, 0], c[:, 1], "gcj02")))
    assert metric(original.centroid).distance(metric(shifted.centroid)) > 100
    result = ok(put(planner, a, gj(shifted), '"1"', comment="redrawn on a GCJ-02 basemap", coord_type="gcj02"))
    assert result["grids"][0]["version"] == 2 and result["impact"][0]["buildings_moved"] == []
    stored = shape(grids_of(planner)[a]["geometry"])
    assert same_shape(stored, original, tol_m=0.01)
    offsets = shapely.get_coordinates(metric(stored)) - shapely.get_coordinates(metric(original))
    assert np.hypot(offsets[:, 0], offsets[:, 1]).max() < 0.01, "every vertex within a centimetre"

    # a planner who loaded version 2 loses to an admin who saved version 3 in between
    loaded = etag(planner, a)
    assert loaded == '"2"'
    ok(put(admin, a, gj(with_extra_vertex(original, 2)), loaded, comment="admin fixes a vertex"))
    assert_stale(put(planner, a, gj(with_extra_vertex(original, 5)), loaded), current=3)
    assert history_rows(backend, a) == 3

    # two planners from the same version at the same moment: exactly one wins, three times over
    for round_ in range(3):
        tag = etag(planner, a)
        version = int(tag.strip('"'))
        rows = history_rows(backend, a)
        proposals = {
            "planner": gj(with_extra_vertex(original, 10 + round_)),
            "admin": gj(with_extra_vertex(original, 20 + round_)),
        }
        start = threading.Barrier(2)

        def edit(user, client, proposals=proposals, tag=tag, version=version, round_=round_, start=start):
            start.wait()
            if round_ == 1:  # one round through the multi-grid apply, with the version in the body
                body = {"grids": [{"id": a, "version": version, "geometry": proposals[user]}], "comment": user}
                return user, client.post("/api/v1/grids/apply", json=body)
            return user, put(client, a, proposals[user], tag, comment=user)

        with ThreadPoolExecutor(2) as pool:
            answers = dict(pool.map(lambda uc: edit(*uc), [("planner", planner), ("admin", admin)]))
        statuses = sorted(r.status_code for r in answers.values())
        assert statuses in ([200, 409], [200, 412]), {u: r.text for u, r in answers.items()}
        winner = next(u for u, r in answers.items() if r.status_code == 200)
        loser = next(u for u, r in answers.items() if r.status_code != 200)
        assert_stale(answers[loser], current=version + 1)
        assert history_rows(backend, a) == rows + 1, "one new history row, not two"
        assert etag(planner, a) == f'"{version + 1}"'
        last = history_of(planner, a)[-1]["properties"]
        assert (last["version"], last["changed_by"], last["comment"]) == (version + 1, winner, winner)
        stored = shapely.get_coordinates(shape(grids_of(planner)[a]["geometry"]))
        assert np.allclose(stored, shapely.get_coordinates(shape(proposals[winner])), rtol=0, atol=1e-7)
        assert not np.allclose(stored, shapely.get_coordinates(shape(proposals[loser])), rtol=0, atol=1e-7)
