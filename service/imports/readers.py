"""Reading the files a city brings: one table of attributes and geometries, whatever the format.

* GeoJSON, GeoPackage and zipped Shapefiles go through :mod:`service.common.vectorfiles` (allowed
  GDAL drivers only, no VRT, fixed names, size caps), which also says whether the file states its
  CRS and which text encoding a Shapefile was read in.
* CSV (``.csv``, ``.tsv``, ``.txt``): decoded here (the ``encoding`` option; else a BOM; else UTF-8
  when the bytes decode strictly as UTF-8, otherwise GB18030, reported as guessed), parsed with the
  :mod:`csv` module, every cell a string.
* Excel ``.xlsx``: a zip, so its parts are counted and its declared and real unpacked sizes bounded
  before openpyxl opens it (read-only, cached values, no external links; with defusedxml, which
  makes it refuse XML entity bombs). The first worksheet unless ``sheet`` names one.

In a CSV or a sheet the first non-empty row is the header, and a point comes from a longitude and
a latitude column (``lon``/``lng``/``longitude``/``x``/``经度``, ``lat``/``latitude``/``y``/``纬度``)
or a geometry from a WKT column (``wkt``/``geometry``/``geom``); a cell that does not parse is
reported per row in :attr:`SourceTable.geom_errors`. Coordinates stay as the file has them; the
engine converts them (geo/sourcecrs.py). No message repeats the file's content.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.errors import ShapelyError
from shapely.geometry.base import BaseGeometry

from service.common.errors import Invalid
from service.common.vectorfiles import (
    SQLITE_HEADER,
    ZIP_HEADER,
    Limits,
    VectorFileError,
    checked_encoding,
    detect_text_encoding,
    read_vector_source,
)

#: Column names (compared case-insensitively, trimmed) that give a point's coordinates or a WKT geometry.
LON_COLUMNS = ("lon", "lng", "longitude", "x", "经度")
LAT_COLUMNS = ("lat", "latitude", "y", "纬度")
WKT_COLUMNS = ("wkt", "geometry", "geom")

_BRACKETED = re.compile(r"\s*[(（\[【].*$")

CSV_SUFFIXES = {".csv": None, ".tsv": "\t", ".txt": None}
VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".zip"}
_VECTOR_FORMATS = {"geojson": "geojson", "gpkg": "gpkg", "zip": "shapefile"}

#: Columns a CSV or sheet may have; cells beyond are refused rather than silently dropped.
MAX_COLUMNS = 256
#: Characters in one cell (a WKT polygon of a few thousand vertices fits; Excel itself stops at 32,767).
MAX_CELL_CHARS = 131_072
#: Parts an .xlsx may hold (a workbook of a few dozen sheets has well under this).
MAX_XLSX_PARTS = 256
#: Rows a sheet may span, blank ones included (Excel's own limit).
MAX_SHEET_ROWS = 1_048_576
CFB_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls and password-protected .xlsx
CHUNK = 64 * 1024


@dataclass
class SourceTable:
    """One file as rows: attribute values and geometries in the file's own coordinates."""

    #: ``geojson``, ``gpkg``, ``shapefile``, ``csv`` or ``xlsx``.
    format: str
    #: Attribute columns, in file order (a CSV's or sheet's coordinate/WKT columns are not among them).
    columns: list[str]
    #: One dict per feature or row: column -> value (str, int, float or None; blank cells are None).
    rows: list[dict[str, Any]]
    #: The geometry of each row in the file's coordinates; None where the row has none.
    geoms: list[BaseGeometry | None]
    #: Row index -> (column, message) for a coordinate or WKT cell that does not parse.
    geom_errors: dict[int, tuple[str, str]] = field(default_factory=dict)
    #: The CRS the file states (a GeoJSON without a ``crs`` member reads as EPSG:4326, not explicit).
    crs: pyproj.CRS | None = None
    #: The file states its CRS itself: a ``.prj``, a GeoPackage SRS, a GeoJSON ``crs`` member.
    crs_explicit: bool = False
    #: The text encoding used (Shapefile, CSV); None for the formats that are always UTF-8.
    encoding: str | None = None
    #: True when the encoding was detected (no ``encoding`` option, no ``.cpg``, no BOM).
    encoding_guessed: bool = False


def read_source(
    data: bytes, *, filename: str, encoding: str | None, limits: Limits, sheet: str | None = None
) -> SourceTable:
    """Read an uploaded file into a :class:`SourceTable`.

    ``filename`` only says which format the upload claims to be (its first bytes must agree);
    ``encoding`` is the text encoding of a Shapefile's ``.dbf`` or a CSV (None: ``.cpg``, BOM or
    detection); ``sheet`` names the worksheet of an ``.xlsx`` or the layer of a GeoPackage (required
    when it holds several). Refusals: :class:`VectorFileError`
    (``file``; 413 when too large) or :class:`Invalid` naming ``encoding`` or ``sheet``."""
    if len(data) > limits.upload_bytes:
        raise VectorFileError(f"the file is larger than {limits.upload_bytes} bytes", status=413)
    codec = checked_encoding(encoding) if encoding else None
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv(data, suffix, codec, limits)
    if suffix == ".xlsx":
        return _read_xlsx(data, sheet, limits)
    if suffix in (".xls", ".xlsm", ".xlsb", ".et"):
        raise VectorFileError("only .xlsx workbooks are read: save the sheet as .xlsx (Excel Workbook)")
    if suffix in VECTOR_SUFFIXES:
        return _read_vector(data, filename, codec, limits, sheet)
    raise VectorFileError("send a .geojson, a .gpkg, a .zip holding one Shapefile, a .csv or an .xlsx")


# -- GeoJSON, GeoPackage, Shapefile ---------------------------------------------------------


def _read_vector(data: bytes, filename: str, codec: str | None, limits: Limits, layer: str | None) -> SourceTable:
    try:
        source = read_vector_source(data, filename=filename, limits=limits, encoding=codec, layer=layer)
    except Invalid as exc:
        if exc.field == "layer":
            raise Invalid(exc.message, field="sheet") from None
        raise
    if source.layers > 1 and layer is None:
        raise Invalid(f"the GeoPackage holds {source.layers} layers: name the one to import (sheet)", field="sheet")
    frame = source.frame
    geometry = frame.geometry.name
    columns = [str(c) for c in frame.columns if c != geometry]
    values = frame.drop(columns=geometry).astype(object).to_numpy()
    rows = [{c: _value(v) for c, v in zip(columns, row, strict=True)} for row in values]
    geoms: list[BaseGeometry | None] = list(frame.geometry.values)
    return SourceTable(
        format=_VECTOR_FORMATS[source.kind],
        columns=columns,
        rows=rows,
        geoms=geoms,
        crs=frame.crs,
        crs_explicit=source.crs_explicit,
        encoding=source.encoding,
        encoding_guessed=source.encoding_guessed,
    )


def _value(value: Any) -> str | int | float | None:
    """A cell as str, int, float or None: blanks and NaN become None, dates ISO text, whole floats ints."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
        if number.is_integer() and abs(number) < 2**53:
            return int(number)
        return number
    if isinstance(value, (datetime, date, time, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return None  # a binary field has no text to import
    return str(value)


# -- CSV -------------------------------------------------------------------------------------


def _decode(data: bytes, codec: str | None) -> tuple[str, str | None, bool]:
    """(text, encoding used, guessed): the option; else a BOM; else UTF-8 or GB18030 by detection."""
    if codec is not None:
        try:
            return data.decode("utf-8-sig" if codec == "utf-8" else codec), codec, False
        except UnicodeDecodeError:
            raise Invalid(f"the file's text cannot be decoded as {codec}", field="encoding") from None
    for bom, name in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode("utf-8-sig" if name == "utf-8" else name), name, False
            except UnicodeDecodeError:
                raise Invalid(f"the file starts as {name} but its text does not decode", field="encoding") from None
    detected, guessed = detect_text_encoding([data])
    return data.decode(detected or "ascii"), detected or "ascii", guessed


def _delimiter(text: str) -> str:
    """The delimiter the header line uses most: comma, tab, semicolon or bar (comma if none)."""
    for line in text.splitlines():
        if line.strip():
            counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
            best = max(counts, key=lambda d: counts[d])
            return best if counts[best] else ","
    return ","


def _read_csv(data: bytes, suffix: str, codec: str | None, limits: Limits) -> SourceTable:
    if data.startswith((ZIP_HEADER, SQLITE_HEADER, CFB_HEADER)):
        raise VectorFileError(f"the file is named {suffix} but is not a text table")
    text, used, guessed = _decode(data, codec)
    if "\x00" in text:
        raise VectorFileError(f"the file is named {suffix} but is not a text table")
    delimiter = CSV_SUFFIXES[suffix] or _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def records() -> Iterator[tuple[int, list[Any]]]:
        try:
            for cells in reader:
                yield reader.line_num, cells
        except csv.Error as exc:
            if "field larger" in str(exc):
                raise VectorFileError(
                    f"a cell is longer than {csv.field_size_limit()} characters", status=413
                ) from None
            raise VectorFileError(f"the file is not a readable CSV table (line {reader.line_num})") from None

    return _table("csv", records(), limits, encoding=used, guessed=guessed)


# -- XLSX ------------------------------------------------------------------------------------


def _check_xlsx_zip(data: bytes, limits: Limits) -> None:
    """Count the parts and bound the declared and the real unpacked size before openpyxl reads it."""
    if data.startswith(CFB_HEADER):
        raise VectorFileError("the file is an .xls or a password-protected workbook: save it as a plain .xlsx")
    if not data.startswith(ZIP_HEADER):
        raise VectorFileError("the file is named .xlsx but is not an Excel workbook")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise VectorFileError("the .xlsx file is damaged") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_XLSX_PARTS:
            raise VectorFileError(f"the .xlsx holds more than {MAX_XLSX_PARTS} parts")
        if sum(m.file_size for m in members) > limits.unpacked_bytes:
            raise VectorFileError(f"the .xlsx unpacks to more than {limits.unpacked_bytes} bytes", status=413)
        names = {m.filename for m in members}
        if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
            raise VectorFileError("the file is named .xlsx but is not an Excel workbook")
        budget = limits.unpacked_bytes
        for info in members:
            size = 0
            try:
                with archive.open(info) as part:
                    while chunk := part.read(CHUNK):
                        size += len(chunk)
                        if size > info.file_size or size > budget:
                            raise VectorFileError(
                                "the .xlsx unpacks to more than it declares or than the limit", status=413
                            )
            except VectorFileError:
                raise
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, ValueError):
                raise VectorFileError(
                    "a part of the .xlsx is damaged, encrypted or compressed in an unknown way"
                ) from None
            budget -= size


def _read_xlsx(data: bytes, sheet: str | None, limits: Limits) -> SourceTable:
    import openpyxl
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    if not openpyxl.DEFUSEDXML:  # without it openpyxl would parse XML entity bombs
        raise RuntimeError("openpyxl is not using defusedxml; install defusedxml to read .xlsx files")
    _check_xlsx_zip(data, limits)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception:  # openpyxl and defusedxml raise many kinds; their text may quote the file
        raise VectorFileError("the .xlsx file cannot be read as a workbook") from None
    try:
        if sheet:
            if sheet not in book.sheetnames:
                raise Invalid("the workbook has no sheet of that name", field="sheet")
            worksheet = book[sheet]
            if not isinstance(worksheet, ReadOnlyWorksheet):
                raise Invalid("that sheet is a chart, not a table", field="sheet")
        elif book.worksheets:
            worksheet = book.worksheets[0]
        else:
            raise VectorFileError("the workbook holds no worksheet")

        def records() -> Iterator[tuple[int, list[Any]]]:
            try:
                for number, cells in enumerate(worksheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1), 1):
                    if number > MAX_SHEET_ROWS:
                        raise VectorFileError(f"the sheet spans more than {MAX_SHEET_ROWS} rows", status=413)
                    yield number, list(cells)
            except (VectorFileError, Invalid):
                raise
            except Exception:
                raise VectorFileError("the .xlsx sheet cannot be read") from None

        return _table("xlsx", records(), limits, encoding=None, guessed=False)
    finally:
        book.close()


# -- CSV and sheets: header, rows, geometry ----------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _header(cells: list[Any]) -> list[str]:
    """Column names: trimmed; a blank one is ``column<N>``, a repeated one gets ``_2``, ``_3``…"""
    while cells and _blank(cells[-1]):
        cells = cells[:-1]
    names: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(cells, 1):
        name = "" if cell is None else str(cell).strip().lstrip("\ufeff")
        name = name or f"column{i}"
        base, k = name, 2
        while name.lower() in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name.lower())
        names.append(name)
    return names


def _geometry_columns(header: list[str]) -> tuple[str, ...]:
    """("lonlat", lon, lat), ("wkt", column) or () for a table without geometry. A note in brackets
    after the name counts as part of it: ``经度(GCJ02)``, ``lng（百度）``."""
    lowered = {name.strip().lower(): name for name in reversed(header)}  # the first of equal names wins
    for name in reversed(header):
        lowered.setdefault(_BRACKETED.sub("", name.strip().lower()), name)
    lon = next((lowered[a] for a in LON_COLUMNS if a in lowered), None)
    lat = next((lowered[a] for a in LAT_COLUMNS if a in lowered), None)
    if lon is not None and lat is not None:
        return ("lonlat", lon, lat)
    wkt = next((lowered[a] for a in WKT_COLUMNS if a in lowered), None)
    return ("wkt", wkt) if wkt is not None else ()


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def _point(row: dict[str, Any], lon: str, lat: str) -> tuple[BaseGeometry | None, tuple[str, str] | None]:
    x, y = row.get(lon), row.get(lat)
    if x is None and y is None:
        return None, None
    if x is None:
        return None, (lon, f"{lon} is empty while {lat} is filled")
    if y is None:
        return None, (lat, f"{lat} is empty while {lon} is filled")
    fx, fy = _number(x), _number(y)
    if fx is None:
        return None, (lon, f"{lon} is not a finite number")
    if fy is None:
        return None, (lat, f"{lat} is not a finite number")
    return shapely.Point(fx, fy), None


def _wkt(row: dict[str, Any], column: str) -> tuple[BaseGeometry | None, tuple[str, str] | None]:
    cell = row.get(column)
    if cell is None:
        return None, None
    try:
        geom = shapely.from_wkt(str(cell), on_invalid="raise")
    except (ShapelyError, ValueError, TypeError):
        return None, (column, f"{column} is not a WKT geometry")
    if geom is None:
        return None, (column, f"{column} is not a WKT geometry")
    if not geom.is_empty and not np.all(np.isfinite(shapely.get_coordinates(geom))):
        return None, (column, f"{column} holds a coordinate that is not a finite number")
    return geom, None


def _table(
    fmt: str, records: Iterator[tuple[int, list[Any]]], limits: Limits, *, encoding: str | None, guessed: bool
) -> SourceTable:
    header: list[str] | None = None
    cells_rows: list[list[Any]] = []
    for number, raw in records:
        cells = [_value(c) for c in raw]
        if all(c is None for c in cells):
            continue
        if any(isinstance(c, str) and len(c) > MAX_CELL_CHARS for c in cells):
            raise VectorFileError(f"a cell is longer than {MAX_CELL_CHARS} characters", status=413)
        if header is None:
            header = _header(cells)
            if len(header) > MAX_COLUMNS:
                raise VectorFileError(f"the table has more than {MAX_COLUMNS} columns")
            continue
        if len(cells) > len(header):
            if any(c is not None for c in cells[len(header) :]):
                raise VectorFileError(f"row {number} has more cells than the header")
            cells = cells[: len(header)]
        if len(cells_rows) >= limits.features:
            raise VectorFileError(f"the file holds more than {limits.features} rows", status=413)
        cells_rows.append(cells + [None] * (len(header) - len(cells)))
    if header is None:
        raise VectorFileError("the file holds no header row")
    spec = _geometry_columns(header)
    rows = [dict(zip(header, cells, strict=True)) for cells in cells_rows]
    geoms: list[BaseGeometry | None] = []
    errors: dict[int, tuple[str, str]] = {}
    for i, row in enumerate(rows):
        if spec and spec[0] == "lonlat":
            geom, error = _point(row, spec[1], spec[2])
        elif spec:
            geom, error = _wkt(row, spec[1])
        else:
            geom, error = None, None
        geoms.append(geom)
        if error is not None:
            errors[i] = error
    vertices = int(shapely.get_num_coordinates(np.array(geoms, dtype=object)).sum()) if geoms else 0
    if vertices > limits.vertices:
        raise VectorFileError(f"the file holds more than {limits.vertices} vertices", status=413)
    geometry_columns = set(spec[1:])
    columns = [c for c in header if c not in geometry_columns]
    for row in rows:
        for name in geometry_columns:
            row.pop(name, None)
    return SourceTable(
        format=fmt,
        columns=columns,
        rows=rows,
        geoms=geoms,
        geom_errors=errors,
        encoding=encoding,
        encoding_guessed=guessed,
    )
