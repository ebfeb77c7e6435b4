"""The demo loads through the one import path, identically on both backends, all or nothing.

The demo's areas, grids, buildings, stations, grid workers and volunteers are imported from
``fixtures/demo/import/`` by ``run_import`` (as ``neighborgrid import`` would send them). What is
stored must be what the generator made: the same codes, names, parents and geometries, every
building in the grid the generator put it in, every station and volunteer in its community, every
grid worker on their grids. ``--replace`` loads the same demo again over the first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import shape
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from service.areas.models import Area
from service.bootstrap import prepare_database
from service.buildings.models import Building
from service.config import Settings
from service.db import Database
from service.demo.loader import DEMO_BY, is_empty, load_demo
from service.grids.models import Grid, GridVersion, GridWorker
from service.imports.models import ImportRun
from service.imports.report import ImportRefused
from service.organisations.models import PartyOrg
from service.stations.models import Station, StationCircle
from service.volunteers.models import Volunteer
from tests.support.backends import BACKENDS
from tests.support.databases import postgis_url, spatialite_url

DEMO = Settings().demo_dir
IMPORTED_KINDS = ["areas", "grids", "grid-workers", "buildings", "stations", "volunteers"]


def generated(name: str) -> list[dict[str, Any]]:
    """A layer as the generator wrote it (fixtures/demo/*.geojson)."""
    return json.loads((DEMO / name).read_text(encoding="utf-8"))["features"]


AREAS = {f["properties"]["key"]: f for f in generated("areas.geojson")}
GRIDS = {f["properties"]["key"]: f for f in generated("grids.geojson")}
CODE = {key: f["properties"]["code"] for key, f in (AREAS | GRIDS).items()}
ORG = json.loads((DEMO / "organisation.json").read_text(encoding="utf-8"))


def _database(backend: str, stack: ExitStack, tmp: Path) -> Database:
    url = stack.enter_context(spatialite_url(tmp) if backend == "spatialite" else postgis_url())
    db = Database.from_settings(Settings(database_url=url))
    stack.callback(db.dispose)
    prepare_database(db)
    return db


@pytest.fixture(params=BACKENDS)
def empty_db(request, tmp_path) -> Iterator[Database]:
    with ExitStack() as stack:
        yield _database(request.param, stack, tmp_path)


def facts(db: Database) -> dict[str, Any]:
    """What the loaded demo holds, by the generator's keys and codes (geometries as shapely)."""
    with db.reader() as s:
        areas = list(s.scalars(select(Area).options(selectinload(Area.parent))))
        grids = list(s.scalars(select(Grid)))
        grid_code = {g.id: g.code for g in grids}
        area_code = {a.id: a.code for a in areas}
        party = {o.id: o.ref for o in s.scalars(select(PartyOrg))}
        workers = list(s.scalars(select(GridWorker).options(selectinload(GridWorker.grids))))
        return {
            "areas": {
                a.ref: (a.code, a.level.value, a.name_zh, a.name_en, a.parent.code if a.parent else None, a.version)
                for a in areas
            },
            "area_geoms": {a.ref: to_shape(a.geom) for a in areas},
            "grids": {
                g.ref: (
                    g.code,
                    g.name_zh,
                    g.name_en,
                    g.layer.value,
                    area_code[g.community_id],
                    party.get(g.party_org_id),
                )
                for g in grids
            },
            "grid_geoms": {g.ref: to_shape(g.geom) for g in grids},
            "buildings": {
                b.ref: (
                    b.number,
                    b.name_zh,
                    b.floors,
                    b.households,
                    b.residents,
                    b.chair_name,
                    b.chair_phone,
                    area_code.get(b.compound_id),
                    grid_code.get(b.grid_id),
                )
                for b in s.scalars(select(Building))
            },
            "entrances": {b.ref: to_shape(b.entrance) for b in s.scalars(select(Building))},
            "stations": {
                st.ref: (
                    st.type.value,
                    st.name_zh,
                    st.opening_hours,
                    st.capacity,
                    st.contact_phone,
                    area_code.get(st.community_id),
                    to_shape(st.geom).coords[0],
                )
                for st in s.scalars(select(Station))
            },
            "volunteers": {
                v.ref: (
                    v.name_zh,
                    v.phone,
                    list(v.skills),
                    v.team_zh,
                    v.team_en,
                    v.on_duty,
                    area_code.get(v.community_id),
                    to_shape(v.position).coords[0] if v.position is not None else None,
                    v.position_at is not None,
                )
                for v in s.scalars(select(Volunteer))
            },
            "workers": {
                w.ref: (w.name_zh, w.phone, w.role.value, w.party_member, party.get(w.party_org_id)) for w in workers
            },
            "assignments": {w.ref: sorted(g.code for g in w.grids) for w in workers},
            "runs": [(r.kind, r.by, r.counts["created"]) for r in s.scalars(select(ImportRun).order_by(ImportRun.id))],
            "grid_versions": s.scalar(select(func.count()).select_from(GridVersion)),
            "circles": s.scalar(select(func.count()).select_from(StationCircle)),
        }


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The demo loaded into a fresh database of the backend, then loaded again with ``replace``."""
    with ExitStack() as stack:
        db = _database(request.param, stack, tmp_path_factory.mktemp(f"demo-{request.param}"))
        settings = Settings()  # the demo's grid code layout, password and folder
        with db.transaction() as session:
            counts = load_demo(session, settings=settings)
        first = facts(db)
        with db.transaction() as session:
            again = load_demo(session, settings=settings, replace=True)
        yield {"counts": counts, "again": again, "first": first, "second": facts(db)}


def test_every_imported_layer_goes_through_the_import_path(loaded):
    runs = loaded["first"]["runs"]
    assert [kind for kind, _, _ in runs] == IMPORTED_KINDS
    assert all(by == DEMO_BY for _, by, _ in runs)
    assert dict((k, n) for k, _, n in runs) == {
        "areas": 90,
        "grids": 25,
        "grid-workers": 75,
        "buildings": 345,
        "stations": 28,
        "volunteers": 120,
    }
    counts = loaded["counts"]
    assert {k: counts[k] for k in ("areas", "grids", "grid_workers", "buildings", "stations", "volunteers")} == {
        "areas": 90,
        "grids": 25,
        "grid_workers": 75,
        "buildings": 345,
        "stations": 28,
        "volunteers": 120,
    }


def test_areas_are_the_generators_with_their_parents_and_exact_geometries(loaded):
    got = loaded["first"]
    expected = {
        key: (
            p["code"],
            p["level"],
            p["name_zh"],
            p.get("name_en"),
            CODE[p["parent_key"]] if p.get("parent_key") else None,
            1,
        )
        for key, f in AREAS.items()
        for p in [f["properties"]]
    }
    assert got["areas"] == expected
    for key, f in AREAS.items():  # not clipped or moved by the import's hierarchy checks
        assert got["area_geoms"][key].equals_exact(shape(f["geometry"]), 1e-9), key


def test_grids_are_the_generators_in_their_communities_with_their_party_orgs(loaded):
    got = loaded["first"]
    expected = {
        key: (
            p["code"],
            p["name_zh"],
            p.get("name_en"),
            "one_network",
            CODE[p["community_key"]],
            p.get("party_org_key"),
        )
        for key, f in GRIDS.items()
        for p in [f["properties"]]
    }
    assert got["grids"] == expected
    for key, f in GRIDS.items():
        assert got["grid_geoms"][key].equals_exact(shape(f["geometry"]), 1e-9), key
    assert got["grid_versions"] == 25  # one 'create' version each, as a grid edit would keep


def test_every_building_is_in_the_grid_and_compound_the_generator_put_it_in(loaded):
    got = loaded["first"]["buildings"]
    expected = {
        p["key"]: (
            p.get("number"),
            p.get("name_zh"),
            p.get("floors"),
            p["households"],
            p["residents"],
            p.get("chair_name_zh"),
            p.get("chair_phone"),
            CODE[p["compound_key"]],
            CODE[p["grid_key"]],
        )
        for f in generated("buildings.geojson")
        for p in [f["properties"]]
    }
    assert got == expected
    entrances = loaded["first"]["entrances"]
    for f in generated("buildings.geojson"):
        p = f["properties"]
        assert list(entrances[p["key"]].coords[0]) == pytest.approx(p["entrance"], abs=1e-9)


def test_stations_keep_their_places_and_communities_and_get_their_circles(loaded):
    expected = {
        p["key"]: (
            p["type"],
            p["name_zh"],
            p.get("opening_hours"),
            p.get("capacity"),
            p.get("contact_phone"),
            CODE[p["community_key"]] if p.get("community_key") else None,
            tuple(f["geometry"]["coordinates"]),
        )
        for f in generated("stations.geojson")
        for p in [f["properties"]]
    }
    assert loaded["first"]["stations"] == expected
    assert loaded["first"]["circles"] == 3 * 28  # 5, 10 and 15 minutes each


def test_volunteers_keep_their_skills_teams_communities_and_positions(loaded):
    expected = {
        p["key"]: (
            p["name_zh"],
            p.get("phone"),
            list(p.get("skills", [])),
            p.get("team_zh"),
            p.get("team_en"),
            bool(p.get("on_duty")),
            CODE[p["community_key"]] if p.get("community_key") else None,
            tuple(f["geometry"]["coordinates"]) if f.get("geometry") else None,
            bool(p.get("position_at")),
        )
        for f in generated("volunteers.geojson")
        for p in [f["properties"]]
    }
    assert loaded["first"]["volunteers"] == expected


def test_grid_workers_keep_their_roles_party_orgs_and_grids(loaded):
    rows = ORG["grid_workers"]
    assert loaded["first"]["workers"] == {
        r["key"]: (
            r["name_zh"],
            r.get("phone"),
            r.get("role", "member"),
            r.get("party_member", True),
            r.get("party_org_key"),
        )
        for r in rows
    }
    assert loaded["first"]["assignments"] == {r["key"]: sorted(CODE[k] for k in r["grid_keys"]) for r in rows}


def test_replace_loads_the_same_demo_again_with_only_its_own_import_runs(loaded):
    first, second = loaded["first"], loaded["second"]
    assert loaded["again"] == loaded["counts"]
    for name in ("areas", "grids", "buildings", "stations", "volunteers", "workers", "assignments", "runs"):
        assert second[name] == first[name], name


def test_the_import_files_are_what_import_files_py_makes_of_the_generated_layers():
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_import_files", DEMO / "import_files.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.import_files(DEMO)
    for name, text in made.items():
        assert (DEMO / "import" / name).read_text(encoding="utf-8") == text, name


def test_a_grid_code_outside_the_configured_layout_loads_nothing(empty_db):
    settings = Settings().model_copy(update={"grid_code_pattern": r"^\d{20}$"})
    with pytest.raises(ImportRefused, match="does not match") as refused, empty_db.transaction() as session:
        load_demo(session, settings=settings)
    report = refused.value.extra["report"]
    assert report["kind"] == "grids" and len(report["problems"]) == 25  # every grid named, not the first
    with empty_db.reader() as session:
        assert is_empty(session)
        assert session.scalar(select(func.count()).select_from(Area)) == 0
        assert session.scalar(select(func.count()).select_from(ImportRun)) == 0
