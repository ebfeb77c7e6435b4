"""The spatial checks of an import, on hand-made layers near Zhangzhou (117.6°E 24.5°N).

A "district" of about 12 × 9 km with a ragged outline is cut into 16 "communities" that tile it
exactly; shifted copies of the communities play the files a city sends with a wrong coord_type.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from geo.coords import gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from geo.crs import LocalProjection
from geo.layerchecks import (
    USUAL_AREA_KM2,
    USUAL_GRID_HOUSEHOLDS,
    CodeParents,
    clip_to_parent,
    containment,
    crs_offset,
    level_of_code,
    normalized_code,
    parent_by_code,
    sibling_gaps,
    sibling_overlaps,
    size_outliers,
)

PROJ = LocalProjection.for_lonlat(117.6, 24.5)
X0, Y0 = (float(v) for v in PROJ.forward(117.6, 24.5))


def ll(x: float, y: float) -> tuple[float, float]:
    lon, lat = PROJ.inverse(X0 + x, Y0 + y)
    return float(lon), float(lat)


def square(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return Polygon([ll(x0, y0), ll(x1, y0), ll(x1, y1), ll(x0, y1)])


def metric_area(geom) -> float:
    return PROJ.to_metric(geom).area


def xy_of(point: Point) -> tuple[float, float]:
    x, y = PROJ.forward(point.x, point.y)
    return float(x) - X0, float(y) - Y0


def ragged_outline() -> Polygon:
    """A district outline with a wavy edge every ~100 m, like a real boundary."""
    rng = np.random.default_rng(14)
    pts = []
    for x in np.arange(0, 12_000, 100):
        pts.append((x, -150 * math.sin(x / 900) + rng.uniform(-40, 40)))
    for y in np.arange(0, 9_000, 100):
        pts.append((12_000 + 200 * math.sin(y / 700) + rng.uniform(-40, 40), y))
    for x in np.arange(12_000, 0, -100):
        pts.append((x, 9_000 + 180 * math.cos(x / 800) + rng.uniform(-40, 40)))
    for y in np.arange(9_000, 0, -100):
        pts.append((-150 * math.cos(y / 600) + rng.uniform(-40, 40), y))
    return Polygon([ll(x, y) for x, y in pts])


DISTRICT = ragged_outline()
# 16 cells tiling the district: the outer ones reach past its ragged outline before the cut
COMMUNITIES = []
for i in range(4):
    for j in range(4):
        x0 = -1_000 if i == 0 else i * 3_000
        y0 = -1_000 if j == 0 else j * 2_250
        x1 = 13_000 if i == 3 else (i + 1) * 3_000
        y1 = 10_000 if j == 3 else (j + 1) * 2_250
        COMMUNITIES.append(shapely.intersection(DISTRICT, square(x0, y0, x1, y1)))


def shifted(geoms, fn):
    """The geometries as they read when their coordinates are put through ``fn`` (lon, lat arrays)."""
    return [shapely.transform(g, lambda c: np.column_stack(fn(c[:, 0], c[:, 1]))) for g in geoms]


# -- codes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "norm", "level"),
    [
        ("350625000000", "350625", "district"),
        ("350625100000", "350625100", "township"),
        ("350625100201", "350625100201", "community"),
        ("350600000000", "3506", "city"),
        ("350000000000", "35", "province"),
        ("350600", "3506", "city"),
        ("350625", "350625", "district"),
        ("350625100", "350625100", "township"),
        (" 350625 ", "350625", "district"),
        ("GRID-0012", "GRID-0012", None),
        ("350625100201001", "350625100201001", None),  # a 15-digit grid code is local
        ("A01", "A01", None),
        ("0012", "0012", None),
    ],
)
def test_statistical_codes_lose_their_zero_padding_and_have_a_level(code, norm, level):
    assert normalized_code(code) == norm
    assert level_of_code(code) == level


def test_parent_by_code_is_the_longest_proper_prefix():
    candidates = {"350000000000": "Fujian", "3506": "Zhangzhou", "350625000000": "Changtai", "350625100": "Wu'an"}
    assert parent_by_code("350625100201", candidates) == "Wu'an"
    assert parent_by_code("350625100000", candidates) == "Changtai"
    assert parent_by_code("350625", candidates) == "Zhangzhou"
    assert parent_by_code("350602", candidates) == "Zhangzhou"
    assert parent_by_code("3506", candidates) == "Fujian"
    assert parent_by_code("35", candidates) is None  # nothing above a province
    assert parent_by_code("440300", candidates) is None
    many = CodeParents(candidates)
    assert [many.parent(c) for c in ("350625100201", "350681")] == ["Wu'an", "Zhangzhou"]


# -- containment ----------------------------------------------------------------------------------


def test_containment_picks_the_parent_holding_most_of_the_area_with_its_share():
    left, right = square(0, 0, 1_000, 1_000), square(1_000, 0, 2_000, 1_000)
    children = [
        square(100, 100, 900, 900),  # all in left
        square(700, 0, 1_700, 1_000),  # 30 % left, 70 % right
        square(5_000, 5_000, 5_100, 5_100),  # in none
        Polygon(),  # empty
    ]
    found = containment(children, [left, right])
    assert found[0] == (0, pytest.approx(1.0))
    assert found[1][0] == 1 and found[1][1] == pytest.approx(0.7, abs=1e-3)
    assert found[2] == (None, 0.0)
    assert found[3] == (None, 0.0)


def test_containment_of_points_and_lines():
    left, right = square(0, 0, 1_000, 1_000), square(1_000, 0, 2_000, 1_000)
    points = [Point(ll(500, 500)), Point(ll(1_500, 500)), Point(ll(3_000, 500))]
    assert containment(points, [left, right]) == [(0, 1.0), (1, 1.0), (None, 0.0)]
    line = LineString([ll(800, 500), ll(1_800, 500)])
    (found,) = containment([line], [left, right])
    assert found[0] == 1 and found[1] == pytest.approx(0.8, abs=1e-3)


def test_communities_find_their_district_by_containment():
    other = square(20_000, 0, 30_000, 9_000)
    assert [p for p, _ in containment(COMMUNITIES, [other, DISTRICT])] == [1] * 16
    assert all(share == pytest.approx(1.0) for _, share in containment(COMMUNITIES, [other, DISTRICT]))


# -- clipping -------------------------------------------------------------------------------------

PARENT = square(0, 0, 1_000, 1_000)


def test_a_child_overhanging_within_the_tolerance_band_is_clipped_to_its_parent():
    child = square(500, 200, 1_004, 800)  # a 4 m overhang along 600 m of the parent's east edge
    clip = clip_to_parent(child, PARENT, tolerance_m=5)
    assert clip.clipped
    assert isinstance(clip.geom, MultiPolygon) and clip.geom.is_valid
    assert PARENT.buffer(1e-9).covers(clip.geom)
    assert metric_area(clip.geom) == pytest.approx(500 * 600, rel=1e-4)
    assert clip.outside_m2 == pytest.approx(4 * 600, rel=1e-3)
    assert clip.outside_share == pytest.approx(2_400 / (504 * 600), rel=1e-3)
    x, y = xy_of(clip.where)
    assert 1_000 < x < 1_004 and 200 < y < 800


def test_a_thin_sliver_vanishing_under_the_negative_buffer_is_clipped_too():
    # 1.5 m all round: 1.5 m × the perimeter is more than 1 m × the perimeter, but the ring is thin
    child = square(-1.5, -1.5, 1_001.5, 1_001.5)
    clip = clip_to_parent(child, PARENT, tolerance_m=1)
    assert clip.outside_m2 > 1 * PROJ.to_metric(child).length
    assert clip.clipped
    assert metric_area(clip.geom) == pytest.approx(1_000_000, rel=1e-6)
    assert not clip_to_parent(child, PARENT, tolerance_m=0.5).clipped


def test_a_child_reaching_beyond_the_tolerance_is_flagged_not_clipped():
    child = square(800, 400, 1_200, 600)  # half of it 200 m outside
    clip = clip_to_parent(child, PARENT, tolerance_m=5)
    assert not clip.clipped
    assert clip.geom.equals(child)
    assert clip.outside_m2 == pytest.approx(200 * 200, rel=1e-3)
    assert clip.outside_share == pytest.approx(0.5, rel=1e-3)
    x, y = xy_of(clip.where)
    assert 1_000 < x < 1_200 and 400 < y < 600


def test_a_child_inside_its_parent_is_left_alone():
    child = square(100, 100, 200, 200)
    clip = clip_to_parent(child, PARENT, tolerance_m=5)
    assert (clip.clipped, clip.outside_m2, clip.where) == (False, 0.0, None)
    assert clip.geom.equals(child)


# -- siblings -------------------------------------------------------------------------------------


def test_overlapping_siblings_are_found_with_their_area_and_place():
    grids = [
        square(0, 0, 500, 1_000),
        square(480, 0, 1_000, 1_000),  # 20 m × 1000 m over grid 0
        square(0, 1_000, 1_000, 1_500),  # touches both along y=1000: no overlap
        square(990, 1_400, 1_200, 1_600),  # 10 × 100 m over grid 2: under the tolerance below
        None,
    ]
    found = sibling_overlaps(grids, min_m2=1_500)
    assert [(o.i, o.j) for o in found] == [(0, 1)]
    assert found[0].area_m2 == pytest.approx(20_000, rel=1e-3)
    x, y = xy_of(found[0].where)
    assert 480 <= x <= 500 and 0 <= y <= 1_000
    assert [(o.i, o.j) for o in sibling_overlaps(grids, min_m2=100)] == [(0, 1), (2, 3)]


def test_the_sixteen_communities_tile_their_district():
    assert sibling_overlaps(COMMUNITIES, min_m2=1) == []
    assert sibling_gaps(DISTRICT, COMMUNITIES, min_m2=1) == []


def test_gaps_are_the_parts_of_the_parent_no_child_covers():
    children = [square(0, 0, 1_000, 600), square(0, 600, 700, 1_000), square(710, 600, 1_000, 1_000)]
    gaps = sibling_gaps(PARENT, children, min_m2=100)
    assert len(gaps) == 1
    assert gaps[0].area_m2 == pytest.approx(10 * 400, rel=1e-3)
    x, y = xy_of(gaps[0].where)
    assert 700 < x < 710 and 600 < y < 1_000
    assert metric_area(gaps[0].geom) == pytest.approx(gaps[0].area_m2, abs=0.01)
    assert sibling_gaps(PARENT, children, min_m2=5_000) == []
    missing = sibling_gaps(DISTRICT, COMMUNITIES[1:], min_m2=1)
    assert [g.area_m2 for g in missing] == [pytest.approx(metric_area(COMMUNITIES[0]), rel=1e-6)]


def test_overlaps_and_gaps_scale_to_thousands_of_siblings():
    cells = [square(x * 50, y * 50, x * 50 + 50, y * 50 + 50) for x in range(60) for y in range(60)]
    cells[1_234] = None  # a hole in the layer
    overlaps = sibling_overlaps([*cells, square(100, 100, 130, 130)], min_m2=1)
    assert len(overlaps) == 1 and overlaps[0].area_m2 == pytest.approx(900, rel=1e-3)
    gaps = sibling_gaps(square(0, 0, 3_000, 3_000), cells, min_m2=1)
    assert len(gaps) == 1 and gaps[0].area_m2 == pytest.approx(2_500, rel=1e-3)


# -- size outliers --------------------------------------------------------------------------------


def test_a_district_imported_as_a_grid_is_oversized():
    # the demo-like case: 904 km² among 0.05 km² grids of a 0.5 km² community
    areas = [0.05, 0.048, 0.052, 0.05, 0.049, 0.051, 0.05, 0.05, 0.05, 0.05, 904.0]
    found = size_outliers(areas, usual=USUAL_AREA_KM2["grid"])
    assert [(o.i, o.kind, o.basis) for o in found] == [(10, "oversized", "usual")]
    assert found[0].reference == USUAL_AREA_KM2["grid"][1]
    # even with no usual range, the siblings give it away
    found = size_outliers(areas, usual=None)
    assert [(o.i, o.kind, o.basis) for o in found] == [(10, "oversized", "siblings")]
    assert found[0].reference == pytest.approx(0.05)


def test_size_outliers_against_siblings_and_usual_range():
    found = size_outliers([2.0, 2.5, 1.8, 0.1, 40.0], usual=USUAL_AREA_KM2["community"])
    assert [(o.i, o.kind, o.basis) for o in found] == [(3, "undersized", "siblings"), (4, "oversized", "siblings")]
    assert size_outliers([0.001, 0.05], usual=USUAL_AREA_KM2["grid"])[0].kind == "undersized"
    assert size_outliers([1.0, 30.0], usual=None) == []  # two values are no siblings' median
    assert [o.i for o in size_outliers([1.0, 1.0, None, float("nan"), 30.0], usual=None)] == [4]


def test_size_outliers_work_on_household_counts():
    households = [420, 380, 510, 12, 4_000]
    found = size_outliers(households, usual=USUAL_GRID_HOUSEHOLDS)
    assert [(o.i, o.kind, o.basis) for o in found] == [(3, "undersized", "usual"), (4, "oversized", "usual")]


def test_usual_ranges_cover_every_level_and_nest():
    levels = ["city", "district", "township", "community", "compound", "grid"]
    assert set(USUAL_AREA_KM2) == set(levels)
    for low, high in USUAL_AREA_KM2.values():
        assert 0 < low < high
    assert USUAL_AREA_KM2["city"][0] > USUAL_AREA_KM2["community"][0] > USUAL_AREA_KM2["compound"][0]


# -- crs_offset -----------------------------------------------------------------------------------


def test_communities_in_gcj02_read_as_wgs84_are_found_off_their_district():
    layer = shifted(COMMUNITIES, wgs84_to_gcj02)
    offset = crs_offset(layer, [DISTRICT])
    assert offset is not None
    assert offset.coord_type == "gcj02" and offset.declared == "wgs84"
    assert 100 <= offset.distance_m <= 800
    assert offset.distance_m == pytest.approx(585, abs=15)
    assert offset.fit_fixed[0] > offset.fit_given[0] and offset.fit_fixed[1] > offset.fit_given[1]
    assert offset.message.startswith("the layer sits about 587 m south-east of the existing layer")
    assert offset.message.endswith("as GCJ-02 coordinates read as WGS84 would: declare coord_type=gcj02")
    assert DISTRICT.buffer(0.01).contains(offset.where)
    # the direction is the GCJ-02 offset's: from the true position to the shifted one
    lon, lat = wgs84_to_gcj02(117.65, 24.54)
    x0, y0 = PROJ.forward(117.65, 24.54)
    x1, y1 = PROJ.forward(lon, lat)
    expected = math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360
    assert offset.bearing_deg == pytest.approx(expected, abs=3)


def test_a_district_in_gcj02_against_its_communities_is_found_too():
    (district,) = shifted([DISTRICT], wgs84_to_gcj02)
    offset = crs_offset([district], COMMUNITIES)
    assert offset is not None and offset.coord_type == "gcj02"


def test_communities_in_bd09_read_as_wgs84_are_found():
    offset = crs_offset(shifted(COMMUNITIES, wgs84_to_bd09), [DISTRICT])
    assert offset is not None and offset.coord_type == "bd09"
    assert 100 <= offset.distance_m <= 1_500


def test_wgs84_data_declared_gcj02_shows_the_reverse_shift():
    layer = shifted(COMMUNITIES, gcj02_to_wgs84)  # converted as if GCJ-02, though it was WGS84
    offset = crs_offset(layer, [DISTRICT])
    assert offset is not None and offset.coord_type == "wgs84" and offset.declared == "gcj02"
    assert crs_offset(layer, [DISTRICT], declared="gcj02").coord_type == "wgs84"


def test_a_declared_reading_limits_the_alternatives():
    layer = shifted(COMMUNITIES, wgs84_to_gcj02)
    assert crs_offset(layer, [DISTRICT], declared="wgs84").coord_type == "gcj02"
    assert crs_offset(layer, [DISTRICT], declared="cgcs2000").coord_type == "gcj02"


def test_half_the_communities_against_the_district_and_the_district_against_half_of_them():
    offset = crs_offset(shifted(COMMUNITIES[:8], wgs84_to_gcj02), [DISTRICT])
    assert offset is not None and offset.coord_type == "gcj02"
    offset = crs_offset(shifted([DISTRICT], wgs84_to_gcj02), COMMUNITIES[:8])
    assert offset is not None and offset.coord_type == "gcj02"
    assert crs_offset([DISTRICT], COMMUNITIES[:8]) is None


def test_a_reference_digitised_differently_still_shows_the_shift():
    rng = np.random.default_rng(1)
    ring = np.asarray(DISTRICT.segmentize(0.0003).exterior.coords)[:-1]
    # every vertex ~40 m off ours, as another bureau's survey might be
    other_source = shapely.make_valid(Polygon(ring + rng.normal(0, 0.0004, size=ring.shape)))
    assert metric_area(other_source) == pytest.approx(metric_area(DISTRICT), rel=0.02)
    offset = crs_offset(shifted(COMMUNITIES, wgs84_to_gcj02), [other_source])
    assert offset is not None and offset.coord_type == "gcj02"
    assert crs_offset(COMMUNITIES, [other_source]) is None


def test_a_point_layer_in_gcj02_is_found_against_the_communities():
    rng = np.random.default_rng(5)
    candidates = [Point(ll(x, y)) for x, y in rng.uniform((-500, -500), (12_500, 9_500), size=(1_500, 2))]
    stations = [p for p in candidates if DISTRICT.contains(p)]
    offset = crs_offset(shifted(stations, wgs84_to_gcj02), COMMUNITIES)
    assert offset is not None and offset.coord_type == "gcj02"
    assert offset.fit_fixed[1] == 1.0 and offset.fit_given[1] < 0.97
    assert crs_offset(stations, COMMUNITIES) is None


def test_a_correctly_declared_layer_does_not_fire():
    assert crs_offset(COMMUNITIES, [DISTRICT]) is None
    assert crs_offset([DISTRICT], COMMUNITIES) is None
    assert crs_offset(COMMUNITIES, COMMUNITIES) is None


def test_an_unrelated_layer_does_not_fire():
    rng = np.random.default_rng(7)
    random_layer = []
    for _ in range(60):
        x, y = rng.uniform(-2_000, 14_000), rng.uniform(-2_000, 11_000)
        w, h = rng.uniform(100, 1_500, size=2)
        random_layer.append(square(x, y, x + w, y + h))
    assert crs_offset(random_layer, [DISTRICT]) is None
    assert crs_offset(random_layer, COMMUNITIES) is None
    elsewhere = [square(200_000 + 1_000 * i, 100_000, 200_900 + 1_000 * i, 100_900) for i in range(10)]
    assert crs_offset(elsewhere, [DISTRICT]) is None
    assert crs_offset(shifted(elsewhere, wgs84_to_gcj02), [DISTRICT]) is None


def test_points_in_place_do_not_fire_and_an_empty_layer_gives_none():
    rng = np.random.default_rng(3)
    points = [Point(ll(x, y)) for x, y in zip(rng.uniform(0, 12_000, 300), rng.uniform(0, 9_000, 300), strict=True)]
    assert crs_offset(points, COMMUNITIES) is None
    assert crs_offset([], COMMUNITIES) is None
    assert crs_offset(COMMUNITIES, []) is None


def test_crs_offset_is_quick_on_thousands_of_features():
    import time

    cells = [square(x * 200, y * 200, x * 200 + 200, y * 200 + 200) for x in range(60) for y in range(45)]
    cells = [shapely.intersection(c, DISTRICT) for c in cells]
    cells = [c for c in cells if not c.is_empty]
    layer = shifted(cells, wgs84_to_gcj02)
    started = time.perf_counter()
    offset = crs_offset(layer, COMMUNITIES)
    elapsed = time.perf_counter() - started
    assert offset is not None and offset.coord_type == "gcj02"
    assert elapsed < 5.0
