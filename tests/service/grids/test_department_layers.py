"""One network (多网融合): department grid layers imported from GCJ-02 files (GeoJSON, zipped
Shapefile, GeoPackage), compared with the merged layer, and merged into a proposal that the planner
previews and applies like any edit.

The scenario runs once per backend on a database of its own: each step is a module-scoped fixture
that acts and records what it saw, and each test checks one step's records, so a failure in one
step does not hide the others'."""

from __future__ import annotations

import io
import itertools
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from types import SimpleNamespace

import pytest
import shapely
import shapely.affinity
from shapely.geometry import Polygon, shape

from tests.service.grids.layerfiles import geojson_bytes, geopackage, layer_frame, upload, zipped_shapefile
from tests.service.grids.town import (
    as_multi,
    building_ids_of,
    db_state,
    grids_of,
    history_of,
    history_rows,
    m2,
    move_boundary,
    ok,
    polygons,
    same_shape,
    tiling_defects_m2,
)
from tests.service.helpers import assert_problem
from tests.service.requests.api import check
from tests.support.town import Town

IMPORTED = {"created": 25, "updated": 0, "unchanged": 0, "retired": 0}
SLIVER_M2 = 2000.0  # the comparison's default: pieces smaller than this are slivers
MIN_SLIVER_M2 = 10.0  # below this, a piece may be an artefact of the API's 7-decimal rounding


def stored(state: dict) -> dict:
    """What an import may change (events aside: the service announces every import)."""
    return {k: state[k] for k in ("grids", "versions", "buildings", "requests")}


def assert_layer_matches(town: Town, layer: dict[int, dict], geoms=None) -> None:
    """The imported grids are the given WGS84 grids (by code), to about a centimetre."""
    geoms = geoms or town.grids
    by_code = {town.grid_props[g]["code"]: g for g in geoms}
    assert {f["properties"]["code"] for f in layer.values()} == set(by_code)
    for f in layer.values():
        original = by_code[f["properties"]["code"]]
        assert f["properties"]["community_id"] == town.community_of(original)
        assert same_shape(shape(f["geometry"]), geoms[original], tol_m=0.01), f["properties"]["code"]


def expected_comparison(town: Town, dept: dict[int, dict], merged: dict[int, dict]) -> dict:
    """One-to-one pairs (IoU >= 0.9), slivers (pieces of intersections, 10-2000 m²) and buildings that
    the department's grids cut (at least 5 % of the footprint on each of two grids)."""
    d_geoms = {d: shape(f["geometry"]) for d, f in dept.items()}
    m_geoms = {m: shape(f["geometry"]) for m, f in merged.items()}
    one_to_one, slivers = set(), {}
    for (d, dg), (m, mg) in itertools.product(d_geoms.items(), m_geoms.items()):
        if not dg.intersects(mg):
            continue
        inter = dg.intersection(mg)
        if m2(inter) / m2(dg.union(mg)) >= 0.9:
            one_to_one.add((d, m))
        areas = sorted(m2(p) for p in polygons(inter) if MIN_SLIVER_M2 < m2(p) < SLIVER_M2)
        if areas:
            slivers[(d, m)] = areas
    split = {}
    for bid, footprint in town.buildings.items():
        cut = {
            dept[d]["properties"]["code"]
            for d, dg in d_geoms.items()
            if dg.intersects(footprint) and m2(dg.intersection(footprint)) / m2(footprint) >= 0.05
        }
        if len(cut) >= 2:
            split[bid] = cut
    return {"one_to_one": one_to_one, "slivers": slivers, "split": split}


def assert_comparison(got: dict, expected: dict) -> None:
    assert {(o["grid"], o["merged_grid"]) for o in got["one_to_one"]} == expected["one_to_one"]
    big = {}
    for f in got["slivers"]["features"]:
        p = f["properties"]
        assert p["area_m2"] == pytest.approx(m2(shape(f["geometry"])), rel=0.01, abs=0.5)
        if p["area_m2"] > MIN_SLIVER_M2 * 1.1:
            big.setdefault((p["grid"], p["merged_grid"]), []).append(p["area_m2"])
    assert set(big) <= set(expected["slivers"]), (big, expected["slivers"])
    for pair, areas in expected["slivers"].items():
        wanted = [a for a in areas if a > MIN_SLIVER_M2 * 1.1]
        assert sorted(big.get(pair, [])) == pytest.approx(wanted, rel=0.02, abs=0.5), pair
    assert {s["building_id"]: set(s["grids"]) for s in got["split_buildings"]} == expected["split"]


def cut_a_building(town: Town, avoid: set[int]):
    """A building and two neighbouring grids: hand the half of the building nearest the neighbour
    over to it, so the department's boundary runs through the building. (grid, neighbour, half)."""
    for c, d in town.neighbours():
        if {c, d} & avoid:
            continue
        holders = town.assignment(town.grids)
        mine = [bid for bid, g in holders.items() if g == c]
        if not mine:
            continue
        bid = min(mine, key=lambda b: town.buildings[b].distance(town.grids[d]))
        minx, miny, maxx, maxy = town.buildings[bid].bounds
        halves = [shapely.box(minx, miny, (minx + maxx) / 2, maxy), shapely.box((minx + maxx) / 2, miny, maxx, maxy)]
        half = min(halves, key=lambda h: h.distance(town.grids[d])).intersection(town.buildings[bid])
        if 0.3 < m2(half) / m2(town.buildings[bid]) < 0.7:
            return c, d, bid, half
    raise AssertionError("no building to cut")


def perturbation(town: Town, *, seven_decimals: bool):
    """The town's grids as a department drew them: the boundary of the first two neighbours moved
    into the second so that an 800 m² strip changes hands, and half of a building beside another
    pair of neighbours drawn into the neighbour. (grids, the strip, (grid, neighbour, building))."""
    a, b = town.neighbours()[0]
    depth = 5.0 * 800.0 / m2(move_boundary(town.grids[a], town.grids[b], 5.0)[2])
    new_a, new_b, strip = move_boundary(town.grids[a], town.grids[b], depth)
    c, d, cut_bid, half = cut_a_building(town, {a, b})
    drawn = town.grids | {
        a: new_a,
        b: new_b,
        c: as_multi(town.grids[c].difference(half)),
        d: as_multi(town.grids[d].union(half)),
    }
    if seven_decimals:  # like the rest of the demo's coordinates
        drawn |= {g: shapely.set_precision(drawn[g], 1e-7) for g in (a, b, c, d)}
    return drawn, strip, (c, d, cut_bid)


@pytest.fixture(scope="module")
def world(scenario_backend, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """The scenario's database, its clients, the town, the department files and the merged layer."""
    backend = scenario_backend
    tmp_path = tmp_path_factory.mktemp(f"layers-{backend.name}")
    with ExitStack() as stack:
        planner, dispatcher = (stack.enter_context(backend.client(u)) for u in ("planner", "dispatcher"))
        town = Town.load(planner)
        gcj = layer_frame(town, town.grids, "gcj02")
        files = {
            "party_building": ("党建网格.geojson", geojson_bytes(gcj)),
            "health": ("卫健网格.zip", zipped_shapefile(gcj, tmp_path / "shp")),
            "comprehensive_governance": ("综治网格.gpkg", geopackage(gcj, tmp_path / "zz.gpkg")),
        }
        yield SimpleNamespace(
            backend=backend,
            planner=planner,
            dispatcher=dispatcher,
            tmp_path=tmp_path,
            town=town,
            files=files,
            merged=grids_of(planner),
            pair=town.neighbours()[0],
        )


@pytest.fixture(scope="module")
def imported(world) -> SimpleNamespace:
    """Each format, declared GCJ-02, imported into its layer, then the same file again."""
    backend, planner = world.backend, world.planner
    seen = {}
    for layer, (name, data) in world.files.items():
        rows = history_rows(backend)
        result = ok(upload(planner, name, data, layer=layer))
        rows_after = history_rows(backend)
        grids = grids_of(planner, layer=layer)
        before = stored(db_state(backend))
        again = ok(upload(planner, name, data, layer=layer))
        seen[layer] = SimpleNamespace(
            rows=rows,
            result=result,
            rows_after=rows_after,
            grids=grids,
            before=before,
            again=again,
            after=stored(db_state(backend)),
        )
    party = grids_of(planner, layer="party_building")
    first = next(iter(party))
    return SimpleNamespace(
        layers=seen,
        merged=grids_of(planner),
        party=party,
        first_changes=[h["properties"]["change"] for h in history_of(planner, first)],
    )


def test_each_format_imports_its_25_grids_with_their_history(imported):
    for layer, seen in imported.layers.items():
        assert seen.result == {"layer": layer, **IMPORTED}
        assert seen.rows_after == seen.rows + 25, layer


def test_each_format_declared_gcj02_lands_on_the_wgs84_grids(world, imported):
    for seen in imported.layers.values():
        assert_layer_matches(world.town, seen.grids)


def test_the_same_file_again_changes_nothing(imported):
    for layer, seen in imported.layers.items():
        assert seen.again == {"layer": layer, "created": 0, "updated": 0, "unchanged": 25, "retired": 0}
        assert seen.after == seen.before, layer


def test_importing_department_layers_leaves_the_merged_layer_alone(world, imported):
    assert imported.merged == world.merged, "importing department layers leaves the merged layer alone"


def test_an_imported_grid_history_starts_with_its_creation(imported):
    assert imported.first_changes == ["create"]


@pytest.fixture(scope="module")
def refused(world, imported) -> SimpleNamespace:
    """Files with one bad feature (or no layer at all), sent into an existing layer and a new one,
    and a file sent to the merged layer: the answers and whether the database changed."""
    town, backend, planner = world.town, world.backend, world.planner
    a, _ = world.pair
    swapped = layer_frame(town, town.grids | {a: shapely.transform(town.grids[a], lambda c: c[:, ::-1])}, "wgs84")
    far = layer_frame(town, town.grids | {a: shapely.affinity.translate(town.grids[a], -1.4, 15.3)}, "wgs84")
    renamed = layer_frame(town, town.grids, "gcj02")
    renamed.loc[0, "code"] = "12"  # not a national grid code
    twice = layer_frame(town, town.grids, "gcj02")
    twice.loc[1, "code"] = twice.loc[0, "code"]
    bad_files = {
        "latitude-longitude swapped feature": (
            "swapped.geojson",
            geojson_bytes(swapped),
            {"coord_type": "wgs84"},
            "file",
        ),
        "feature far away": ("far.geojson", geojson_bytes(far), {"coord_type": "wgs84"}, "file"),
        "bad code": ("renamed.geojson", geojson_bytes(renamed), {}, "file"),
        "repeated code": ("twice.geojson", geojson_bytes(twice), {}, "file"),
        "not a layer": ("notes.geojson", b"hello, grids", {}, "file"),
        "zip without a shapefile": ("empty.zip", _zip_of({"readme.txt": b"no shapefile"}), {}, "file"),
        "no code column": (
            "党建网格.geojson",
            world.files["party_building"][1],
            {"code_field": "bianma"},
            "code_field",
        ),
    }
    answers = {}
    for layer in ("party_building", "urban_management"):
        before = stored(db_state(backend))
        for case, (name, data, form, field) in bad_files.items():
            r = upload(planner, name, data, layer=layer, **form)
            answers[(layer, case)] = SimpleNamespace(
                response=r, field=field, before=before, after=stored(db_state(backend))
            )
    return SimpleNamespace(
        bad_code=town.grid_props[a]["code"],
        answers=answers,
        urban_management=grids_of(planner, layer="urban_management"),
        one_network=upload(planner, *world.files["party_building"], layer="one_network"),
    )


def test_a_file_with_one_bad_feature_is_refused_naming_it(refused):
    for (_, case), seen in refused.answers.items():
        body = assert_problem(seen.response, 422, seen.field)
        if "feature" in case:
            assert refused.bad_code in body["detail"], body["detail"]


def test_a_refused_file_imports_nothing_into_an_existing_layer_or_a_new_one(refused):
    for (_, case), seen in refused.answers.items():
        assert seen.after == seen.before, case
    assert refused.urban_management == {}


def test_the_merged_layer_is_not_a_department_layer(refused):
    assert_problem(refused.one_network, 422, "layer")


@pytest.fixture(scope="module")
def faithful(world, refused) -> dict:
    """The comparison of the faithful party-building layer with the merged layer."""
    return ok(world.dispatcher.get("/api/v1/grid-layers/compare", params={"layer": "party_building"}))


def test_the_faithful_layer_maps_one_to_one_with_no_sliver_and_no_building_cut(world, imported, faithful):
    result, merged, party = faithful, world.merged, imported.party
    assert (result["grids"], result["merged_grids"]) == (25, 25)
    code_of = {f["properties"]["code"]: gid for gid, f in merged.items()}
    assert {(o["grid"], o["merged_grid"]) for o in result["one_to_one"]} == {
        (d, code_of[f["properties"]["code"]]) for d, f in party.items()
    }
    assert all(o["iou"] >= 0.999 for o in result["one_to_one"])
    assert result["slivers"]["features"] == [] and result["split_buildings"] == []
    assert_comparison(result, expected_comparison(world.town, party, merged))


@pytest.fixture(scope="module")
def perturbed(world, faithful) -> SimpleNamespace:
    """A department that drew one boundary 3-odd metres off and cut through a building: its layer
    imported over the health layer, and compared with the merged layer."""
    town, planner = world.town, world.planner
    drawn, strip, (c, d, cut_bid) = perturbation(town, seven_decimals=True)
    perturbed = layer_frame(town, drawn, "gcj02")
    data = zipped_shapefile(perturbed, world.tmp_path / "shp2")
    result = ok(upload(planner, "health-2.zip", data, layer="health"))
    health = grids_of(planner, layer="health")
    return SimpleNamespace(
        drawn=drawn,
        strip=strip,
        cut=(c, d, cut_bid),
        result=result,
        health=health,
        comparison=ok(world.dispatcher.get("/api/v1/grid-layers/compare", params={"layer": "health"})),
        expected=expected_comparison(town, health, world.merged),
    )


def test_a_redrawn_layer_updates_the_four_grids_it_changed(world, perturbed):
    assert perturbed.result == {"layer": "health", "created": 0, "updated": 4, "unchanged": 21, "retired": 0}
    assert_layer_matches(world.town, perturbed.health, perturbed.drawn)


def test_the_comparison_matches_an_independent_computation(perturbed):
    assert_comparison(perturbed.comparison, perturbed.expected)


def test_the_comparison_finds_the_misdrawn_strip_as_a_sliver(world, perturbed):
    town, (a, b) = world.town, world.pair
    health_id = {f["properties"]["code"]: gid for gid, f in perturbed.health.items()}
    sliver = perturbed.expected["slivers"][(health_id[town.grid_props[a]["code"]], b)]
    assert sliver == pytest.approx([m2(perturbed.strip)], rel=0.02), "the strip drawn into the wrong grid"


def test_the_comparison_finds_the_building_cut_by_the_department(world, perturbed):
    town, (c, d, cut_bid) = world.town, perturbed.cut
    codes = {town.grid_props[c]["code"], town.grid_props[d]["code"]}
    assert {s["building_id"]: set(s["grids"]) for s in perturbed.comparison["split_buildings"]}[cut_bid] == codes


@pytest.fixture(scope="module")
def proposals(world, perturbed) -> SimpleNamespace:
    """Merged proposals for the community of two layers each; the last pair is two faithful layers."""
    town = world.town
    community = town.community_of(world.pair[0])
    pairs = [("party_building", "health"), ("party_building", "comprehensive_governance")]
    made = {}
    for layers in pairs:
        params = {"community_id": community, "layers": list(layers)}
        made[layers] = ok(world.planner.get("/api/v1/grid-layers/proposal", params=params))
    return SimpleNamespace(community=community, points=town.points(), made=made, last=made[pairs[-1]])


def test_a_proposal_answers_its_layers(proposals):
    for layers, proposal in proposals.made.items():
        assert proposal["layers"] == list(layers)


def test_a_proposal_covers_the_community_without_overlaps(world, proposals):
    for layers, proposal in proposals.made.items():
        pieces = [shape(f["geometry"]) for f in proposal["features"]]
        gaps, overlaps = tiling_defects_m2(world.town.communities[proposals.community], pieces)
        assert gaps < 1.0 and overlaps < 1.0, (list(layers), gaps, overlaps)


def test_a_proposal_counts_the_households_and_area_of_each_piece(world, proposals):
    town, points = world.town, proposals.points
    for proposal in proposals.made.values():
        pieces = [shape(f["geometry"]) for f in proposal["features"]]
        for f, piece in zip(proposal["features"], pieces, strict=True):
            held = [bid for bid, p in points.items() if piece.covers(p)]
            assert f["properties"]["households"] == sum(town.households(bid) for bid in held)
            assert f["properties"]["area_m2"] == pytest.approx(m2(piece), rel=0.001)


@pytest.fixture(scope="module")
def applied(world, proposals) -> SimpleNamespace:
    """The last proposal (two faithful layers) previewed and applied like any edit: new grids, the
    community's old ones retired."""
    town, planner, community, proposal = world.town, world.planner, proposals.community, proposals.last
    old = town.siblings(community)
    edits = [{"community_id": community, "geometry": f["geometry"]} for f in proposal["features"]]
    edits += [{"id": g, "version": 1, "geometry": None} for g in sorted(old)]
    preview = ok(planner.post("/api/v1/grids/preview", json={"grids": edits}))
    applied = ok(planner.post("/api/v1/grids/apply", json={"grids": edits, "comment": "一张网 one network"}))
    now = grids_of(planner, community_id=community)
    return SimpleNamespace(
        old=old,
        preview=preview,
        in_community={bid for bid, p in proposals.points.items() if town.communities[community].covers(p)},
        result=applied,
        made=[g for g in applied["grids"] if not g["retired"]],
        now=now,
        building_ids={gid: building_ids_of(planner, gid) for gid in now},
        old_answers={g: planner.get(f"/api/v1/grids/{g}") for g in old},
        old_histories={g: history_of(planner, g) for g in old},
    )


def test_the_proposal_previews_as_valid_moving_every_building_to_a_new_grid(proposals, applied):
    preview = applied.preview
    assert preview["valid"] is True, preview["validation"]
    (effect,) = preview["impact"]
    moved = {m["item"] for m in effect["buildings_moved"]}
    assert moved == applied.in_community, "every building changes to a new grid"
    new_households = sorted(h["households_after"] for h in effect["households"] if h["households_after"] is not None)
    assert new_households == sorted(f["properties"]["households"] for f in proposals.last["features"])


def test_applying_the_proposal_retires_the_old_grids_and_codes_the_new_ones(world, proposals, applied):
    town, old, made = world.town, applied.old, applied.made
    assert {g["id"] for g in applied.result["grids"] if g["retired"]} == set(old)
    assert len(made) == len(proposals.last["features"])
    prefix = town.community_codes[proposals.community]
    top = max(int(town.grid_props[g]["code"][len(prefix) :]) for g in old)
    assert sorted(g["code"] for g in made) == [f"{prefix}{top + i:03d}" for i in range(1, len(made) + 1)]


def test_the_new_grids_tile_the_community_and_hold_its_buildings(world, proposals, applied):
    now = applied.now
    assert set(now) == {g["id"] for g in applied.made}
    community = world.town.communities[proposals.community]
    gaps, overlaps = tiling_defects_m2(community, [shape(f["geometry"]) for f in now.values()])
    assert gaps < 1.0 and overlaps < 1.0
    pieces = [shape(f["geometry"]) for f in proposals.last["features"]]
    for gid, f in now.items():
        geom = shape(f["geometry"])
        assert any(same_shape(geom, p) for p in pieces)
        held = {bid for bid in applied.in_community if geom.covers(proposals.points[bid])}
        assert applied.building_ids[gid] == held


def test_the_old_grids_are_gone_with_their_history_closed(applied):
    for g in applied.old:
        assert_problem(applied.old_answers[g], 404)
        assert applied.old_histories[g][-1]["properties"]["valid_to"] is not None


def _zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


# -- known bugs ------------------------------------------------------------------------------------


def test_a_code_retired_by_one_import_can_come_back_in_the_next(refusing_backend, town):
    """Import 25 grids, then 24 (one retired), then the 25 again: the retired code must come back (a
    new grid or the old one revived), not crash on uq_grids_layer_code."""
    layer = "comprehensive_governance"
    frame = layer_frame(town, town.grids, "wgs84")
    with refusing_backend.client("planner") as planner:
        assert (
            ok(upload(planner, "all.geojson", geojson_bytes(frame), layer=layer, coord_type="wgs84"))["created"] == 25
        )
        fewer = ok(upload(planner, "fewer.geojson", geojson_bytes(frame.iloc[1:]), layer=layer, coord_type="wgs84"))
        assert fewer["retired"] == 1 and fewer["unchanged"] == 24
    with refusing_backend.client("planner") as planner:  # a fresh connection: a 500 closes it
        r = upload(planner, "all.geojson", geojson_bytes(frame), layer=layer, coord_type="wgs84")
        check(r.status_code == 200, f"re-import answered {r.status_code}: {r.text[:300]}")
        check(r.json()["unchanged"] == 24 and r.json()["retired"] == 0, r.text)
        codes = {f["properties"]["code"] for f in grids_of(planner, layer=layer).values()}
        check(len(codes) == 25, f"{len(codes)} grids in the layer")


def test_an_import_needs_a_real_comment(refusing_backend, clients, town):
    layer = "party_building"
    frame = layer_frame(town, town.grids, "wgs84")
    r = upload(clients["planner"], "all.geojson", geojson_bytes(frame), layer=layer, coord_type="wgs84", comment="   ")
    assert_problem(r, 422, "comment")


def test_a_self_intersecting_feature_is_refused_with_a_reason(refusing_backend, town):
    """layers.import_layer notes the invalid shape, then intersects it with every community anyway
    (_community_of), and GEOS raises a TopologyException."""
    layer = "urban_management"
    a, _ = town.neighbours()[0]
    p = town.grids[a].representative_point()
    bowtie = Polygon([(p.x, p.y), (p.x + 0.001, p.y + 0.001), (p.x + 0.001, p.y), (p.x, p.y + 0.001), (p.x, p.y)])
    frame = layer_frame(town, town.grids | {a: bowtie}, "wgs84")
    before = stored(db_state(refusing_backend))
    with refusing_backend.client("planner") as planner:
        r = upload(planner, "broken.geojson", geojson_bytes(frame), layer=layer, coord_type="wgs84")
    assert stored(db_state(refusing_backend)) == before, "nothing is imported either way"
    check(r.status_code == 422, f"answered {r.status_code}: {r.text[:300]}")
    check(town.grid_props[a]["code"] in r.json()["detail"], r.text)


def test_a_proposal_from_disagreeing_layers_can_be_applied(refusing_backend, clients, town):
    """Two departments: one with the town's grids, one that moved a boundary and cut a building
    (both GCJ-02 files, into layers no other test here reads). Their merged proposal must pass the
    preview's validation as returned, and hold no piece smaller than a sliver (every sliver joins a
    neighbour). The full-precision pieces are valid; the API's 7-decimal output of one is not."""
    planner = clients["planner"]
    problems = []
    a, _ = town.neighbours()[0]
    community = town.community_of(a)
    faithful = layer_frame(town, town.grids, "gcj02")
    ok(upload(planner, "faithful.geojson", geojson_bytes(faithful), layer="health"))
    old = [{"id": g, "version": 1, "geometry": None} for g in sorted(town.siblings(community))]
    for seven in (True, False):
        drawn, _, _ = perturbation(town, seven_decimals=seven)
        ok(upload(planner, "drawn.geojson", geojson_bytes(layer_frame(town, drawn, "gcj02")), layer="party_building"))
        params = {"community_id": community, "layers": ["health", "party_building"]}
        proposal = ok(planner.get("/api/v1/grid-layers/proposal", params=params))
        tiny = [f["properties"] for f in proposal["features"] if m2(shape(f["geometry"])) < SLIVER_M2]
        if tiny:
            problems.append(f"{'7-decimal' if seven else 'full-precision'} file: pieces under {SLIVER_M2} m²: {tiny}")
        new = [{"community_id": community, "geometry": f["geometry"]} for f in proposal["features"]]
        preview = ok(planner.post("/api/v1/grids/preview", json={"grids": new + old}))
        if not preview["valid"]:
            found = [(i["grid"], i["message"]) for i in preview["validation"]]
            problems.append(f"{'7-decimal' if seven else 'full-precision'} file: the proposal is refused: {found}")
    check(not problems, "; ".join(problems))
