"""The coordinate system of an imported file, and its conversion to WGS84.

A city's files come in WGS84, GCJ-02 (Amap, Tencent), BD-09 (Baidu), CGCS2000 (the national datum;
within centimetres of WGS84, so treated as equal) or a projected CRS such as the CGCS2000
Gauss-Krüger zones (EPSG:4513-4554). GCJ-02 and BD-09 files carry a WGS84 ``.prj`` when they carry
one at all, so a geographic WGS84/CGCS2000 file CRS says nothing about which of those the
coordinates are: the importer must declare ``coord_type``. A projected (or other explicit) file CRS
is used as the file states it, and a declaration that disagrees with it is refused, naming both.

Pure: no I/O. Geometries are converted in bulk with :func:`shapely.transform`, through
:mod:`geo.coords` (iterative GCJ-02/BD-09 inverse, about 0.1 mm) or pyproj (``always_xy``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
import pyproj
import shapely
from pyproj.exceptions import CRSError

from geo import coords
from geo.errors import GeoInputError

Kind = Literal["wgs84", "gcj02", "bd09", "cgcs2000", "epsg"]

#: Geographic CRSs whose coordinates may equally be WGS84, GCJ-02 or BD-09 (the file cannot tell).
GEOGRAPHIC_WGS84_LIKE = frozenset({4326, 4490})

_EPSG = re.compile(r"epsg:(\d{1,6})", re.IGNORECASE)
_CHOICES = "wgs84, gcj02, bd09, cgcs2000 or epsg:NNNN (for example epsg:4547)"


@dataclass(frozen=True)
class SourceCRS:
    """Where a file's coordinates are: one of the named systems, or a CRS pyproj knows.

    ``kind`` is ``wgs84``, ``gcj02``, ``bd09``, ``cgcs2000`` or ``epsg`` (any other CRS: ``crs`` holds
    it, ``epsg`` its code when it has one). ``label`` is short (``gcj02``, ``EPSG:4547``);
    ``description`` adds the CRS's name for messages."""

    kind: Kind
    epsg: int | None = None
    crs: pyproj.CRS | None = field(default=None, repr=False)
    label: str = ""

    @property
    def description(self) -> str:
        """The label with the CRS's name where it has one: "EPSG:4547 (CGCS2000 / 3-degree Gauss-Kruger CM 114E)"."""
        if self.kind == "epsg" and self.crs is not None and self.label != self.crs.name:
            return f"{self.label} ({self.crs.name})"
        return self.label


WGS84 = SourceCRS("wgs84", 4326, None, "wgs84")
GCJ02 = SourceCRS("gcj02", None, None, "gcj02")
BD09 = SourceCRS("bd09", None, None, "bd09")
CGCS2000 = SourceCRS("cgcs2000", 4490, None, "cgcs2000")
_NAMED = {s.kind: s for s in (WGS84, GCJ02, BD09, CGCS2000)}


def parse_coord_type(value: str) -> SourceCRS:
    """The declared ``coord_type``: ``wgs84``, ``gcj02``, ``bd09``, ``cgcs2000`` or ``epsg:NNNN``
    (any CRS pyproj knows; ``epsg:4326`` and ``epsg:4490`` mean ``wgs84`` and ``cgcs2000``).
    Case-insensitive; anything else raises :class:`GeoInputError` naming ``coord_type``."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in _NAMED:
        return _NAMED[text]
    match = _EPSG.fullmatch(text)
    if not match:
        raise GeoInputError("coord_type", f"coord_type must be {_CHOICES}")
    code = int(match.group(1))
    if code == 4326:
        return WGS84
    if code == 4490:
        return CGCS2000
    try:
        crs = pyproj.CRS.from_epsg(code)
    except CRSError:
        raise GeoInputError("coord_type", f"coord_type epsg:{code} is not a coordinate system pyproj knows") from None
    if not (crs.is_geographic or crs.is_projected):
        raise GeoInputError("coord_type", f"coord_type epsg:{code} is not a horizontal coordinate system")
    return SourceCRS("epsg", code, crs, f"EPSG:{code}")


def from_file_crs(crs: pyproj.CRS) -> SourceCRS:
    """A file's own CRS as a :class:`SourceCRS` (``wgs84``/``cgcs2000`` for EPSG:4326/4490)."""
    code = crs.to_epsg()
    if code == 4326:
        return WGS84
    if code == 4490:
        return CGCS2000
    return SourceCRS("epsg", code, crs, f"EPSG:{code}" if code is not None else crs.name)


def _describe_file(crs: pyproj.CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code} ({crs.name})" if code is not None else crs.name


def _same_crs(declared: SourceCRS, file_crs: pyproj.CRS) -> bool:
    if declared.kind != "epsg" or declared.crs is None:
        return False
    code = file_crs.to_epsg()
    if declared.epsg is not None and code is not None:
        return declared.epsg == code
    return bool(declared.crs.equals(file_crs, ignore_axis_order=True))


def resolve_crs(declared: SourceCRS | None, file_crs: pyproj.CRS | None, *, explicit: bool) -> SourceCRS:
    """The CRS to read a file in, from its declared ``coord_type`` and its own CRS.

    ``explicit`` says the file states ``file_crs`` itself (a ``.prj``, a GeoPackage SRS, a GeoJSON
    ``crs`` member). ``coord_type`` is required when the file cannot say its CRS: none, not explicit,
    or geographic WGS84/CGCS2000 (GCJ-02 and BD-09 files claim that too); any of the named systems
    fits such a file. A projected or other explicit file CRS is used; a declaration naming another
    raises :class:`GeoInputError` (``coord_type``) naming both."""
    if file_crs is None or not explicit:
        if declared is None:
            raise GeoInputError(
                "coord_type",
                f"the file does not say its coordinate system: send coord_type ({_CHOICES})",
            )
        return declared
    if file_crs.to_epsg() in GEOGRAPHIC_WGS84_LIKE:
        if declared is None:
            raise GeoInputError(
                "coord_type",
                f"the file says {_describe_file(file_crs)}, which GCJ-02 and BD-09 files say as well: "
                f"send coord_type ({_CHOICES})",
            )
        if declared.kind != "epsg":
            return declared
        raise GeoInputError(
            "coord_type", f"the file says {_describe_file(file_crs)} but coord_type says {declared.description}"
        )
    if declared is None or _same_crs(declared, file_crs):
        return from_file_crs(file_crs)
    raise GeoInputError(
        "coord_type", f"the file says {_describe_file(file_crs)} but coord_type says {declared.description}"
    )


@lru_cache(maxsize=64)
def _transformer(wkt: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(wkt), "EPSG:4326", always_xy=True)


def _to_wgs84_xy(source: SourceCRS):
    """A function (N, 2) array -> (N, 2) array of WGS84 lon/lat, or None for the identity."""
    if source.kind in ("wgs84", "cgcs2000"):
        return None
    if source.kind in ("gcj02", "bd09"):
        kind = source.kind

        def shift(xy: np.ndarray) -> np.ndarray:
            lon, lat = coords.to_wgs84(xy[:, 0], xy[:, 1], kind)
            return np.column_stack((lon, lat))

        return shift
    if source.crs is None:
        raise GeoInputError("coord_type", "the coordinate system has no definition")
    transformer = _transformer(source.crs.to_wkt())

    def project(xy: np.ndarray) -> np.ndarray:
        lon, lat = transformer.transform(xy[:, 0], xy[:, 1], errcheck=False)
        return np.column_stack((lon, lat))

    return project


def to_wgs84(geoms: np.ndarray, source: SourceCRS) -> np.ndarray:
    """The geometries (an object array; None stays None) in WGS84 lon/lat, 2D.

    A coordinate the transform cannot place comes back non-finite or out of range; find those rows
    with :func:`bad_rows`."""
    array = np.asarray(geoms, dtype=object)
    func = _to_wgs84_xy(source)
    if func is None:
        return shapely.force_2d(array) if array.size else array.copy()
    if not array.size:
        return array.copy()
    return shapely.transform(array, func)


def point_to_wgs84(x: float, y: float, source: SourceCRS) -> tuple[float, float]:
    """One point's (lon, lat) in WGS84."""
    func = _to_wgs84_xy(source)
    if func is None:
        return float(x), float(y)
    out = func(np.array([[float(x), float(y)]]))
    return float(out[0, 0]), float(out[0, 1])


def bad_rows(wgs_geoms: np.ndarray) -> list[int]:
    """Rows whose converted geometry has a non-finite or out-of-range lon/lat (None rows are fine)."""
    array = np.asarray(wgs_geoms, dtype=object)
    if not array.size:
        return []
    xy, index = shapely.get_coordinates(array, return_index=True)
    if not len(xy):
        return []
    lon, lat = xy[:, 0], xy[:, 1]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(lon) | ~np.isfinite(lat) | (np.abs(lon) > 180.0) | (np.abs(lat) > 90.0)
    return sorted({int(i) for i in index[bad]})


def in_range(lon: float, lat: float) -> bool:
    """True for a finite WGS84 lon/lat within the globe's bounds."""
    return math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180.0 and abs(lat) <= 90.0
