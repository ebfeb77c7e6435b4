"""The files a city brings, written the way its tools write them, and an empty city to bring them to.

* Coordinates: ``to_gcj02`` applies the published GCJ-02 forward formula (Amap, Tencent) written
  out here on its own, so the importer's iterative inverse is checked against an independent
  forward; ``cgcs2000_tm`` is a CGCS2000 Transverse Mercator CRS (any central meridian, as a local
  survey bureau defines one) and ``project`` puts WGS84 geometries into it.
* Writers (bytes, as uploaded): ``geojson_bytes`` (RFC 7946, full precision), ``gpkg_bytes``,
  ``shapefile_zip`` (a ``.prj``; the ``.dbf`` in any encoding, with or without a ``.cpg``),
  ``csv_bytes`` (any encoding), ``xlsx_bytes`` (openpyxl).
* ``EmptyCity``: a fresh, migrated database of either backend with nothing in it but a planner
  (and, when asked, a dispatcher and a resident), served over real HTTP; ``import_file`` posts one file to
  ``POST /api/v1/imports/{kind}``.
* ``max_offset_m``: how far apart two geometries are, in metres (symmetric Hausdorff distance).
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyproj
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy.engine import make_url

# -- coordinates ---------------------------------------------------------------------------------

_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323


def _gcj02_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset in degrees at WGS84 (lon, lat): the formula every public implementation
    (eviltransform, coordtransform) carries, with the 105°E/35°N origin and Krasovsky 1940."""
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    t_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    t_lat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    t_lat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    t_lat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    t_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    t_lon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    t_lon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    t_lon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad = lat / 180.0 * pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (t_lat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * pi)
    dlon = (t_lon * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(rad) * pi)
    return dlon, dlat


def gcj02_xy(xy: np.ndarray) -> np.ndarray:
    """WGS84 (n, 2) lon/lat to GCJ-02. Outside the mainland box every implementation (and Amap's
    own data) leaves coordinates as they are: GCJ-02 there *is* WGS84."""
    lon, lat = xy[:, 0], xy[:, 1]
    china = (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)
    dlon, dlat = _gcj02_offset(lon, lat)
    return np.column_stack([lon + np.where(china, dlon, 0.0), lat + np.where(china, dlat, 0.0)])


def to_gcj02(geom: BaseGeometry) -> BaseGeometry:
    """A WGS84 geometry as Amap would give it (GCJ-02)."""
    return shapely.transform(geom, gcj02_xy)


def cgcs2000_tm(central_meridian: float, *, name: str | None = None) -> pyproj.CRS:
    """A CGCS2000 Transverse Mercator CRS on ``central_meridian`` (scale 1, false easting 500 km),
    like the Gauss-Krüger zones EPSG:4513-4554 but on any meridian, as a city's survey defines one."""
    from pyproj.crs import ProjectedCRS
    from pyproj.crs.coordinate_operation import TransverseMercatorConversion

    conversion = TransverseMercatorConversion(
        latitude_natural_origin=0,
        longitude_natural_origin=central_meridian,
        false_easting=500_000,
        scale_factor_natural_origin=1,
    )
    return ProjectedCRS(
        conversion,
        name=name or f"CGCS2000 / Transverse Mercator CM {central_meridian:g}E",
        geodetic_crs=pyproj.CRS.from_epsg(4490),
    )


@lru_cache(maxsize=16)
def _transformer(crs: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs("EPSG:4326", pyproj.CRS.from_user_input(crs), always_xy=True)


def project(geom: BaseGeometry, crs: pyproj.CRS | str) -> BaseGeometry:
    """A WGS84 geometry in ``crs`` (x east, y north)."""
    transformer = _transformer(crs.to_wkt() if isinstance(crs, pyproj.CRS) else crs)

    def forward(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, forward)


def max_offset_m(a: BaseGeometry, b: BaseGeometry) -> float:
    """The symmetric Hausdorff distance between two WGS84 geometries, in metres (a local
    equirectangular frame: exact enough at the centimetre scale over a few kilometres)."""
    lat0 = shapely.centroid(a).y
    k = math.cos(math.radians(lat0))

    def metres(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([xy[:, 0] * 111_319.49 * k, xy[:, 1] * 110_574.0])

    return float(shapely.hausdorff_distance(shapely.transform(a, metres), shapely.transform(b, metres)))


# -- writers -------------------------------------------------------------------------------------


def geojson_bytes(rows: Sequence[dict[str, Any]], geoms: Sequence[BaseGeometry | None]) -> bytes:
    """A FeatureCollection (RFC 7946: no ``crs`` member), every coordinate at full precision."""
    features = [
        {"type": "Feature", "properties": dict(row), "geometry": mapping(g) if g is not None else None}
        for row, g in zip(rows, geoms, strict=True)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode("utf-8")


def _frame(rows: Sequence[dict[str, Any]], geoms: Sequence[BaseGeometry | None], crs: Any):
    import geopandas as gpd
    import pandas as pd

    return gpd.GeoDataFrame(pd.DataFrame(list(rows)), geometry=list(geoms), crs=crs)


def gpkg_bytes(
    rows: Sequence[dict[str, Any]],
    geoms: Sequence[BaseGeometry | None],
    *,
    crs: Any = "EPSG:4326",
    layer: str = "layer",
) -> bytes:
    """A GeoPackage of one layer with ``crs`` as its SRS."""
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "city.gpkg"
        pyogrio.write_dataframe(_frame(rows, geoms, crs), path, layer=layer, driver="GPKG")
        return path.read_bytes()


def shapefile_zip(
    rows: Sequence[dict[str, Any]],
    geoms: Sequence[BaseGeometry | None],
    *,
    crs: Any,
    encoding: str = "UTF-8",
    cpg: bool = True,
    basename: str = "layer",
) -> bytes:
    """A zipped Shapefile as a GIS desktop writes it: .shp, .shx, .dbf (text in ``encoding``), a
    .prj of ``crs`` (None: no .prj), and a .cpg naming the encoding unless ``cpg`` is False (then
    the .dbf's language-driver byte is cleared too, as older tools leave it: nothing says the
    encoding). Column names longer than 10 bytes are cut by the format, as everywhere."""
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / f"{basename}.shp"
        pyogrio.write_dataframe(
            _frame(rows, geoms, crs), path, driver="ESRI Shapefile", encoding=encoding, layer=basename
        )
        if crs is None:
            (folder / f"{basename}.prj").unlink(missing_ok=True)
        if not cpg:
            (folder / f"{basename}.cpg").unlink(missing_ok=True)
            dbf = bytearray((folder / f"{basename}.dbf").read_bytes())
            dbf[29] = 0  # the language driver id
            (folder / f"{basename}.dbf").write_bytes(bytes(dbf))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(folder.iterdir()):
                archive.write(part, part.name)
        return buffer.getvalue()


def csv_bytes(rows: Sequence[dict[str, Any]], *, encoding: str = "utf-8") -> bytes:
    """A CSV table (header from the first row's keys) in ``encoding``; floats at full precision."""
    import csv

    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    columns = list(rows[0])
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            ["" if row.get(c) is None else repr(v) if isinstance(v := row[c], float) else v for c in columns]
        )
    return text.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[dict[str, Any]], *, sheet: str = "Sheet1") -> bytes:
    """An Excel workbook of one sheet: a header row and one row per record."""
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet
    columns = list(rows[0])
    ws.append(columns)
    for row in rows:
        ws.append([row.get(c) for c in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# -- an empty city ---------------------------------------------------------------------------------

PASSWORD = "city-password-for-tests"
PLANNER, DISPATCHER, RESIDENT = "planner_city", "dispatcher_city", "resident_city"
MEDIA = {
    ".geojson": "application/geo+json",
    ".json": "application/json",
    ".gpkg": "application/geopackage+sqlite3",
    ".zip": "application/zip",
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass
class EmptyCity:
    """A fresh, migrated database with three accounts and nothing else, served over HTTP."""

    backend: str
    url: str
    base_url: str
    db: Any
    settings: Any
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, username: str = PLANNER) -> str:
        if username not in self._tokens:
            with httpx.Client(base_url=self.base_url, timeout=30) as c:
                r = c.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
                r.raise_for_status()
                self._tokens[username] = r.json()["access_token"]
        return self._tokens[username]

    def client(self, username: str | None = PLANNER) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(username)}"} if username else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=120)

    def import_file(
        self,
        kind: str,
        filename: str,
        data: bytes,
        *,
        username: str = PLANNER,
        comment: str | None = "onboarding test",
        **form: Any,
    ) -> httpx.Response:
        """``POST /api/v1/imports/{kind}`` with the file and the form fields (booleans as true/false)."""
        fields = {k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in form.items()}
        if comment is not None:
            fields["comment"] = comment
        suffix = Path(filename).suffix.lower()
        files = {"file": (filename, data, MEDIA.get(suffix, "application/octet-stream"))}
        with self.client(username) as c:
            return c.post(f"/api/v1/imports/{kind}", data=fields, files=files)

    def count(self, model: Any, *where: Any) -> int:
        from sqlalchemy import func, select

        with self.db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


_TEMPLATES: list[tempfile.TemporaryDirectory] = []


def _spatialite_template() -> Path:
    """A migrated, empty SpatiaLite file, made once per process (creating the spatial metadata takes
    seconds; copying the file takes milliseconds)."""
    from service.bootstrap import prepare_database
    from service.db import Database
    from tests.support.backends import make_settings

    if not _TEMPLATES:
        folder = tempfile.TemporaryDirectory(prefix="ng-empty-city-")
        path = Path(folder.name) / "template.db"
        db = Database.from_settings(make_settings(f"sqlite:///{path}"))
        try:
            prepare_database(db)
        finally:
            db.dispose()
        _TEMPLATES.append(folder)
    return Path(_TEMPLATES[0].name) / "template.db"


_PG_TEMPLATE: list[str] = []


@contextmanager
def _postgis_copy() -> Iterator[str]:
    """A new PostGIS database copied from a migrated, empty template (made once per process, dropped
    at exit): CREATE DATABASE … TEMPLATE takes a fraction of a second, migrating several."""
    import atexit
    import uuid

    from sqlalchemy import create_engine, text

    from service.bootstrap import prepare_database
    from service.db import Database
    from tests.support.backends import make_settings
    from tests.support.databases import postgis_url

    if not _PG_TEMPLATE:
        holder = ExitStack()
        template = holder.enter_context(postgis_url())
        db = Database.from_settings(make_settings(template))
        try:
            prepare_database(db)
        finally:
            db.dispose()
        atexit.register(holder.close)
        _PG_TEMPLATE.append(template)
    template = make_url(_PG_TEMPLATE[0])
    admin = create_engine(template.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"ng_city_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"'))
        yield template.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


ROLES = {PLANNER: "planner", DISPATCHER: "dispatcher", RESIDENT: "resident"}


def _empty_database(name: str, stack: ExitStack, tmp_dir: Path, accounts: Sequence[str], **overrides: Any):
    from service.auth.models import Role
    from service.auth.service import create_user
    from service.bootstrap import prepare_database
    from service.db import Database
    from tests.support.backends import make_settings
    from tests.support.databases import spatialite_url

    if name == "spatialite":
        url = stack.enter_context(spatialite_url(tmp_dir))
        path = make_url(url).database or ""
        shutil.copyfile(_spatialite_template(), path)
        os.chmod(path, 0o600)
    else:
        url = stack.enter_context(_postgis_copy())
    settings = make_settings(url, **({"media_dir": tmp_dir / "media", "scheduler_enabled": False} | overrides))
    db = Database.from_settings(settings)
    stack.callback(db.dispose)
    prepare_database(db)  # a no-op on the migrated copy; the whole migration on PostGIS
    with db.transaction() as session:
        for username in accounts:
            create_user(session, username=username, password=PASSWORD, role=Role(ROLES[username]))
    return url, settings, db


def start_empty_city(
    name: str, stack: ExitStack, tmp_dir: Path, *, accounts: Sequence[str] = (PLANNER,), **overrides: Any
) -> EmptyCity:
    """An empty database of backend ``name`` (spatialite or postgis), migrated, with the
    ``accounts`` (PLANNER, DISPATCHER, RESIDENT; password ``PASSWORD``), served until ``stack`` closes."""
    from tests.support.backends import serve
    from tests.support.clock import TestClock

    tmp_dir.mkdir(parents=True, exist_ok=True)
    url, settings, db = _empty_database(name, stack, tmp_dir, accounts, **overrides)
    base_url = serve(stack, settings, db, TestClock())
    return EmptyCity(backend=name, url=url, base_url=base_url, db=db, settings=settings)


@contextmanager
def empty_city(
    name: str, tmp_dir: Path, *, accounts: Sequence[str] = (PLANNER,), **overrides: Any
) -> Iterator[EmptyCity]:
    """``start_empty_city`` as a context manager."""
    with ExitStack() as stack:
        yield start_empty_city(name, stack, tmp_dir, accounts=accounts, **overrides)
