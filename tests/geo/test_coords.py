"""WGS84 <-> GCJ-02 <-> BD-09: the iterative inverse is accurate to about a centimetre."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geo.coords import (
    CoordType,
    bd09_to_wgs84,
    check_lonlat,
    from_wgs84,
    gcj02_to_wgs84,
    in_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import GeoInputError

ZHANGZHOU = (117.755, 24.622)


def metres_between(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Equirectangular distance, exact enough for centimetre-scale differences."""
    lat = np.radians((np.asarray(lat1) + np.asarray(lat2)) / 2)
    dx = np.radians(np.asarray(lon2) - np.asarray(lon1)) * np.cos(lat) * 6371008.8
    dy = np.radians(np.asarray(lat2) - np.asarray(lat1)) * 6371008.8
    return np.hypot(dx, dy)


def random_china_points(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(98, 134, n), rng.uniform(18, 53, n)


def test_gcj02_offset_in_zhangzhou_matches_the_known_shift():
    lon, lat = wgs84_to_gcj02(*ZHANGZHOU)
    # About +0.0048° lon and -0.0030° lat here, roughly 590 m (domain notes).
    assert lon - ZHANGZHOU[0] == pytest.approx(0.0048, abs=0.0004)
    assert lat - ZHANGZHOU[1] == pytest.approx(-0.0030, abs=0.0004)
    assert 500 < metres_between(*ZHANGZHOU, lon, lat) < 700


def test_gcj02_round_trip_is_within_a_centimetre():
    lons, lats = random_china_points(20_000)
    glon, glat = wgs84_to_gcj02(lons, lats)
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    assert metres_between(lons, lats, back_lon, back_lat).max() < 0.01


def test_bd09_round_trip_is_within_a_centimetre():
    lons, lats = random_china_points(20_000, seed=11)
    blon, blat = wgs84_to_bd09(lons, lats)
    back_lon, back_lat = bd09_to_wgs84(blon, blat)
    assert metres_between(lons, lats, back_lon, back_lat).max() < 0.01


def test_inverse_then_forward_lands_on_the_input():
    """Whatever GCJ-02 point a phone sends, converting back and forth gives it again."""
    lons, lats = random_china_points(5_000, seed=3)
    wlon, wlat = gcj02_to_wgs84(lons, lats)
    flon, flat = wgs84_to_gcj02(wlon, wlat)
    assert metres_between(lons, lats, flon, flat).max() < 0.01


def test_iterative_inverse_beats_the_one_step_inverse():
    glon, glat = wgs84_to_gcj02(*ZHANGZHOU)
    dlon, dlat = glon - ZHANGZHOU[0], glat - ZHANGZHOU[1]
    # The common one-step inverse subtracts the offset measured at the GCJ-02 point itself.
    f_lon, f_lat = wgs84_to_gcj02(glon, glat)
    one_step = (glon - (f_lon - glon), glat - (f_lat - glat))
    assert dlon and dlat
    one_step_error = metres_between(*ZHANGZHOU, *one_step)
    iterative_error = metres_between(*ZHANGZHOU, *gcj02_to_wgs84(glon, glat))
    assert one_step_error > 0.1
    assert iterative_error < 0.001


def test_outside_china_gcj02_is_the_identity():
    helsinki = (24.94, 60.17)
    assert not in_china(*helsinki)
    assert wgs84_to_gcj02(*helsinki) == pytest.approx(helsinki)
    assert gcj02_to_wgs84(*helsinki) == pytest.approx(helsinki)


def test_to_and_from_wgs84_dispatch_on_coord_type():
    for kind in CoordType:
        lon, lat = from_wgs84(*ZHANGZHOU, kind)
        back = to_wgs84(lon, lat, kind)
        assert metres_between(*ZHANGZHOU, *back) < 0.01
    assert to_wgs84(*ZHANGZHOU, "wgs84") == ZHANGZHOU
    with pytest.raises(ValueError):
        to_wgs84(*ZHANGZHOU, "utm")


def test_scalars_in_scalars_out():
    lon, lat = wgs84_to_gcj02(*ZHANGZHOU)
    assert isinstance(lon, float) and isinstance(lat, float)


@pytest.mark.parametrize(
    ("lon", "lat", "field"),
    [(181, 0, "lon"), (-180.5, 0, "lon"), (0, 90.1, "lat"), (math.nan, 0, "lon"), (0, math.inf, "lat")],
)
def test_check_lonlat_names_the_field(lon, lat, field):
    with pytest.raises(GeoInputError) as err:
        check_lonlat(lon, lat)
    assert err.value.field == field
