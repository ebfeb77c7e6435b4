"""Reading an uploaded vector file without letting it choose what GDAL does.

GDAL picks a driver from a file's content, and some drivers read other files or URLs (an OGR VRT
or a GDALG file pointing at ``/etc/passwd``, the signing key or ``/vsicurl/http://…``; CSV, SQLite,
KML and the network drivers). So an upload is accepted only as one of the three formats the import
promises, and only when its name and its first bytes agree:

* GeoJSON: a ``.geojson``/``.json`` name and ``{`` after an optional BOM and white space; parsed
  here first (a FeatureCollection or Feature, a ``crs`` that only names a CRS) and handed to GDAL as
  re-serialised, opened with the ``GeoJSON:`` prefix (no other driver may claim it);
* GeoPackage: a ``.gpkg`` name, the SQLite header and a GeoPackage application id; its schema is
  inspected read-only (``immutable``, ``trusted_schema`` off) and a file with views, generated
  columns, virtual tables other than R*Tree indexes or triggers other than the GeoPackage ones is
  refused; opened read-only with the ``GPKG:`` prefix, so no trigger or SQL of the file runs;
* zipped Shapefile: a ``.zip`` name and ``PK`` header holding exactly one ``.shp`` with its ``.shx``
  and ``.dbf``, each with its own header; member names with absolute paths, ``..``, symlinks or
  nested archives are refused; the declared sizes are summed before anything is written, and each
  part is unpacked here, member by member, stopping as soon as the real bytes exceed the declared.

The upload's name only chooses among these; it never reaches GDAL, which opens fixed names in a
fresh temporary directory. The process keeps no other GDAL driver and has GDAL's network access
off (service/common/gdal.py). Every refusal is a :class:`VectorFileError` whose message names the
rule broken and never repeats the file's content.

A Shapefile's text is decoded in the ``encoding`` asked for; else in the one its ``.cpg`` names; else
in the one its ``.dbf`` bytes show (UTF-8 when they decode strictly as UTF-8, otherwise GB18030,
the superset of GBK that Chinese GIS tools write), which :class:`VectorSource` reports as guessed.
Text that does not decode is an :class:`~service.common.errors.Invalid` naming ``encoding``.
"""

from __future__ import annotations

import codecs
import io
import json
import logging
import re
import sqlite3
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import geopandas as gpd
import numpy as np
import shapely

from service.common.errors import Invalid
from service.common.gdal import prime_gdal

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
#: PRAGMA application_id of GeoPackage 1.2+ ("GPKG") and of 1.0/1.1 ("GP10", "GP11").
GPKG_APPLICATION_IDS = {b"GPKG", b"GP10", b"GP11"}
ZIP_HEADER = b"PK\x03\x04"
SHAPE_MAGIC = b"\x00\x00\x27\x0a"  # file code 9994, big-endian, of .shp and .shx
#: dBASE version bytes GDAL and common GIS tools write.
DBF_VERSIONS = {0x02, 0x03, 0x04, 0x05, 0x30, 0x31, 0x32, 0x43, 0x63, 0x83, 0x8B, 0xCB, 0xE5, 0xF5, 0xFB}
#: Shapefile parts unpacked from a zip; anything else in it (.sbn, .qix, .shp.xml, …) is left packed.
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
ARCHIVE_SUFFIXES = (".zip", ".7z", ".rar", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".zst", ".kmz")
MAX_ZIP_MEMBERS = 64
#: A GeoJSON ``crs`` may only name a CRS (the 2008 spec's "name" type), e.g. EPSG:4490 or a URN.
CRS_NAME = re.compile(r"(EPSG:\d{1,6}|urn:ogc:def:crs:(EPSG|OGC):[0-9.]*:[A-Za-z0-9]{1,12})")
#: The triggers a GeoPackage may carry: the spec's R*Tree and tile-matrix ones and GDAL's feature counts.
GPKG_TRIGGER = re.compile(r"(rtree_|gpkg_|trigger_(insert|delete)_feature_count_).+", re.DOTALL)
CPG = re.compile(rb"\s*[A-Za-z0-9_.\-]{1,40}\s*")
CHUNK = 64 * 1024
#: Code pages a .dbf header's language driver id names (dBASE/ArcGIS values); only used when a
#: Shapefile's text is neither UTF-8 nor GB18030 and it has no .cpg.
LDID_CODEPAGES = {
    0x01: "cp437", 0x02: "cp850", 0x03: "cp1252", 0x57: "cp1252", 0x58: "cp1252", 0x59: "cp1252",
    0x64: "cp852", 0x65: "cp866", 0x13: "cp932", 0x4D: "cp936", 0x4E: "cp949", 0x4F: "cp950",
    0x50: "cp874", 0x7A: "cp936", 0x7B: "cp932", 0x7C: "cp874", 0xC8: "cp1250", 0xC9: "cp1251",
    0xCA: "cp1254", 0xCB: "cp1253", 0xCC: "cp1257",
}  # fmt: skip


class VectorFileError(Invalid):
    """The upload is refused, naming ``file``: 422 (not an accepted file) or, with ``status=413``, too large."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message, field="file", status=status)


@dataclass(frozen=True)
class Limits:
    """Caps on one file: its bytes, what a zip may unpack to, its features and vertices."""

    upload_bytes: int
    unpacked_bytes: int
    features: int
    vertices: int
    #: Where the fixed-name copies are written (None: the system's temporary directory).
    tmp_dir: Path | None = None


@dataclass
class VectorSource:
    """What :func:`read_vector_source` read: the features, and what the file said about itself."""

    frame: gpd.GeoDataFrame
    #: ``geojson``, ``gpkg`` or ``zip`` (a zipped Shapefile).
    kind: str
    #: The file states its CRS itself: a GeoJSON ``crs`` member, a GeoPackage SRS, a Shapefile ``.prj``.
    crs_explicit: bool
    #: The text encoding a Shapefile was decoded in (None: GeoJSON and GeoPackage, always UTF-8).
    encoding: str | None = None
    #: True when that encoding was detected from the bytes (no ``encoding`` asked for, no ``.cpg``).
    encoding_guessed: bool = False
    #: How many layers the file holds (a GeoPackage may hold several; the first is read unless one is named).
    layers: int = 1


def read_vector_file(data: bytes, *, filename: str, limits: Limits, encoding: str | None = None) -> gpd.GeoDataFrame:
    """The features of an uploaded GeoJSON, GeoPackage or zipped Shapefile, as GDAL reads them.

    ``filename`` only tells which of the three the upload claims to be; ``encoding`` is the text
    encoding of a Shapefile's ``.dbf`` (see :func:`read_vector_source`)."""
    return read_vector_source(data, filename=filename, limits=limits, encoding=encoding).frame


def read_vector_source(
    data: bytes, *, filename: str, limits: Limits, encoding: str | None = None, layer: str | None = None
) -> VectorSource:
    """:func:`read_vector_file` with what the file says about its CRS, text encoding and layers.

    ``layer`` names the GeoPackage layer to read (Invalid naming ``layer`` if it has none of that name)."""
    if len(data) > limits.upload_bytes:
        raise VectorFileError(f"the file is larger than {limits.upload_bytes} bytes", status=413)
    kind = _kind(data, filename)
    codec = checked_encoding(encoding) if encoding is not None else None
    prime_gdal()  # the driver allow-list and the network switch, before GDAL sees the file
    used: str | None = None
    guessed = False
    layers = 1
    with tempfile.TemporaryDirectory(prefix="layer-", dir=limits.tmp_dir) as tmp:
        folder = Path(tmp)
        if kind == "geojson":
            path = folder / "layer.geojson"
            checked, explicit = _checked_geojson_crs(data, limits)
            path.write_bytes(checked)
            source = f"GeoJSON:{path}"
        elif kind == "gpkg":
            path = folder / "layer.gpkg"
            path.write_bytes(data)
            _check_geopackage(path)
            source = f"GPKG:{path}"
            explicit = True  # GDAL reports no CRS for a table whose SRS is undefined
            names = _layer_names(source)
            layers = len(names)
            if layer is not None and layer not in names:
                raise Invalid("the GeoPackage has no layer of that name", field="layer")
            layer = layer if layer is not None else (names[0] if names else None)  # the first, as GDAL would
        else:
            shp = _unpack_shapefile(data, folder, limits)
            source = str(shp)
            explicit = (folder / "layer.prj").exists()
            used, codec, guessed = _shapefile_encoding(folder, codec)
        frame = _read(source, kind, limits, codec, layer if kind == "gpkg" else None)
    if len(frame) > limits.features:
        raise VectorFileError(f"the file holds more than {limits.features} features", status=413)
    vertices = int(shapely.get_num_coordinates(frame.geometry.values).sum()) if len(frame) else 0
    if vertices > limits.vertices:
        raise VectorFileError(f"the file holds more than {limits.vertices} vertices", status=413)
    return VectorSource(frame, kind, explicit and frame.crs is not None, used, guessed, layers)


# -- which format ------------------------------------------------------------------------------


def _kind(data: bytes, filename: str) -> str:
    """``geojson``, ``gpkg`` or ``zip``: the name's extension and the first bytes must agree."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if suffix in (".geojson", ".json"):
        if not data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"{"):
            raise VectorFileError("the file is named .geojson but is not a GeoJSON object")
        return "geojson"
    if suffix == ".gpkg":
        if not data.startswith(SQLITE_HEADER) or data[68:72] not in GPKG_APPLICATION_IDS:
            raise VectorFileError("the file is named .gpkg but is not a GeoPackage")
        return "gpkg"
    if suffix == ".zip":
        if not data.startswith(ZIP_HEADER):
            raise VectorFileError("the file is named .zip but is not a zip archive")
        return "zip"
    raise VectorFileError("send a .geojson (or .json), a .gpkg, or a .zip holding one Shapefile")


# -- GeoJSON ---------------------------------------------------------------------------------


def _refuse_constant(_name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _checked_geojson(data: bytes, limits: Limits) -> bytes:
    """The GeoJSON re-serialised from what was checked, so GDAL reads exactly that."""
    return _checked_geojson_crs(data, limits)[0]


def _checked_geojson_crs(data: bytes, limits: Limits) -> tuple[bytes, bool]:
    """:func:`_checked_geojson`, and whether the file names its CRS (a ``crs`` member)."""
    try:
        body = json.loads(data.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise VectorFileError("the file is not valid GeoJSON (UTF-8 JSON, RFC 7946)") from None
    kind = body.get("type") if isinstance(body, dict) else None
    if kind not in ("FeatureCollection", "Feature"):
        raise VectorFileError("a GeoJSON file must hold a FeatureCollection or a Feature")
    if kind == "FeatureCollection":
        features = body.get("features")
        if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
            raise VectorFileError("a GeoJSON FeatureCollection needs a list of features")
        if len(features) > limits.features:
            raise VectorFileError(f"the file holds more than {limits.features} features", status=413)
    if "crs" in body and body["crs"] is not None:
        crs = body["crs"]
        name = crs.get("properties", {}).get("name") if isinstance(crs, dict) and crs.get("type") == "name" else None
        if not isinstance(name, str) or not CRS_NAME.fullmatch(name):
            raise VectorFileError('a GeoJSON "crs" may only name a CRS such as EPSG:4490')
    explicit = body.get("crs") is not None
    return json.dumps(body, ensure_ascii=False, allow_nan=False).encode(), explicit


# -- GeoPackage ------------------------------------------------------------------------------


def _check_geopackage(path: Path) -> None:
    """Refuse a GeoPackage whose schema could run SQL or reach outside the file when read."""
    uri = f"file:{quote(str(path))}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error:
        raise VectorFileError("the file is not a readable GeoPackage") from None
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        for kind, name, sql in schema:
            if kind == "view":
                raise VectorFileError("a GeoPackage with views is not accepted")
            if kind == "trigger" and not GPKG_TRIGGER.fullmatch(str(name)):
                raise VectorFileError("a GeoPackage with triggers of its own is not accepted")
            if kind != "table":
                continue
            if re.match(r"\s*CREATE\s+VIRTUAL\s+TABLE", sql or "", re.IGNORECASE):
                if not (str(name).startswith("rtree_") and re.search(r"\bUSING\s+rtree\s*\(", sql, re.IGNORECASE)):
                    raise VectorFileError("a GeoPackage with virtual tables is not accepted")
                continue
            columns = conn.execute("SELECT hidden FROM pragma_table_xinfo(?)", (name,)).fetchall()
            if any(hidden in (2, 3) for (hidden,) in columns):
                raise VectorFileError("a GeoPackage with generated columns is not accepted")
    except sqlite3.Error:
        raise VectorFileError("the file is not a readable GeoPackage") from None
    finally:
        conn.close()


# -- zipped Shapefile ------------------------------------------------------------------------


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's name as a relative path; absolute names, ``..`` and symlinks are refused."""
    name = info.filename.replace("\\", "/")
    if "\x00" in name or name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise VectorFileError("the .zip holds a member with an absolute path")
    if ".." in name.split("/"):
        raise VectorFileError("the .zip holds a member whose path leaves the archive (..)")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise VectorFileError("the .zip holds a symbolic link")
    return PurePosixPath(name)


def _unpack_shapefile(data: bytes, folder: Path, limits: Limits) -> Path:
    """Unpack the Shapefile's parts as ``layer.<ext>`` in ``folder``; the path of ``layer.shp``."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise VectorFileError("the .zip file is damaged") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise VectorFileError(f"the .zip holds more than {MAX_ZIP_MEMBERS} files")
        declared = sum(m.file_size for m in members)
        if declared > limits.unpacked_bytes:
            raise VectorFileError(f"the .zip unpacks to more than {limits.unpacked_bytes} bytes", status=413)
        parts: dict[str, list[tuple[PurePosixPath, zipfile.ZipInfo]]] = {}
        for info in members:
            path = _member_path(info)
            if info.is_dir():
                continue
            suffix = path.suffix.lower()
            if suffix in ARCHIVE_SUFFIXES:
                raise VectorFileError("the .zip holds another archive; send the Shapefile itself")
            if suffix in SHAPEFILE_PARTS:
                parts.setdefault(suffix, []).append((path, info))
        shps = parts.get(".shp", [])
        if len(shps) != 1:
            raise VectorFileError("the .zip must hold exactly one Shapefile (.shp with .shx/.dbf)")
        stem = shps[0][0].with_suffix("").as_posix().lower()
        chosen: dict[str, zipfile.ZipInfo] = {}
        for suffix, candidates in parts.items():
            same = [info for path, info in candidates if path.with_suffix("").as_posix().lower() == stem]
            if same:
                chosen[suffix] = same[0]
        if ".shx" not in chosen or ".dbf" not in chosen:
            raise VectorFileError("the .zip must hold exactly one Shapefile (.shp with .shx/.dbf)")
        written = 0
        for suffix, info in chosen.items():
            target = folder / f"layer{suffix}"
            written += _extract(archive, info, target, limits.unpacked_bytes - written)
    _check_shapefile_parts(folder)
    return folder / "layer.shp"


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one member, refusing as soon as it exceeds its declared size or the budget left."""
    size = 0
    try:
        with archive.open(info) as src, target.open("wb") as out:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > info.file_size or size > budget:
                    raise VectorFileError("the .zip unpacks to more than it declares or than the limit", status=413)
                out.write(chunk)
    except VectorFileError:
        target.unlink(missing_ok=True)
        raise
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, ValueError):
        target.unlink(missing_ok=True)
        raise VectorFileError("a file in the .zip is damaged, encrypted or compressed in an unknown way") from None
    return size


def _check_shapefile_parts(folder: Path) -> None:
    """Each part must look like what its extension says."""
    with (folder / "layer.shp").open("rb") as f:
        shp = f.read(100)
    with (folder / "layer.shx").open("rb") as f:
        shx = f.read(100)
    with (folder / "layer.dbf").open("rb") as f:
        dbf = f.read(32)
    if len(shp) < 100 or not shp.startswith(SHAPE_MAGIC):
        raise VectorFileError("the .shp in the .zip is not a Shapefile")
    if len(shx) < 100 or not shx.startswith(SHAPE_MAGIC):
        raise VectorFileError("the .shx in the .zip is not a Shapefile index")
    if len(dbf) < 32 or dbf[0] not in DBF_VERSIONS or int.from_bytes(dbf[8:10], "little") < 33:
        raise VectorFileError("the .dbf in the .zip is not a dBASE table")
    cpg = folder / "layer.cpg"
    if cpg.exists() and not CPG.fullmatch(cpg.read_bytes()):
        raise VectorFileError("the .cpg in the .zip does not name an encoding")
    prj = folder / "layer.prj"
    if prj.exists():
        text = prj.read_bytes().removeprefix(b"\xef\xbb\xbf").strip()
        if not re.match(rb"(PROJCS|GEOGCS|PROJCRS|GEOGCRS|GEODCRS|COMPD_CS|COMPOUNDCRS)\s*\[", text):
            raise VectorFileError("the .prj in the .zip is not a WKT coordinate system")


# -- reading -----------------------------------------------------------------------------------

_NAMES = {"geojson": "GeoJSON", "gpkg": "a GeoPackage", "zip": "a Shapefile"}


def _layer_names(source: str) -> list[str]:
    import pyogrio

    try:
        return [str(name) for name, _kind in pyogrio.list_layers(source)]
    except Exception as exc:  # as in _read: GDAL's text may quote the file
        log.info("layer file refused by GDAL: %s", type(exc).__name__)
        raise VectorFileError("the file cannot be read as a GeoPackage") from None


def _read(
    source: str, kind: str, limits: Limits, encoding: str | None = None, layer: str | None = None
) -> gpd.GeoDataFrame:
    import pyogrio

    try:
        return pyogrio.read_dataframe(source, layer=layer, max_features=limits.features + 1, encoding=encoding)
    except UnicodeDecodeError:
        raise Invalid(f"the file's text cannot be decoded as {encoding}", field="encoding") from None
    except Exception as exc:  # pyogrio raises many kinds; its text may quote the file, so it is not passed on
        log.info("layer file refused by GDAL: %s", type(exc).__name__)
        raise VectorFileError(f"the file cannot be read as {_NAMES[kind]}") from None


# -- text encodings ----------------------------------------------------------------------------


def checked_encoding(name: str) -> str:
    """The codec an ``encoding`` option names (``gbk``, ``GB18030``, ``utf-8``, ``cp936``, …);
    Invalid naming ``encoding`` when Python knows no such text encoding."""
    text = name.strip() if isinstance(name, str) else ""
    try:
        info = codecs.lookup(text) if re.fullmatch(r"[A-Za-z0-9_.\-]{1,40}", text) else None
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise Invalid("encoding must name a text encoding such as utf-8, gbk or gb18030", field="encoding")
    return info.name


def _cpg_codec(text: str) -> str | None:
    """The Python codec a ``.cpg`` names the way GDAL reads it ("936" is CP936, "88591" ISO-8859-1)."""
    name = text.strip()
    if name.isdigit():
        name = f"iso-8859-{name[4:]}" if name.startswith("8859") and len(name) > 4 else f"cp{name}"
    try:
        return checked_encoding(name)
    except Invalid:
        return None


def detect_text_encoding(chunks: list[bytes]) -> tuple[str | None, bool]:
    """(codec, guessed) for text whose encoding nobody named: None for pure ASCII (nothing to guess),
    ``utf-8`` when every chunk decodes strictly as UTF-8, else ``gb18030``; Invalid naming
    ``encoding`` when it is neither."""
    if all(chunk.isascii() for chunk in chunks):
        return None, False
    for codec in ("utf-8", "gb18030"):
        try:
            for chunk in chunks:
                chunk.decode(codec)
        except UnicodeDecodeError:
            continue
        return codec, True
    raise Invalid(
        "the file's text is neither UTF-8 nor GB18030/GBK: send the encoding it is written in",
        field="encoding",
    )


def _dbf_text(path: Path) -> list[bytes]:
    """The raw bytes of a .dbf's field names and of each character column holding non-ASCII bytes
    (one chunk per column, its cells joined by newlines, so a decoder sees the cells whole)."""
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[8:10], "little")
    record_len = int.from_bytes(raw[10:12], "little")
    count = int.from_bytes(raw[4:8], "little")
    names: list[bytes] = []
    columns: list[tuple[int, int]] = []
    offset = 1  # the deletion flag
    pos = 32
    while pos + 32 <= min(header_len, len(raw)) and raw[pos] != 0x0D:
        descriptor = raw[pos : pos + 32]
        names.append(descriptor[:11].split(b"\x00", 1)[0])
        width = descriptor[16]
        if descriptor[11:12] in (b"C", b"c"):
            columns.append((offset, width))
        offset += width
        pos += 32
    chunks = [b"\n".join(names)]
    if record_len <= 0 or header_len >= len(raw):
        return chunks
    count = min(count, (len(raw) - header_len) // record_len)
    table = np.frombuffer(raw, dtype=np.uint8, count=count * record_len, offset=header_len).reshape(count, record_len)
    for start, width in columns:
        cells = table[:, start : start + width]
        if cells.size and int(cells.max()) >= 0x80:
            chunks.append(b"\n".join(bytes(cell).rstrip(b" \x00") for cell in cells))
    return chunks


def _shapefile_encoding(folder: Path, asked: str | None) -> tuple[str | None, str | None, bool]:
    """(encoding reported, codec handed to pyogrio, guessed) for the unpacked Shapefile in ``folder``:
    the option, else the .cpg, else detection from the .dbf's bytes."""
    if asked is not None:
        return asked, asked, False
    cpg = folder / "layer.cpg"
    if cpg.exists():
        text = cpg.read_bytes().decode("ascii").strip()
        codec = _cpg_codec(text)
        return (codec or text), codec, False  # a name Python does not know is left to GDAL
    dbf = folder / "layer.dbf"
    chunks = _dbf_text(dbf)
    try:
        codec, guessed = detect_text_encoding(chunks)
    except Invalid:
        with dbf.open("rb") as f:
            ldid = f.read(30)[29]
        fallback = LDID_CODEPAGES.get(ldid)  # the code page the .dbf header names, when it is not 0
        if fallback is None or not _decodes(chunks, fallback):
            raise
        return fallback, fallback, True
    return (codec or "ascii"), codec, guessed


def _decodes(chunks: list[bytes], codec: str) -> bool:
    try:
        for chunk in chunks:
            chunk.decode(codec)
    except UnicodeDecodeError:
        return False
    return True
