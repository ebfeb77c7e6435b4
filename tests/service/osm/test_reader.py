"""Reading .osm.pbf extracts into plain data, checked against the independent GeoPackage; bad files."""

from __future__ import annotations

import json
import random
import warnings
from collections import Counter
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from service.osm.reader import OsmImportError, read_osm
from service.stations.models import StationType as T
from tests.service.osm.reference import HELSINKI, KOTKA, edge_lengths, largest_component, layer, reference_edges
from tests.service.osm.test_mapping import CASES


@pytest.fixture(scope="module")
def helsinki():
    return read_osm(HELSINKI)


# --------------------------------------------------------------------------- the real extract


def test_the_walking_network_is_the_one_in_the_reference(helsinki):
    nodes, edges = layer("walk_nodes"), layer("walk_edges")
    assert (len(helsinki.nodes), len(helsinki.edges)) == (len(nodes), len(edges)) == (5559, 6363)
    assert {n.osm_id for n in helsinki.nodes} == set(nodes.osm_id)
    ours = edge_lengths((e.way_id, e.u, e.v, e.length_m) for e in helsinki.edges)
    theirs = reference_edges()
    assert ours.keys() == theirs.keys()
    for key, lengths in ours.items():  # the reference rounds to centimetres
        assert lengths == pytest.approx(theirs[key], abs=0.0051), key
    assert sum(e.length_m for e in helsinki.edges) == pytest.approx(edges.length_m.sum(), abs=1.0)
    assert helsinki.self_loops_dropped == 0
    assert len({e.ref for e in helsinki.edges}) == len(helsinki.edges)


def test_edges_run_from_u_to_v_between_their_nodes(helsinki):
    where = {n.osm_id: (n.lon, n.lat) for n in helsinki.nodes}
    for e in helsinki.edges[::50]:
        assert e.geometry.coords[0] == pytest.approx(where[e.u])
        assert e.geometry.coords[-1] == pytest.approx(where[e.v])


def test_the_largest_component_is_the_bulk_of_the_network(helsinki):
    ours = largest_component([(e.u, e.v) for e in helsinki.edges])
    e = layer("walk_edges")
    assert ours == largest_component(list(zip(e.u, e.v, strict=True)))
    assert ours[0] > 0.9 * len(helsinki.nodes)


def test_buildings_are_the_reference_footprints_less_the_zero_area_slivers(helsinki):
    ref = layer("buildings")
    slivers = set(ref.osm_id[shapely.area(ref.geometry.values) == 0])
    assert len(ref) == 486 and len(slivers) == 3
    assert {b.osm_id for b in helsinki.buildings} == set(ref.osm_id) - slivers
    assert helsinki.buildings_dropped == len(slivers)
    assert all(b.geometry.is_valid and b.geometry.geom_type == "MultiPolygon" for b in helsinki.buildings)
    named = {b.name_zh for b in helsinki.buildings}
    assert {"Ateneum", "Kiasma", "Lasipalatsi"} <= named
    assert any(b.levels for b in helsinki.buildings)


def test_reference_amenities_of_mapped_kinds_become_stations_of_the_right_type(helsinki):
    amenities = layer("amenities")
    expected = {"community_centre": T.PARTY_MASS_CENTRE, "post_office": T.PARCEL_PICKUP, "kindergarten": T.CHILDCARE}
    stations = {(s.osm_type, s.osm_id): s.station_type for s in helsinki.stations}
    wanted = amenities[amenities.amenity.isin(list(expected))]
    assert len(wanted) == 5
    for osm_type, osm_id, amenity in zip(wanted.osm_type, wanted.osm_id, wanted.amenity, strict=True):
        assert stations[osm_type, osm_id] is expected[amenity]
    assert Counter(s.station_type for s in helsinki.stations) == {
        T.CONVENIENCE_STATION: 9,
        T.PARCEL_PICKUP: 3,  # two post offices and a parcel machine
        T.PARTY_MASS_CENTRE: 3,
        T.CHILDCARE: 1,  # a children's day care tagged as a social facility
    }
    assert all(s.name_zh for s in helsinki.stations)


def test_the_second_extract_reads_too():
    kotka = read_osm(KOTKA)
    assert (len(kotka.nodes), len(kotka.edges)) == (977, 1025)
    assert len(kotka.buildings) + kotka.buildings_dropped == 2208
    assert Counter(s.station_type for s in kotka.stations) == {T.CHILDCARE: 2, T.CONVENIENCE_STATION: 1}
    way_station = next(s for s in kotka.stations if s.osm_type == "way")
    assert way_station.point.geom_type == "Point"


# --------------------------------------------------------------------------- synthetic extracts


def write_extract(tmp_path, rows: list[tuple[str, dict[str, str], BaseGeometry]], name="synthetic.osm.pbf") -> Path:
    """A real PBF holding only ``rows`` (osm_type, tags, geometry), written by pyrosm as new elements."""
    from pyrosm import OSM

    frame = gpd.GeoDataFrame(
        [
            {"osm_type": kind, "id": -(i + 1), "tags": json.dumps(tags), "geometry": geom}
            for i, (kind, tags, geom) in enumerate(rows)
        ],
        crs=4326,
    )
    path = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        OSM(str(KOTKA)).write_pbf(frame, str(path), subset_only=True)
    return path


def test_every_mapping_row_survives_a_real_pbf_round_trip(tmp_path):
    """Tags reach the mapping whether pyrosm makes them columns or leaves them in its JSON."""
    cases = [(tags, expected) for tags, expected in CASES if tags and all(tags.values())]
    rows = [("node", tags | {"name": f"case {i}"}, Point(26.94 + i * 1e-4, 60.53)) for i, (tags, _) in enumerate(cases)]
    stations = {s.name_zh: s.station_type for s in read_osm(write_extract(tmp_path, rows)).stations}
    for i, (tags, expected) in enumerate(cases):
        assert stations.get(f"case {i}") == expected, tags


def test_station_fields_names_and_points(tmp_path):
    square = Polygon([(26.951, 60.531), (26.952, 60.531), (26.952, 60.532), (26.951, 60.532)])
    rows = [
        (
            "node",
            {
                "amenity": "social_facility",
                "social_facility": "nursing_home",
                "name": "Koti",
                "name:zh": "养老院",
                "name:en": "Care home",
                "contact:phone": "+358 1; +358 2",
                "capacity": "40",
                "opening_hours": "24/7",
                "addr:street": "Katu",
                "addr:housenumber": "3",
                "addr:city": "Kotka",
            },
            Point(26.95, 60.53),
        ),
        ("way", {"amenity": "kindergarten", "name": "Päiväkoti"}, square),
        ("node", {"amenity": "parcel_locker"}, Point(26.96, 60.53)),
    ]
    data = read_osm(write_extract(tmp_path, rows))
    by_type = {s.station_type: s for s in data.stations}
    home = by_type[T.ELDERLY_CARE_CENTRE]
    assert (home.name_zh, home.name_en) == ("养老院", "Care home")  # name:zh first
    assert (home.phone, home.capacity, home.opening_hours) == ("+358 1", 40, "24/7")
    assert home.address == "Katu 3, Kotka"
    assert home.ref.startswith("osm:node/")
    kindergarten = by_type[T.CHILDCARE]
    assert kindergarten.ref.startswith("osm:way/") and kindergarten.name_zh == "Päiväkoti"
    assert square.contains(kindergarten.point)  # a representative point inside, not the centroid of a ring
    assert by_type[T.PARCEL_PICKUP].name_zh is None  # the importer falls back to the type label
    assert data.nodes == [] and data.edges == []


TRIANGLE = Polygon([(26.953, 60.531), (26.954, 60.531), (26.954, 60.532)])


def test_self_loops_are_dropped_and_levels_parsed(tmp_path):
    rows = [
        ("way", {"highway": "footway"}, LineString([(26.95, 60.53), (26.951, 60.531), (26.951, 60.531)])),
        ("way", {"building": "yes", "building:levels": "2.5"}, TRIANGLE),
    ]
    data = read_osm(write_extract(tmp_path, rows))
    assert data.self_loops_dropped == 1  # the repeated vertex
    assert [(e.ref, e.u != e.v) for e in data.edges] == [("osm:way/-1/0", True)]
    assert len(data.nodes) == 2  # the nodes the remaining edge uses
    assert [b.levels for b in data.buildings] == [2]


# --------------------------------------------------------------------------- bad files


def test_a_missing_file(tmp_path):
    with pytest.raises(OsmImportError, match="no such file"):
        read_osm(tmp_path / "nothing.osm.pbf")


def test_a_directory(tmp_path):
    (tmp_path / "dir.osm.pbf").mkdir()
    with pytest.raises(OsmImportError, match="is a directory"):
        read_osm(tmp_path / "dir.osm.pbf")


def test_an_empty_file(tmp_path):
    (tmp_path / "empty.osm.pbf").write_bytes(b"")
    with pytest.raises(OsmImportError, match=r"empty \(0 bytes\)"):
        read_osm(tmp_path / "empty.osm.pbf")


def test_osm_xml_is_refused_with_a_hint(tmp_path):
    (tmp_path / "map.osm").write_text('<?xml version="1.0"?><osm version="0.6"></osm>')
    with pytest.raises(OsmImportError, match="osmium cat"):
        read_osm(tmp_path / "map.osm")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (bytes(random.Random(4).getrandbits(8) for _ in range(100_000)), "BlobHeader size"),
        (b'<?xml version="1.0"?><osm version="0.6"></osm>', "BlobHeader size"),  # XML named .pbf
        (HELSINKI.read_bytes()[:20], "truncated"),
        (HELSINKI.read_bytes()[:300_000], "corrupt"),  # cut in the middle of a block
    ],
    ids=["random-bytes", "xml", "cut-in-header", "cut-in-data"],
)
def test_corrupt_files_give_one_clear_error(tmp_path, content, reason):
    path = tmp_path / "bad.osm.pbf"
    path.write_bytes(content)
    with pytest.raises(OsmImportError) as caught:
        read_osm(path)
    message = str(caught.value)
    assert str(path) in message and "corrupt, truncated or not a PBF" in message
    assert reason in message
    assert "Traceback" not in message and len(message) < 400


def test_a_valid_extract_with_nothing_to_import(tmp_path):
    path = write_extract(tmp_path, [("node", {"amenity": "bench"}, Point(26.95, 60.53))])
    with pytest.raises(OsmImportError, match="no walking network, buildings or amenities"):
        read_osm(path)
