"""The coordinate system of an imported file: what a planner may declare, which one wins when the
file states its own, and conversion to WGS84 within a centimetre."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import shapely

from geo.coords import wgs84_to_bd09, wgs84_to_gcj02
from geo.errors import GeoInputError
from geo.sourcecrs import (
    SourceCRS,
    bad_rows,
    parse_coord_type,
    point_to_wgs84,
    resolve_crs,
    to_wgs84,
)
from tests.geo.test_coords import metres_between

# Points in and around Zhangzhou (芗城区, 龙文区, 龙海区), WGS84.
LON = np.array([117.6472, 117.6610, 117.7100, 117.8170, 117.5500, 117.7550])
LAT = np.array([24.5135, 24.5153, 24.5300, 24.4450, 24.6000, 24.6220])
CRS_4547 = pyproj.CRS.from_epsg(4547)


def _points(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return np.array([shapely.Point(x, y) for x, y in zip(lon, lat, strict=True)], dtype=object)


def _xy(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xy = shapely.get_coordinates(geoms)
    return xy[:, 0], xy[:, 1]


# -- declaring coord_type ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "label"),
    [
        ("wgs84", "wgs84", "wgs84"),
        ("GCJ02", "gcj02", "gcj02"),
        (" bd09 ", "bd09", "bd09"),
        ("cgcs2000", "cgcs2000", "cgcs2000"),
        ("epsg:4490", "cgcs2000", "cgcs2000"),
        ("EPSG:4326", "wgs84", "wgs84"),
        ("epsg:4547", "epsg", "EPSG:4547"),
        ("EPSG:4513", "epsg", "EPSG:4513"),
    ],
)
def test_a_planner_may_declare_the_named_systems_and_any_epsg_code(value, kind, label):
    source = parse_coord_type(value)
    assert (source.kind, source.label) == (kind, label)
    if kind == "epsg":
        assert source.crs is not None and source.epsg == int(label.split(":")[1])


@pytest.mark.parametrize("value", ["", "wgs-84", "gcj", "epsg:", "epsg:99999999", "epsg:999999", "EPSG:4547x", "utm"])
def test_anything_else_is_refused_naming_coord_type(value):
    with pytest.raises(GeoInputError) as err:
        parse_coord_type(value)
    assert err.value.field == "coord_type"


def test_the_label_of_a_projected_crs_carries_its_name_in_messages():
    assert parse_coord_type("epsg:4547").description == "EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E)"
    assert parse_coord_type("gcj02").description == "gcj02"


# -- which CRS wins ------------------------------------------------------------------------------


def test_a_projected_file_crs_is_used_when_nothing_is_declared():
    source = resolve_crs(None, CRS_4547, explicit=True)
    assert (source.kind, source.epsg, source.label) == ("epsg", 4547, "EPSG:4547")


def test_declaring_the_files_own_epsg_code_is_fine():
    assert resolve_crs(parse_coord_type("epsg:4547"), CRS_4547, explicit=True).epsg == 4547


def test_a_declaration_conflicting_with_the_files_projected_crs_names_both():
    with pytest.raises(GeoInputError) as err:
        resolve_crs(parse_coord_type("gcj02"), CRS_4547, explicit=True)
    assert err.value.field == "coord_type"
    assert str(err.value) == (
        "the file says EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E) but coord_type says gcj02"
    )
    with pytest.raises(GeoInputError, match=r"EPSG:4547.*coord_type says EPSG:4548"):
        resolve_crs(parse_coord_type("epsg:4548"), CRS_4547, explicit=True)


@pytest.mark.parametrize("file_crs", [None, pyproj.CRS.from_epsg(4326)])
def test_coord_type_is_required_when_the_file_cannot_say_its_crs(file_crs):
    """A CSV or a sheet (no CRS), or a GeoJSON without a ``crs`` member (GDAL says 4326, not the file)."""
    with pytest.raises(GeoInputError) as err:
        resolve_crs(None, file_crs, explicit=False)
    assert err.value.field == "coord_type"
    assert "send coord_type" in str(err.value)


@pytest.mark.parametrize("code", [4326, 4490])
def test_a_geographic_wgs84_or_cgcs2000_prj_does_not_tell_gcj02_apart(code):
    """GCJ-02 and BD-09 files carry a WGS84 .prj: the file's word is not enough."""
    with pytest.raises(GeoInputError, match="send coord_type") as err:
        resolve_crs(None, pyproj.CRS.from_epsg(code), explicit=True)
    assert err.value.field == "coord_type"
    for declared in ("wgs84", "gcj02", "bd09", "cgcs2000"):
        assert resolve_crs(parse_coord_type(declared), pyproj.CRS.from_epsg(code), explicit=True).kind == declared


def test_a_projected_declaration_on_a_geographic_file_is_a_conflict():
    with pytest.raises(GeoInputError, match=r"the file says EPSG:4326 .* but coord_type says EPSG:4547"):
        resolve_crs(parse_coord_type("epsg:4547"), pyproj.CRS.from_epsg(4326), explicit=True)


def test_any_declaration_is_used_for_a_file_without_a_crs():
    assert resolve_crs(parse_coord_type("bd09"), None, explicit=False).kind == "bd09"
    assert resolve_crs(parse_coord_type("epsg:4547"), pyproj.CRS.from_epsg(4326), explicit=False).epsg == 4547


def test_a_custom_prj_without_an_epsg_code_is_used_under_its_name():
    custom = pyproj.CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=117.5 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m")
    source = resolve_crs(None, custom, explicit=True)
    assert source.kind == "epsg" and source.epsg is None and source.label == custom.name
    x, y = pyproj.Transformer.from_crs(4326, custom, always_xy=True).transform(117.65, 24.51)
    lon, lat = point_to_wgs84(x, y, source)
    assert metres_between(lon, lat, 117.65, 24.51) < 0.01


# -- conversion ----------------------------------------------------------------------------------


def test_a_gcj02_layer_comes_back_to_wgs84_within_a_centimetre():
    glon, glat = wgs84_to_gcj02(LON, LAT)
    assert metres_between(glon, glat, LON, LAT).min() > 400  # the offset a declaration must undo
    back = to_wgs84(_points(glon, glat), parse_coord_type("gcj02"))
    lon, lat = _xy(back)
    assert metres_between(lon, lat, LON, LAT).max() < 0.01


def test_a_bd09_layer_comes_back_to_wgs84_within_a_centimetre():
    blon, blat = wgs84_to_bd09(LON, LAT)
    lon, lat = _xy(to_wgs84(_points(blon, blat), parse_coord_type("bd09")))
    assert metres_between(lon, lat, LON, LAT).max() < 0.01


def test_gauss_kruger_coordinates_of_zhangzhou_match_pyproj_within_a_centimetre():
    source = resolve_crs(None, CRS_4547, explicit=True)
    x, y = pyproj.Transformer.from_crs(4326, 4547, always_xy=True).transform(LON, LAT)
    assert x.min() > 800_000 and y.min() > 2_700_000  # metres, east of the 114E meridian
    ring = shapely.Polygon([(x[0], y[0]), (x[1], y[1]), (x[2], y[2])])
    out = to_wgs84(np.array([*_points(x, y), ring, None], dtype=object), source)
    lon, lat = _xy(out[: len(LON)])
    direct_lon, direct_lat = pyproj.Transformer.from_crs(4547, 4326, always_xy=True).transform(x, y)
    assert metres_between(lon, lat, direct_lon, direct_lat).max() < 0.01
    assert metres_between(lon, lat, LON, LAT).max() < 0.01
    ring_lon, ring_lat = _xy(out[len(LON) : len(LON) + 1])
    assert metres_between(ring_lon[:3], ring_lat[:3], LON[:3], LAT[:3]).max() < 0.01
    assert out[-1] is None
    assert point_to_wgs84(x[0], y[0], source) == pytest.approx((LON[0], LAT[0]), abs=1e-7)


def test_wgs84_and_cgcs2000_pass_through_unchanged_and_flat():
    geoms = np.array([shapely.Point(117.65, 24.51, 12.0), None], dtype=object)
    for declared in ("wgs84", "cgcs2000"):
        out = to_wgs84(geoms, parse_coord_type(declared))
        assert out[0].equals(shapely.Point(117.65, 24.51)) and not out[0].has_z
        assert out[1] is None


def test_a_point_declared_in_gcj02_converts_alone_as_in_bulk():
    glon, glat = wgs84_to_gcj02(LON[0], LAT[0])
    lon, lat = point_to_wgs84(glon, glat, parse_coord_type("gcj02"))
    assert metres_between(lon, lat, LON[0], LAT[0]) < 0.01


def test_coordinates_a_transform_cannot_place_are_found_by_row():
    """Coordinates no transform can place (metres far outside any zone) come back off the globe."""
    source = parse_coord_type("epsg:4547")
    geoms = np.array(
        [shapely.Point(870_000, 2_716_000), None, shapely.Point(1e12, 1e12), shapely.Point(117.6, 24.5)], dtype=object
    )
    out = to_wgs84(geoms, source)
    assert bad_rows(out) == [2]
    assert bad_rows(np.array([shapely.Point(200, 10), shapely.Point(10, float("nan")), None], dtype=object)) == [0, 1]
    assert bad_rows(np.array([], dtype=object)) == []


def test_source_crs_is_a_value():
    assert parse_coord_type("gcj02") == parse_coord_type("GCJ02")
    assert isinstance(parse_coord_type("epsg:4547"), SourceCRS)
    assert "crs=" not in repr(parse_coord_type("epsg:4547"))
