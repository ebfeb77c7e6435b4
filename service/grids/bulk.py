"""Bulk locate: many points in one request (a GeoJSON FeatureCollection of Points, a MultiPoint, or
a CSV of lon/lat), each answered with its grid and the codes of the areas holding it.

The points are read and checked here (every refusal names the point: ``features[3].geometry``,
``coordinates[12]``, ``points[12].lon``), converted to WGS84 in one vectorised step, and located by
``service.grids.service.locate_many`` on the same cached indexes as ``GET /grids/locate``, so both
give the same answer for the same point.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from geo.coords import CoordType, to_wgs84
from service.common.errors import Invalid, TooLarge, UnsupportedMedia
from service.grids.models import GridLayer
from service.grids.service import locate_many

JSON_TYPES = ("application/json", "application/geo+json")
CSV_TYPES = ("text/csv", "text/plain")
LON_COLUMNS = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_COLUMNS = ("lat", "latitude", "y", "纬度")
ID_COLUMNS = ("id", "ref", "code", "编号")


@dataclass
class BulkPoints:
    """The points as sent (their own coordinate system), their ids, and how to name each in an error."""

    lons: np.ndarray
    lats: np.ndarray
    ids: list[str | int | None]
    field: Callable[[int, str], str]  # (index, "lon"|"lat") -> the field an error names


def _media_type(content_type: str) -> tuple[str, str | None]:
    parts = [p.strip() for p in content_type.split(";")]
    charset = next((p.split("=", 1)[1].strip().strip('"') for p in parts[1:] if p.lower().startswith("charset=")), None)
    return parts[0].lower(), charset


def read_points(data: bytes, *, content_type: str, max_points: int) -> BulkPoints:
    """The points of a JSON or CSV body (415 for another media type, 413 past ``max_points``)."""
    media, charset = _media_type(content_type)
    if media in JSON_TYPES:
        return _json_points(data, max_points)
    if media in CSV_TYPES:
        return _csv_points(data, charset, max_points)
    raise UnsupportedMedia(
        f"Content-Type: send the points as {' or '.join(JSON_TYPES)} (a FeatureCollection of Points or a "
        f"MultiPoint) or as text/csv (columns lon,lat and optionally id), not {media or 'no Content-Type'}",
        field="Content-Type",
    )


def _too_many(field: str, count: int, max_points: int) -> TooLarge:
    return TooLarge(f"{field}: {count} points or more; at most {max_points} in one request", field=field)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _position(value: Any) -> tuple[float, float] | None:
    """A GeoJSON position's lon and lat (a third number, the height, is allowed and ignored)."""
    if not isinstance(value, list) or len(value) not in (2, 3):
        return None
    lon, lat = _number(value[0]), _number(value[1])
    if lon is None or lat is None or (len(value) == 3 and _number(value[2]) is None):
        return None
    return lon, lat


def _json_points(data: bytes, max_points: int) -> BulkPoints:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"the body is not valid JSON: {exc}", field="body") from None
    kind = doc.get("type") if isinstance(doc, dict) else None
    lons: list[float] = []
    lats: list[float] = []
    ids: list[str | int | None] = []
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise Invalid("a FeatureCollection needs a features array", field="features")
        if len(features) > max_points:
            raise _too_many("features", len(features), max_points)
        for i, f in enumerate(features):
            geometry = f.get("geometry") if isinstance(f, dict) else None
            where = f"features[{i}].geometry"
            if not isinstance(geometry, dict) or geometry.get("type") != "Point":
                raise Invalid(f"{where}: each feature needs a Point geometry", field=where)
            pos = _position(geometry.get("coordinates"))
            if pos is None:
                raise Invalid(f"{where}: coordinates must be [lon, lat] numbers", field=where)
            fid = f.get("id")
            if fid is not None and (isinstance(fid, bool) or not isinstance(fid, (str, int))):
                raise Invalid(f"features[{i}].id must be a string or a number", field=f"features[{i}].id")
            lons.append(pos[0])
            lats.append(pos[1])
            ids.append(fid)
        return BulkPoints(np.array(lons, dtype=float), np.array(lats, dtype=float), ids, _feature_field)
    if kind == "MultiPoint":
        coordinates = doc.get("coordinates")
        if not isinstance(coordinates, list):
            raise Invalid("a MultiPoint needs a coordinates array", field="coordinates")
        if len(coordinates) > max_points:
            raise _too_many("coordinates", len(coordinates), max_points)
        for i, c in enumerate(coordinates):
            pos = _position(c)
            if pos is None:
                raise Invalid(f"coordinates[{i}] must be [lon, lat] numbers", field=f"coordinates[{i}]")
            lons.append(pos[0])
            lats.append(pos[1])
        ids = [None] * len(lons)
        return BulkPoints(np.array(lons, dtype=float), np.array(lats, dtype=float), ids, _multipoint_field)
    raise Invalid("send a GeoJSON FeatureCollection of Points or a MultiPoint geometry", field="type")


def _feature_field(i: int, _axis: str) -> str:
    return f"features[{i}].geometry"


def _multipoint_field(i: int, _axis: str) -> str:
    return f"coordinates[{i}]"


def _csv_field(i: int, axis: str) -> str:
    return f"points[{i}].{axis}"


def _decode(data: bytes, charset: str | None) -> str:
    """The CSV text: the declared charset, else UTF-8 (a BOM allowed), else GB18030 (Excel in China)."""
    if charset:
        try:
            return data.decode(charset).removeprefix("\ufeff")
        except (LookupError, UnicodeDecodeError):
            raise Invalid(f"the body is not text in charset={charset}", field="body") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise Invalid("the CSV is neither UTF-8 nor GB18030 text", field="body") from None


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    cleaned = [h.strip().lower() for h in header]
    return next((cleaned.index(n) for n in names if n in cleaned), None)


def _csv_points(data: bytes, charset: str | None, max_points: int) -> BulkPoints:
    text = _decode(data, charset)
    first = text.split("\n", 1)[0]
    delimiter = "," if "," in first else ("\t" if "\t" in first else (";" if ";" in first else ","))
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(rows, None)
    if header is None:
        raise Invalid("the CSV is empty: it needs a header row with lon,lat (or x,y)", field="body")
    lon_col, lat_col, id_col = _column(header, LON_COLUMNS), _column(header, LAT_COLUMNS), _column(header, ID_COLUMNS)
    if lon_col is None or lat_col is None:
        missing = "lon" if lon_col is None else "lat"
        raise Invalid(
            f"the CSV header needs a {missing} column (lon,lat or x,y; found: {', '.join(header)})", field=missing
        )
    lons: list[float] = []
    lats: list[float] = []
    ids: list[str | int | None] = []
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue  # blank lines
        i = len(lons)
        if i >= max_points:
            raise _too_many("points", max_points + 1, max_points)
        for axis, col, out in (("lon", lon_col, lons), ("lat", lat_col, lats)):
            cell = row[col].strip() if col < len(row) else ""
            try:
                out.append(float(cell))
            except ValueError:
                where = _csv_field(i, axis)
                raise Invalid(f"{where}: {cell!r} (line {rows.line_num}) is not a number", field=where) from None
        ident = row[id_col].strip() if id_col is not None and id_col < len(row) else ""
        ids.append(ident or None)
    return BulkPoints(np.array(lons, dtype=float), np.array(lats, dtype=float), ids, _csv_field)


def _check_range(points: BulkPoints, lons: np.ndarray, lats: np.ndarray, what: str) -> None:
    bad_lon = ~np.isfinite(lons) | (lons < -180) | (lons > 180)
    bad_lat = ~np.isfinite(lats) | (lats < -90) | (lats > 90)
    bad = np.flatnonzero(bad_lon | bad_lat)
    if len(bad):
        i = int(bad[0])
        axis = "lon" if bad_lon[i] else "lat"
        where = points.field(i, axis)
        raise Invalid(
            f"{where}: point {i} ({points.lons[i]!r}, {points.lats[i]!r}) {what}", field=where, index=i, points=len(bad)
        )


def bulk_locate(
    session: Session,
    *,
    data: bytes,
    content_type: str,
    coord_type: CoordType,
    layer: GridLayer,
    max_points: int,
    max_distance_m: float,
) -> dict[str, Any]:
    """Every point of the body with its grid and area codes, in the body's order (see module doc)."""
    points = read_points(data, content_type=content_type, max_points=max_points)
    _check_range(points, points.lons, points.lats, "is not a lon between -180 and 180 and a lat between -90 and 90")
    lons, lats = to_wgs84(points.lons, points.lats, coord_type)
    lons, lats = np.atleast_1d(np.asarray(lons, dtype=float)), np.atleast_1d(np.asarray(lats, dtype=float))
    _check_range(points, lons, lats, f"does not convert from {coord_type} to a valid WGS84 position")
    found = locate_many(session, lons=lons, lats=lats, layer=layer, max_distance_m=max_distance_m)
    answers = [
        {
            "index": i,
            "id": points.ids[i],
            "lon": round(lon, 8),
            "lat": round(lat, 8),
            "grid_code": found["grid_code"][i],
            "grid_id": found["grid_id"][i],
            "outside_coverage": found["outside_coverage"][i],
            "distance_m": _finite(found["distance_m"][i]),
            "areas": found["areas"][i],
        }
        for i, (lon, lat) in enumerate(zip(lons.tolist(), lats.tolist(), strict=True))
    ]
    return {"layer": layer.value, "count": len(answers), "points": answers}


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value
