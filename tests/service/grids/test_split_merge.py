"""Splitting a grid along a line and merging neighbours: new codes in the community's series, the
retired grid kept in the history, buildings following, and the layer still tiling the community.

The split-and-merge scenario runs once per backend on a database of its own: each step is a
module-scoped fixture that acts and records what it saw, and each test checks one step's records."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import shapely
from shapely.geometry import shape

from tests.service.grids.town import (
    building_ids_of,
    db_state,
    grids_of,
    history_of,
    m2,
    ok,
    polygons,
    same_shape,
    shared_m,
    tiling_defects_m2,
)
from tests.service.helpers import assert_problem
from tests.support.race import all_at_once
from tests.support.town import Town

SPLIT, MERGE = "/api/v1/grids/split", "/api/v1/grids/merge"
#: Merging pieces that a split made can leave a stray triangle of a few centimetres where the cut
#: met the outline (the split point is not snapped onto the boundary): tolerated, and reported.
MERGE_TOL_M = 0.1


def cuts(geom, within=None):
    """Straight lines (east-west, then north-south, reaching 50 m past ``within``, by default the
    grid) that cut ``geom`` into exactly two pieces of at least 5,000 m² each: (line, bigger piece,
    smaller piece). The pieces come from clipping with half-planes, not from the service's split."""
    minx, miny, maxx, maxy = (within if within is not None else geom).bounds
    for frac in (0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65, 0.3, 0.7):
        y = round(miny + frac * (maxy - miny), 7)
        x = round(minx + frac * (maxx - minx), 7)
        for line, one, other in (
            (
                [[minx - 0.0005, y], [maxx + 0.0005, y]],
                shapely.box(minx - 1, y, maxx + 1, maxy + 1),
                shapely.box(minx - 1, miny - 1, maxx + 1, y),
            ),
            (
                [[x, miny - 0.0005], [x, maxy + 0.0005]],
                shapely.box(x, miny - 1, maxx + 1, maxy + 1),
                shapely.box(minx - 1, miny - 1, x, maxy + 1),
            ),
        ):
            first, second = polygons(geom.intersection(one)), polygons(geom.intersection(other))
            if len(first) == 1 and len(second) == 1 and min(m2(first[0]), m2(second[0])) > 5000:
                big, small = sorted((first[0], second[0]), key=lambda p: -m2(p))
                yield {"type": "LineString", "coordinates": line}, big, small


def choose_cut(town: Town):
    """The biggest grid that a straight line cuts in two: (grid, line, bigger piece, smaller piece)."""
    for gid in sorted(town.grids, key=lambda g: -m2(town.grids[g])):
        for line, big, small in cuts(town.grids[gid]):
            return gid, line, big, small
    raise AssertionError("no grid to cut in two")


def next_code(town: Town, community_id: int) -> str:
    """The community's code followed by the next serial, as wide as the existing serials."""
    prefix = town.community_codes[community_id]
    serials = [p["code"][len(prefix) :] for p in town.grid_props.values() if p["community_id"] == community_id]
    width = max(len(s) for s in serials)
    return f"{prefix}{max(int(s) for s in serials) + 1:0{width}d}"


def assert_tiling(town: Town, community_id: int, grids: dict[int, dict]) -> None:
    gaps, overlaps = tiling_defects_m2(town.communities[community_id], [shape(f["geometry"]) for f in grids.values()])
    assert gaps < 1.0 and overlaps < 1.0, (gaps, overlaps)


def assert_tiles(client, town: Town, community_id: int) -> dict[int, dict]:
    grids = grids_of(client, community_id=community_id)
    assert_tiling(town, community_id, grids)
    return grids


@pytest.fixture(scope="module")
def planner(scenario_backend) -> Iterator:
    with scenario_backend.client("planner") as c:
        yield c


@pytest.fixture(scope="module")
def start(planner) -> SimpleNamespace:
    """The biggest grid a straight line cuts in two, the line and the two pieces."""
    town = Town.load(planner)
    gid, line, big, small = choose_cut(town)
    points = town.points()
    return SimpleNamespace(
        town=town,
        gid=gid,
        line=line,
        big=big,
        small=small,
        community=town.community_of(gid),
        code=town.grid_props[gid]["code"],
        points=points,
        in_small={bid for bid, p in points.items() if small.covers(p)},
        in_big={bid for bid, p in points.items() if big.covers(p)},
    )


@pytest.fixture(scope="module")
def refused_splits(scenario_backend, planner, start) -> SimpleNamespace:
    """Lines that do not cut the grid in two, other refusals and a dry run: they change nothing."""
    gid, line = start.gid, start.line
    before = db_state(scenario_backend)
    inside = start.town.grids[gid].representative_point()
    short = {"type": "LineString", "coordinates": [[inside.x, inside.y], [inside.x + 0.00002, inside.y]]}
    far = {"type": "LineString", "coordinates": [[100.0, 30.0], [100.01, 30.0]]}
    area = {
        "type": "Polygon",
        "coordinates": [
            [[inside.x, inside.y], [inside.x + 1e-4, inside.y], [inside.x, inside.y + 1e-4], [inside.x, inside.y]]
        ],
    }
    return SimpleNamespace(
        bad_lines=[
            planner.post(SPLIT, json={"grid_id": gid, "version": 1, "line": bad, "comment": "cut"})
            for bad in (short, far, area)
        ],
        stale=planner.post(SPLIT, json={"grid_id": gid, "version": 4, "line": line, "comment": "cut"}),
        unknown=planner.post(SPLIT, json={"grid_id": 987654, "version": 1, "line": line, "comment": "c"}),
        no_comment=planner.post(SPLIT, json={"grid_id": gid, "version": 1, "line": line}),
        preview=ok(planner.post(SPLIT, json={"grid_id": gid, "version": 1, "line": line, "dry_run": True})),
        changed=db_state(scenario_backend) != before,
    )


def test_a_split_needs_a_line_cutting_the_grid_in_two(refused_splits):
    for r in refused_splits.bad_lines:
        assert_problem(r, 422, "line")


def test_a_split_needs_the_current_version_a_grid_and_a_comment(refused_splits):
    stale = refused_splits.stale
    assert stale.status_code in (409, 412) and assert_problem(stale, stale.status_code)["current_version"] == 1
    assert_problem(refused_splits.unknown, 404)
    assert_problem(refused_splits.no_comment, 422, "comment")


def test_a_dry_run_split_shows_the_buildings_leaving_and_saves_nothing(start, refused_splits):
    preview = refused_splits.preview
    assert preview["valid"] is True and preview["validation"] == []
    moved = [m for effect in preview["impact"] for m in effect["buildings_moved"]]
    assert {int(m["item"]) for m in moved} == start.in_small
    assert all(str(m["before"]) == str(start.gid) and str(m["after"]) != str(start.gid) for m in moved)
    assert not refused_splits.changed


@pytest.fixture(scope="module")
def split(planner, start, refused_splits) -> SimpleNamespace:
    """The split: the grid keeps the bigger piece, a new grid with the next code takes the other."""
    gid = start.gid
    result = ok(
        planner.post(
            SPLIT, json={"grid_id": gid, "version": 1, "line": start.line, "comment": "两个小区 two compounds"}
        )
    )
    new_id = result["grids"][1]["id"]
    return SimpleNamespace(
        result=result,
        new_id=new_id,
        grids=grids_of(planner, community_id=start.community),
        building_ids={g: building_ids_of(planner, g) for g in (gid, new_id)},
        changes={g: [h["properties"]["change"] for h in history_of(planner, g)] for g in (gid, new_id)},
    )


def test_the_split_keeps_the_grid_and_makes_one_with_the_next_code(scenario_backend, start, split):
    assert split.result["valid"] is True
    kept, made = split.result["grids"]
    assert (kept["id"], kept["code"], kept["version"]) == (start.gid, start.code, 2)
    assert made["code"] == next_code(start.town, start.community) and made["version"] == 1
    assert re.fullmatch(scenario_backend.settings.grid_code_pattern, made["code"])
    props = split.grids[split.new_id]["properties"]
    assert (props["code"], props["community_id"], props["layer"]) == (made["code"], start.community, "one_network")


def test_after_the_split_the_pieces_tile_the_community(start, split):
    grids = split.grids
    assert_tiling(start.town, start.community, grids)
    assert set(grids) == set(start.town.siblings(start.community)) | {split.new_id}
    assert same_shape(shape(grids[start.gid]["geometry"]), start.big)
    assert same_shape(shape(grids[split.new_id]["geometry"]), start.small)


def test_the_buildings_follow_the_split(start, split):
    assert start.in_small and start.in_big, "both pieces hold buildings"
    assert split.building_ids == {split.new_id: start.in_small, start.gid: start.in_big}
    households = split.grids[split.new_id]["properties"]["households"]
    assert households == sum(start.town.households(b) for b in start.in_small)
    assert {m["item"] for m in split.result["impact"][0]["buildings_moved"]} == start.in_small
    assert split.changes == {start.gid: ["create", "split"], split.new_id: ["split"]}


@pytest.fixture(scope="module")
def refused_merges(scenario_backend, planner, start, split) -> SimpleNamespace:
    """Merging grids that are not neighbours, of two communities, twice the same, or stale."""
    town, gid = start.town, start.gid
    before = db_state(scenario_backend)
    across = next(
        (p, q)
        for p in town.grids
        for q in town.grids
        if town.community_of(p) < town.community_of(q) and town.grids[p].intersection(town.grids[q]).length > 1e-4
    )
    return SimpleNamespace(
        strangers=planner.post(
            MERGE, json={"grid_ids": list(town.strangers()), "versions": [1, 1], "comment": "merge"}
        ),
        across=planner.post(MERGE, json={"grid_ids": list(across), "versions": [1, 1], "comment": "merge"}),
        twice=planner.post(MERGE, json={"grid_ids": [gid, gid], "versions": [2, 2], "comment": "m"}),
        stale=planner.post(MERGE, json={"grid_ids": [gid, split.new_id], "versions": [1, 1], "comment": "m"}),
        changed=db_state(scenario_backend) != before,
    )


def test_merging_refuses_strangers_two_communities_one_grid_twice_and_stale_versions(refused_merges):
    assert_problem(refused_merges.strangers, 422, "grid_ids")
    assert_problem(refused_merges.across, 422, "grid_ids")
    assert_problem(refused_merges.twice, 422)
    assert refused_merges.stale.status_code in (409, 412), refused_merges.stale.text
    assert not refused_merges.changed


@pytest.fixture(scope="module")
def merged_back(scenario_backend, planner, start, split, refused_merges) -> SimpleNamespace:
    """The two pieces merged back (after a dry run): the lower code survives, the other retires."""
    gid, new_id = start.gid, split.new_id
    back = {"grid_ids": [new_id, gid], "versions": [1, 2]}
    state = db_state(scenario_backend)
    preview = ok(planner.post(MERGE, json=back | {"dry_run": True}))
    preview_changed = db_state(scenario_backend) != state
    result = ok(planner.post(MERGE, json=back | {"comment": "合并 merge back"}))
    return SimpleNamespace(
        preview=preview,
        preview_changed=preview_changed,
        result=result,
        grids=grids_of(planner, community_id=start.community),
        building_ids={g: building_ids_of(planner, g) for g in (gid, new_id)},
        retired_get=planner.get(f"/api/v1/grids/{new_id}"),
        retired_history=history_of(planner, new_id),
    )


def test_a_dry_run_merge_shows_the_buildings_coming_back_and_saves_nothing(start, merged_back):
    preview = merged_back.preview
    assert preview["valid"] is True
    moved = [m for effect in preview["impact"] for m in effect["buildings_moved"]]
    assert {int(m["item"]) for m in moved} == start.in_small and {str(m["after"]) for m in moved} == {str(start.gid)}
    assert not merged_back.preview_changed


def test_merging_back_restores_the_grid_and_retires_the_piece(start, split, merged_back):
    gid, new_id, town = start.gid, split.new_id, start.town
    by_id = {g["id"]: g for g in merged_back.result["grids"]}
    assert by_id[gid]["retired"] is False and by_id[gid]["version"] == 3
    assert by_id[new_id]["retired"] is True
    grids = merged_back.grids
    assert_tiling(town, start.community, grids)
    assert set(grids) == set(town.siblings(start.community))
    assert same_shape(shape(grids[gid]["geometry"]), town.grids[gid], tol_m=MERGE_TOL_M)
    assert merged_back.building_ids == {gid: start.in_small | start.in_big, new_id: set()}
    assert grids[gid]["properties"]["households"] == town.grid_props[gid]["households"]


def test_the_retired_piece_is_gone_but_its_history_kept(start, merged_back):
    assert_problem(merged_back.retired_get, 404)
    (gone,) = merged_back.retired_history
    assert gone["properties"]["valid_to"] is not None, "the retired grid's history is closed, and kept"
    assert same_shape(shape(gone["geometry"]), start.small)


@pytest.fixture(scope="module")
def raced(planner, start, merged_back) -> SimpleNamespace:
    """Two original neighbours merged while a planner splits one of them at the same moment, from the
    same version: one of the two loses whole."""
    town = start.town
    a, b = next((p, q) for p, q in town.neighbours() if start.gid not in (p, q))
    survivor, retired = sorted((a, b), key=lambda g: town.grid_props[g]["code"])  # the lower code stays
    merge_body = {"grid_ids": [a, b], "versions": [1, 1], "comment": "合并 two into one"}
    # a cut that leaves the survivor's part beside the other grid (the merge stays possible after the
    # split) and that also cuts the two merged (the split stays possible after the merge): whichever
    # comes second is refused only for its stale version
    union = town.grids[a].union(town.grids[b])
    line = next(
        ln
        for ln, big, _ in cuts(town.grids[survivor], within=union)
        if shared_m(big, town.grids[retired]) > 5 and any(u == ln for u, _, _ in cuts(union))
    )
    split_body = {"grid_id": survivor, "version": 1, "line": line, "comment": "拆分"}
    merge_answer, split_answer = all_at_once(
        lambda call: planner.post(call[0], json=call[1]), [(MERGE, merge_body), (SPLIT, split_body)]
    )
    answers = {"merge": merge_answer, "split": split_answer}
    split_won = split_answer is not None and split_answer.status_code == 200
    if split_won:  # undo the split (merge its pieces back), then merge the two from the new version
        pieces = split_answer.json()["grids"]
        undo = {"grid_ids": [g["id"] for g in pieces], "versions": [g["version"] for g in pieces], "comment": "undo"}
        ok(planner.post(MERGE, json=undo))
        versions = {survivor: 3, retired: 1}
        result = ok(planner.post(MERGE, json=merge_body | {"versions": [versions[a], versions[b]]}))
    else:
        result = merge_answer.json() if merge_answer is not None else {"grids": []}
    return SimpleNamespace(
        a=a,
        b=b,
        survivor=survivor,
        retired=retired,
        answers=answers,
        split_won=split_won,
        result=result,
        grids=grids_of(planner, community_id=town.community_of(a)),
        building_ids=building_ids_of(planner, survivor),
        retired_history=history_of(planner, retired),
        changes=[h["properties"]["change"] for h in history_of(planner, survivor)],
        all_grids=grids_of(planner),
    )


def test_a_merge_racing_a_split_of_one_of_its_grids_one_wins_whole(raced):
    answers = raced.answers
    statuses = sorted(r.status_code for r in answers.values() if r is not None)
    assert statuses in ([200, 409], [200, 412]), {k: r.text[:300] for k, r in answers.items() if r is not None}


def test_after_the_race_the_two_neighbours_are_one_grid(start, raced):
    town, survivor, retired = start.town, raced.survivor, raced.retired
    assert {g["id"]: g["retired"] for g in raced.result["grids"]} == {survivor: False, retired: True}
    grids = raced.grids
    assert_tiling(town, town.community_of(raced.a), grids)
    assert retired not in grids and survivor in grids
    whole_shape = town.grids[raced.a].union(town.grids[raced.b])
    assert same_shape(shape(grids[survivor]["geometry"]), whole_shape, tol_m=MERGE_TOL_M)
    whole = {bid for bid, p in town.building_props.items() if p["grid_id"] in (raced.a, raced.b)}
    assert raced.building_ids == whole
    assert grids[survivor]["properties"]["households"] == sum(town.households(bid) for bid in whole)
    assert retired not in raced.all_grids


def test_after_the_race_the_history_tells_what_happened(raced):
    assert raced.retired_history[-1]["properties"]["valid_to"] is not None
    assert raced.changes == (["create", "split", "merge", "merge"] if raced.split_won else ["create", "merge"])


def test_a_stale_split_or_merge_gets_412(private_backend):
    """A planner loaded a grid at version 1 and drew a cut across its southern part; meanwhile a
    colleague split that part off. The planner's split (version 1) must be refused as stale (412,
    current version 2), not as a line that misses the grid. Likewise a merge with a neighbour that
    only the split-off part touched."""
    backend = private_backend
    with backend.client("planner") as planner:
        town = Town.load(planner)
        gid, line, big, small = choose_cut(town)
        ok(planner.post(SPLIT, json={"grid_id": gid, "version": 1, "line": line, "comment": "first cut"}))
        minx, miny, maxx, maxy = small.bounds
        if line["coordinates"][0][1] == line["coordinates"][1][1]:  # an east-west cut: a parallel one in the part
            y = (miny + maxy) / 2
            inside_small = [[minx - 0.0005, y], [maxx + 0.0005, y]]
        else:
            x = (minx + maxx) / 2
            inside_small = [[x, miny - 0.0005], [x, maxy + 0.0005]]
        assert not shapely.LineString(inside_small).intersects(big), "the second cut misses what the grid kept"
        assert shapely.LineString(inside_small).crosses(town.grids[gid]), "but it crossed the grid as loaded"
        stale_line = {"type": "LineString", "coordinates": inside_small}
        r = planner.post(SPLIT, json={"grid_id": gid, "version": 1, "line": stale_line, "comment": "second cut"})
        answers = {"split": r}
        others = [n for n in town.siblings(town.community_of(gid)) if n != gid]
        lost = [n for n in others if shared_m(small, town.grids[n]) > 5 and shared_m(big, town.grids[n]) < 0.5]
        if lost:
            body = {"grid_ids": [gid, lost[0]], "versions": [1, 1], "comment": "merge"}
            answers["merge"] = planner.post(MERGE, json=body)
    wrong = {k: (r.status_code, r.json().get("detail")) for k, r in answers.items() if r.status_code not in (409, 412)}
    assert not wrong, wrong
    assert all(r.json()["current_version"] == 2 for r in answers.values())


def matrix_cut(geom):
    """The cut the role matrix makes (``Ctx.cut`` in tests/security/endpoints.py): east-west through
    the middle of the bounds, not rounded, leaving two polygons of over 5,000 m²."""
    minx, miny, maxx, maxy = geom.bounds
    for frac in (0.5, 0.45, 0.55, 0.4, 0.6):
        y = miny + frac * (maxy - miny)
        north = geom.intersection(shapely.box(minx - 1, y, maxx + 1, maxy + 1))
        south = geom.intersection(shapely.box(minx - 1, miny - 1, maxx + 1, y))
        if north.geom_type == south.geom_type == "Polygon" and min(m2(north), m2(south)) > 5000:
            return {"type": "LineString", "coordinates": [[minx - 0.0005, y], [maxx + 0.0005, y]]}
    return None


def test_merging_the_halves_of_a_split_moves_no_other_boundary(private_backend):
    """The role matrix run alone: it cuts the demo's biggest grid, later cuts the piece split off and
    merges that piece's two halves back. The first cut runs half a step of the 1e-7° grid off it (the
    middle of 7-decimal bounds), and the merge unioned on that grid: the piece's edge along the first
    cut moved 5 mm off the grid that kept the other side, and the merge was refused (422, "3.3 m² of
    the community belong to no grid"). Merging the halves of a split must give the piece back."""
    with private_backend.client("planner") as planner:
        town = Town.load(planner)
        gid, line = next(
            (g, cut)
            for g in sorted(town.grids, key=lambda g: -m2(town.grids[g]))
            if (cut := matrix_cut(town.grids[g])) is not None
        )
        community = town.community_of(gid)
        y = line["coordinates"][0][1]
        assert abs(y * 1e7 - round(y * 1e7)) > 0.1, "the cut of the matrix lies off the 1e-7° grid"
        first = ok(planner.post(SPLIT, json={"grid_id": gid, "version": 1, "line": line, "comment": "first cut"}))
        _, made = first["grids"]
        before = assert_tiles(planner, town, community)
        piece = shape(before[made["id"]]["geometry"])
        second = matrix_cut(piece)
        cut = {"grid_id": made["id"], "version": made["version"], "line": second, "comment": "second cut"}
        halves = ok(planner.post(SPLIT, json=cut))["grids"]
        body = {"grid_ids": [h["id"] for h in halves], "versions": [h["version"] for h in halves], "comment": "back"}
        result = planner.post(MERGE, json=body)
        assert result.status_code == 200, result.text[:2000]
        assert result.json()["validation"] == []
        after = assert_tiles(planner, town, community)
        assert set(after) == set(before)
        assert same_shape(shape(after[made["id"]]["geometry"]), piece)
