"""Coordinate systems used in China: WGS84, GCJ-02 (Amap, Tencent, WeChat maps) and BD-09 (Baidu).

GCJ-02 is WGS84 plus a deliberate, smooth, non-linear offset (about 590 m in Zhangzhou); BD-09
is a further rotation and shift of GCJ-02. Only the forward formulas are public, so the inverse
here is iterative: it refines a guess until the forward transform of the guess lands on the input,
to about 0.1 mm. The one-step inverse found in many snippets errs by up to ~4 m.

All functions take and return (lon, lat) in degrees and accept scalars or numpy arrays.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TypeVar

import numpy as np

from geo.errors import GeoInputError

ArrayLike = TypeVar("ArrayLike", float, np.ndarray)

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0

#: Tolerance of the iterative inverse, in degrees (1e-9° is about 0.1 mm).
INVERSE_TOLERANCE_DEG = 1e-9
_MAX_ITERATIONS = 30


class CoordType(StrEnum):
    """The coordinate system a client declares for a point."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


def in_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray | bool:
    """True where GCJ-02 applies: the rough mainland bounding box used by every implementation."""
    lon_a, lat_a = np.asarray(lon), np.asarray(lat)
    inside = (lon_a >= 72.004) & (lon_a <= 137.8347) & (lat_a >= 0.8293) & (lat_a <= 55.8271)
    return inside if inside.ndim else bool(inside)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (dlon, dlat) in degrees at a WGS84 point."""
    x, y = lon - 105.0, lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    return np.atleast_1d(lon_a), np.atleast_1d(lat_a), lon_a.ndim == 0


def _out(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    if scalar:
        return float(lon[0]), float(lat[0])
    return lon, lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike):
    """Forward GCJ-02 transform; identity outside China."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    dlon, dlat = _delta(lon_a, lat_a)
    inside = in_china(lon_a, lat_a)
    return _out(np.where(inside, lon_a + dlon, lon_a), np.where(inside, lat_a + dlat, lat_a), scalar)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike):
    """Forward BD-09 transform of a GCJ-02 point."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    z = np.sqrt(lon_a * lon_a + lat_a * lat_a) + 0.00002 * np.sin(lat_a * _X_PI)
    theta = np.arctan2(lat_a, lon_a) + 0.000003 * np.cos(lon_a * _X_PI)
    return _out(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006, scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike):
    """Forward BD-09 transform of a WGS84 point."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward, lon: ArrayLike, lat: ArrayLike):
    """Solve forward(x) = target by fixed-point iteration; the offset is smooth and small."""
    tlon, tlat, scalar = _as_arrays(lon, lat)
    glon, glat = tlon.copy(), tlat.copy()
    for _ in range(_MAX_ITERATIONS):
        flon, flat = forward(glon, glat)
        elon, elat = flon - tlon, flat - tlat
        glon, glat = glon - elon, glat - elat
        if np.all(np.abs(elon) < INVERSE_TOLERANCE_DEG) and np.all(np.abs(elat) < INVERSE_TOLERANCE_DEG):
            break
    return _out(glon, glat, scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike):
    """Inverse GCJ-02 transform, iterative, to about 0.1 mm."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike):
    """Inverse BD-09 transform straight to WGS84, iterative over the composed forward formula."""
    return _invert(wgs84_to_bd09, lon, lat)


def to_wgs84(lon: ArrayLike, lat: ArrayLike, coord_type: CoordType | str = CoordType.WGS84):
    """Convert a point declared in ``coord_type`` to WGS84."""
    kind = CoordType(coord_type)
    if kind is CoordType.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if kind is CoordType.BD09:
        return bd09_to_wgs84(lon, lat)
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(lon_a, lat_a, scalar)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, coord_type: CoordType | str):
    """Convert a WGS84 point to ``coord_type`` (for shifting GCJ-02 basemaps, for example)."""
    kind = CoordType(coord_type)
    if kind is CoordType.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if kind is CoordType.BD09:
        return wgs84_to_bd09(lon, lat)
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(lon_a, lat_a, scalar)


def check_lonlat(lon: float, lat: float, *, lon_field: str = "lon", lat_field: str = "lat") -> None:
    """Raise GeoInputError naming the field unless lon/lat are finite and in range."""
    if not math.isfinite(lon) or not -180.0 <= lon <= 180.0:
        raise GeoInputError(lon_field, f"{lon_field} must be a finite number between -180 and 180, got {lon!r}")
    if not math.isfinite(lat) or not -90.0 <= lat <= 90.0:
        raise GeoInputError(lat_field, f"{lat_field} must be a finite number between -90 and 90, got {lat!r}")


def checked_to_wgs84(lon: float, lat: float, coord_type: CoordType | str = CoordType.WGS84) -> tuple[float, float]:
    """Validate a declared point, convert it to WGS84 and validate the result.

    BD-09 and GCJ-02 shift points; near the poles or the antimeridian the shifted point can leave the
    valid range, which is reported against the input's latitude or longitude.
    """
    check_lonlat(lon, lat)
    wlon, wlat = to_wgs84(lon, lat, coord_type)
    try:
        check_lonlat(float(wlon), float(wlat))
    except GeoInputError as exc:
        raise GeoInputError(
            exc.field, f"{exc.field}: the point does not convert from {coord_type} to a valid WGS84 position"
        ) from None
    return float(wlon), float(wlat)
