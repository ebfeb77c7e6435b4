"""Importing real OSM extracts on both backends: counts against the independent GeoPackage, refs,
upserts on re-import, all-or-nothing on bad files and on failures, --keep-network, the command line.

The Helsinki extract is imported once per backend for the module (``helsinki``); the tests that
import again leave the database in the same state. Circles are built for 5 minutes only here
(``circle_minutes=(5,)``): the circles have their own tests, these check that the import
rebuilds them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from shapely.geometry import LineString, Point
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.bootstrap import prepare_database
from service.buildings.models import Building
from service.common.revisions import get_revision
from service.config import Settings
from service.db import Database
from service.network.graph import NETWORK_REVISION, walk_graph
from service.network.models import StreetEdge, StreetNode
from service.osm import importer
from service.osm.importer import OSM_ATTRIBUTION, import_osm, load_osm
from service.osm.reader import OsmData, OsmImportError, read_osm
from service.stations.models import Station, StationCircle, StationType
from tests.service.osm.reference import HELSINKI, KOTKA, edge_lengths, largest_component, layer, reference_edges
from tests.service.osm.test_reader import TRIANGLE, write_extract
from tests.support.databases import postgis_url, spatialite_url

BACKENDS = ["spatialite", "postgis"]


@contextmanager
def fresh_database(kind: str, tmp_dir: Path) -> Iterator[tuple[Database, Settings]]:
    with ExitStack() as stack:
        url = stack.enter_context(spatialite_url(tmp_dir) if kind == "spatialite" else postgis_url())
        settings = Settings(database_url=url, circle_minutes=(5,))
        db = Database.from_settings(settings)
        stack.callback(db.dispose)
        prepare_database(db)
        yield db, settings


@dataclass
class Imported:
    backend: str
    db: Database
    settings: Settings
    counts: dict[str, int]
    seconds: float


@pytest.fixture(scope="module", params=BACKENDS)
def helsinki(request, tmp_path_factory) -> Iterator[Imported]:
    with fresh_database(request.param, tmp_path_factory.mktemp(f"osm-{request.param}")) as (db, settings):
        start = time.perf_counter()
        with db.transaction() as session:
            counts = import_osm(session, path=HELSINKI, settings=settings)
        seconds = time.perf_counter() - start
        print(f"\nHelsinki import on {request.param}: {seconds:.1f} s")
        yield Imported(request.param, db, settings, counts, seconds)


@cache
def helsinki_data() -> OsmData:
    return read_osm(HELSINKI)


def count(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def snapshot(db: Database) -> dict[str, object]:
    """What an import may change: row counts, ids, the network revision."""
    with db.reader() as s:
        return {
            "street_nodes": count(s, StreetNode),
            "street_edges": count(s, StreetEdge),
            "edge_ids": sum(s.scalars(select(StreetEdge.id))),
            "buildings": count(s, Building),
            "households": s.scalar(select(func.sum(Building.households))),
            "stations": count(s, Station),
            "station_names": sorted(s.scalars(select(Station.name_zh))),
            "circles": count(s, StationCircle),
            "network_revision": get_revision(s, NETWORK_REVISION),
        }


def osm_id(ref: str) -> int:
    return int(ref.split("/")[1])


# --------------------------------------------------------------------------- the Helsinki import


def test_the_street_network_is_the_reference_network(helsinki):
    nodes, edges = layer("walk_nodes"), layer("walk_edges")
    assert helsinki.counts["street_nodes"] == len(nodes) == 5559
    assert helsinki.counts["street_edges"] == len(edges) == 6363
    with helsinki.db.reader() as s:
        node_refs = dict(s.execute(select(StreetNode.id, StreetNode.ref)).all())
        assert {osm_id(r) for r in node_refs.values()} == set(nodes.osm_id)
        assert all(r.startswith("osm:node/") for r in node_refs.values())
        rows = s.execute(select(StreetEdge.ref, StreetEdge.u, StreetEdge.v, StreetEdge.length_m)).all()
    assert len({r.ref for r in rows}) == len(rows)
    ours = edge_lengths((osm_id(r.ref), osm_id(node_refs[r.u]), osm_id(node_refs[r.v]), r.length_m) for r in rows)
    theirs = reference_edges()
    assert ours.keys() == theirs.keys()
    assert all(ours[k] == pytest.approx(theirs[k], abs=0.0051) for k in ours)
    assert sum(r.length_m for r in rows) == pytest.approx(edges.length_m.sum(), abs=1.0)  # 82.9 km

    component = largest_component([(r.u, r.v) for r in rows])
    assert component == largest_component(list(zip(edges.u, edges.v, strict=True)))  # (5262, 6119)
    assert component[0] > 0.9 * len(nodes)


def test_the_walking_graph_is_built_from_the_import(helsinki):
    with helsinki.db.reader() as s:
        assert get_revision(s, NETWORK_REVISION) >= 1
        graph = walk_graph(s)
        assert graph is not None and len(graph.node_ids) == 5559


def test_buildings_are_the_reference_footprints_with_unknown_households(helsinki):
    ref = layer("buildings")
    with helsinki.db.reader() as s:
        refs = set(s.scalars(select(Building.ref)))
        assert s.scalar(select(func.sum(Building.households))) == 0
        assert s.scalar(select(Building.name_zh).where(Building.ref == "osm:way/8033120")) == "Ateneum"
    assert len(ref) == 486
    assert helsinki.counts["buildings"] + helsinki.counts["buildings_skipped"] == len(ref)
    assert helsinki.counts["buildings"] == len(refs) == 483  # 3 zero-area slivers at the extract's edge
    assert {osm_id(r) for r in refs} <= set(ref.osm_id)
    assert all(r.startswith(("osm:way/", "osm:relation/")) for r in refs)


def test_every_station_has_a_mapped_type_a_ref_a_name_and_circles(helsinki):
    with helsinki.db.reader() as s:
        stations = s.scalars(select(Station)).all()
        revision = get_revision(s, NETWORK_REVISION)
        circles = s.execute(select(StationCircle.station_id, StationCircle.network_revision)).all()
    assert len(stations) == helsinki.counts["stations"] == 16
    assert all(isinstance(st.type, StationType) for st in stations)
    assert all(st.ref and st.ref.startswith("osm:node/") for st in stations)
    assert all(st.name_zh for st in stations)
    assert {st.type for st in stations} == {
        StationType.CONVENIENCE_STATION,
        StationType.PARCEL_PICKUP,
        StationType.PARTY_MASS_CENTRE,
        StationType.CHILDCARE,
    }
    post = {st.ref: st for st in stations}["osm:node/56431331"]  # Pääposti, the main post office
    assert (post.type, post.name_zh, post.address_zh) == (StationType.PARCEL_PICKUP, "Pääposti", "Elielinaukio 2")
    assert helsinki.counts["service_circles"] == 16
    assert {c.station_id for c in circles} == {st.id for st in stations}
    assert {c.network_revision for c in circles} == {revision}


def test_reimporting_updates_in_place_and_keeps_local_data(helsinki):
    db = helsinki.db
    with db.transaction() as s:
        s.execute(update(Building).where(Building.ref == "osm:way/8033120").values(households=7))
        s.execute(update(Station).where(Station.ref == "osm:node/56431331").values(name_zh="changed"))
        ids_before = dict(s.execute(select(Station.ref, Station.id)).all())
        buildings_before = dict(s.execute(select(Building.ref, Building.id)).all())
    before = snapshot(db)

    with db.transaction() as s:
        counts = import_osm(s, path=HELSINKI, settings=helsinki.settings)

    after = snapshot(db)
    assert counts["stations_updated"] == counts["stations"] == 16
    assert counts["buildings_updated"] == counts["buildings"] == 483
    assert (counts["street_nodes_removed"], counts["street_edges_removed"]) == (5559, 6363)
    with db.transaction() as s:
        assert dict(s.execute(select(Station.ref, Station.id)).all()) == ids_before
        assert dict(s.execute(select(Building.ref, Building.id)).all()) == buildings_before
        assert s.scalar(select(Building.households).where(Building.ref == "osm:way/8033120")) == 7  # ours, kept
        assert "changed" not in after["station_names"]  # OSM's, refreshed
        s.execute(update(Building).values(households=0))
    assert after["network_revision"] == before["network_revision"] + 1
    for key in ("street_nodes", "street_edges", "buildings", "stations", "circles"):
        assert after[key] == before[key], key


@pytest.mark.parametrize("bad", ["empty", "random", "truncated"])
def test_a_bad_file_changes_nothing(helsinki, tmp_path, bad):
    path = tmp_path / f"{bad}.osm.pbf"
    path.write_bytes({"empty": b"", "random": os.urandom(50_000), "truncated": HELSINKI.read_bytes()[:300_000]}[bad])
    before = snapshot(helsinki.db)
    with pytest.raises(OsmImportError, match=r"empty|corrupt"), helsinki.db.transaction() as s:
        import_osm(s, path=path, settings=helsinki.settings)
    assert snapshot(helsinki.db) == before


def test_a_failure_half_way_leaves_nothing_half_imported(helsinki, monkeypatch):
    """The old network is deleted and the new one written before the stations fail: all rolled back."""
    before = snapshot(helsinki.db)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer, "_load_stations", broken)
    with pytest.raises(RuntimeError, match="disk full"), helsinki.db.transaction() as s:
        load_osm(s, helsinki_data(), settings=helsinki.settings)
    assert snapshot(helsinki.db) == before


# --------------------------------------------------------------------------- keep or replace the network


@pytest.fixture(params=BACKENDS)
def empty_db(request, tmp_path) -> Iterator[tuple[Database, Settings]]:
    with fresh_database(request.param, tmp_path) as pair:
        yield pair


def test_keep_network_adds_to_the_current_network_and_replace_removes_it(empty_db, tmp_path):
    db, settings = empty_db
    with db.transaction() as s:  # a hand-drawn street that did not come from OSM
        a = StreetNode(ref="hand:a", geom="SRID=4326;POINT(26.90 60.50)")
        b = StreetNode(ref="hand:b", geom="SRID=4326;POINT(26.901 60.50)")
        s.add_all([a, b])
        s.flush()
        line = LineString([(26.90, 60.50), (26.901, 60.50)])
        s.add(StreetEdge(ref="hand:ab", u=a.id, v=b.id, length_m=55.0, geom=f"SRID=4326;{line.wkt}"))

    for _ in range(2):  # the second time updates: nothing is duplicated
        with db.transaction() as s:
            counts = import_osm(s, path=KOTKA, replace_network=False, settings=settings)
        assert (counts["street_nodes"], counts["street_edges"], counts["stations"]) == (977, 1025, 3)
        after = snapshot(db)
        assert (after["street_nodes"], after["street_edges"]) == (977 + 2, 1025 + 1)
        assert (after["buildings"], after["stations"]) == (2193, 3)

    buildings_only = write_extract(tmp_path, [("way", {"building": "yes"}, TRIANGLE)], "buildings.osm.pbf")
    before = snapshot(db)
    with pytest.raises(OsmImportError, match=r"no walking network.*--keep-network"), db.transaction() as s:
        import_osm(s, path=buildings_only, settings=settings)
    assert snapshot(db) == before
    with db.transaction() as s:
        import_osm(s, path=buildings_only, replace_network=False, settings=settings)
    assert snapshot(db)["street_edges"] == before["street_edges"]
    assert snapshot(db)["buildings"] == before["buildings"] + 1

    with db.transaction() as s:
        counts = import_osm(s, path=KOTKA, settings=settings)
    assert (counts["street_nodes_removed"], counts["street_edges_removed"]) == (979, 1026)
    with db.reader() as s:
        assert (count(s, StreetNode), count(s, StreetEdge)) == (977, 1025)
        assert s.scalar(select(StreetNode.id).where(StreetNode.ref == "hand:a")) is None


def test_a_station_far_from_the_new_network_is_imported_anyway(empty_db):
    """A station left from elsewhere (e.g. the demo in Fujian) must not break an import."""
    db, settings = empty_db
    with db.transaction() as s:
        s.add(Station(type=StationType.CHILDCARE, name_zh="长泰托幼", geom=f"SRID=4326;{Point(117.755, 24.622).wkt}"))
    with db.transaction() as s:
        counts = import_osm(s, path=KOTKA, settings=settings)
    assert counts["stations"] == 3


# --------------------------------------------------------------------------- the command


def run_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"NEIGHBORGRID_DATABASE_URL": url, "NEIGHBORGRID_CIRCLE_MINUTES": "[5]"}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_the_command_imports_and_reports_errors_without_a_traceback(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = run_cli(url, "import-osm", str(KOTKA))
    assert done.returncode == 0, done.stderr
    assert OSM_ATTRIBUTION in done.stderr
    assert "street_nodes 977" in done.stderr and "stations 3" in done.stderr
    db = Database.from_settings(Settings(database_url=url))
    try:
        before = snapshot(db)
        assert (before["street_nodes"], before["buildings"], before["stations"]) == (977, 2193, 3)
        empty, corrupt = tmp_path / "empty.osm.pbf", tmp_path / "corrupt.osm.pbf"
        empty.write_bytes(b"")
        corrupt.write_bytes(os.urandom(10_000))
        for path in (empty, corrupt):
            failed = run_cli(url, "import-osm", str(path))
            assert failed.returncode == 2, failed.stderr
            assert "nothing imported" in failed.stderr and "Traceback" not in failed.stderr
            assert snapshot(db) == before
    finally:
        db.dispose()
