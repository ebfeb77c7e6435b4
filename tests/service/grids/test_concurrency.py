"""Optimistic locking: the ETag is the grid's version, edits need If-Match, a stale one gets 412 with
the current version, and of two planners racing from the same version exactly one wins.

One scenario per backend on a database of its own: each step is a module-scoped fixture that acts
and records what it saw (each race round stays one act), and each test checks one step's records."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from types import SimpleNamespace

import numpy as np
import pytest
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


@pytest.fixture(scope="module")
def world(scenario_backend) -> Iterator[SimpleNamespace]:
    """The scenario's database, a planner and an admin, and the grid they edit (as first loaded)."""
    backend = scenario_backend
    with ExitStack() as stack:
        planner, admin = (stack.enter_context(backend.client(u)) for u in ("planner", "admin"))
        town = Town.load(planner)
        a, _ = town.neighbours()[0]
        yield SimpleNamespace(
            backend=backend,
            planner=planner,
            admin=admin,
            a=a,
            original=town.grids[a],
            loaded=planner.get(f"/api/v1/grids/{a}"),
        )


def test_the_etag_is_the_grid_version(world):
    r = world.loaded
    assert r.headers["etag"] == '"1"' and r.json()["properties"]["version"] == 1


@pytest.fixture(scope="module")
def refused(world) -> SimpleNamespace:
    """Edits without If-Match, with a malformed one, or from a version that is not current."""
    backend, planner, a = world.backend, world.planner, world.a
    before = db_state(backend)
    same = gj(with_extra_vertex(world.original, 1))
    no_version = {"grids": [{"id": a, "geometry": same}], "comment": "x"}
    stale_apply = {"grids": [{"id": a, "version": 3, "geometry": same}], "comment": "x"}
    return SimpleNamespace(
        no_if_match=put(planner, a, same, None),
        malformed=put(planner, a, same, "yesterday"),
        stale_put=put(planner, a, same, '"7"'),
        no_version=planner.post("/api/v1/grids/apply", json=no_version),
        stale_apply=planner.post("/api/v1/grids/apply", json=stale_apply),
        before=before,
        after=db_state(backend),
    )


def test_an_edit_needs_a_well_formed_if_match(refused):
    assert_problem(refused.no_if_match, 428, "If-Match")
    assert_problem(refused.malformed, 422, "If-Match")


def test_a_stale_version_is_refused_with_the_current_one(refused):
    assert_stale(refused.stale_put, current=1)
    assert_problem(refused.no_version, 428, "version")
    assert_stale(refused.stale_apply, current=1)


def test_refused_edits_change_nothing(refused):
    assert refused.after == refused.before


@pytest.fixture(scope="module")
def redrawn(world, refused) -> SimpleNamespace:
    """The grid's own boundary sent in GCJ-02 (as drawn on a GCJ-02 basemap)."""
    planner, a, original = world.planner, world.a, world.original
    shifted = shapely.transform(original, lambda c: np.column_stack(from_wgs84(c[:, 0], c[:, 1], "gcj02")))
    result = ok(put(planner, a, gj(shifted), '"1"', comment="redrawn on a GCJ-02 basemap", coord_type="gcj02"))
    return SimpleNamespace(shifted=shifted, result=result, stored=shape(grids_of(planner)[a]["geometry"]))


def test_gcj02_input_is_stored_in_the_right_place(world, redrawn):
    original, stored = world.original, redrawn.stored
    assert metric(original.centroid).distance(metric(redrawn.shifted.centroid)) > 100
    assert redrawn.result["grids"][0]["version"] == 2 and redrawn.result["impact"][0]["buildings_moved"] == []
    assert same_shape(stored, original, tol_m=0.01)
    offsets = shapely.get_coordinates(metric(stored)) - shapely.get_coordinates(metric(original))
    assert np.hypot(offsets[:, 0], offsets[:, 1]).max() < 0.01, "every vertex within a centimetre"


@pytest.fixture(scope="module")
def overtaken(world, redrawn) -> SimpleNamespace:
    """A planner who loaded version 2 saves after an admin saved version 3 in between."""
    backend, planner, admin, a, original = world.backend, world.planner, world.admin, world.a, world.original
    loaded = etag(planner, a)
    ok(put(admin, a, gj(with_extra_vertex(original, 2)), loaded, comment="admin fixes a vertex"))
    late = put(planner, a, gj(with_extra_vertex(original, 5)), loaded)
    return SimpleNamespace(loaded=loaded, late=late, rows=history_rows(backend, a))


def test_a_planner_loses_to_an_admin_who_saved_in_between(overtaken):
    assert overtaken.loaded == '"2"'
    assert_stale(overtaken.late, current=3)
    assert overtaken.rows == 3


@pytest.fixture(scope="module")
def races(world, overtaken) -> list[SimpleNamespace]:
    """Two planners editing from the same version at the same moment, three times over (the second
    time through the multi-grid apply, with the version in the body): what each round saw."""
    backend, planner, admin, a, original = world.backend, world.planner, world.admin, world.a, world.original
    seen = []
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
        seen.append(
            SimpleNamespace(
                version=version,
                rows=rows,
                proposals=proposals,
                answers=answers,
                rows_after=history_rows(backend, a),
                etag_after=etag(planner, a),
                last=history_of(planner, a)[-1]["properties"],
                stored=shapely.get_coordinates(shape(grids_of(planner)[a]["geometry"])),
            )
        )
    return seen


@pytest.mark.parametrize("round_", range(3))
def test_of_two_planners_racing_from_one_version_exactly_one_wins(races, round_):
    race = races[round_]
    answers, version, proposals = race.answers, race.version, race.proposals
    statuses = sorted(r.status_code for r in answers.values())
    assert statuses in ([200, 409], [200, 412]), {u: r.text for u, r in answers.items()}
    winner = next(u for u, r in answers.items() if r.status_code == 200)
    loser = next(u for u, r in answers.items() if r.status_code != 200)
    assert_stale(answers[loser], current=version + 1)
    assert race.rows_after == race.rows + 1, "one new history row, not two"
    assert race.etag_after == f'"{version + 1}"'
    last = race.last
    assert (last["version"], last["changed_by"], last["comment"]) == (version + 1, winner, winner)
    stored = race.stored
    assert np.allclose(stored, shapely.get_coordinates(shape(proposals[winner])), rtol=0, atol=1e-7)
    assert not np.allclose(stored, shapely.get_coordinates(shape(proposals[loser])), rtol=0, atol=1e-7)
