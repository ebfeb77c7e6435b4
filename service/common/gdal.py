"""GDAL (bundled in pyogrio) for this process: loaded before SpatiaLite, limited to three drivers,
with no network.

Loading order: mod_spatialite brings the system's libsqlite3/libproj into the process; if they are
loaded first, pyogrio's GDAL binds some of its calls to them and segfaults on the next GeoPackage
write (seen on this machine: pyogrio 0.x wheel, Debian's mod_spatialite 5.0.1). Writing and reading
one tiny GeoPackage in memory first makes GDAL resolve its own symbols; afterwards both work side
by side.

Hardening: GDAL chooses a driver from a file's content, and many drivers read other files or URLs
(OGR VRT, GDALG, CSV, SQLite, KML, WFS, …). The process keeps only the drivers the grid-layer import
promises and the GeoPackage export writes (:data:`ALLOWED_DRIVERS`; the others are dropped through
``GDAL_SKIP``), and GDAL's and PROJ's network access is off (:data:`GDAL_CONFIG`). Both are set once,
here, before the first file is read; :func:`prime_gdal` fails if the allow-list did not take.
"""

from __future__ import annotations

import io
import os
import threading
import warnings

#: The only GDAL vector drivers this process keeps.
ALLOWED_DRIVERS = frozenset({"GeoJSON", "GPKG", "ESRI Shapefile"})

#: GDAL configuration for the whole process (GDAL 3.12): no network, nothing outside the file.
GDAL_CONFIG = {
    # /vsicurl/ and friends: only a URL no one can ask for, with no such extension either.
    "CPL_VSIL_CURL_ALLOWED_FILENAME": "/vsicurl/neighborgrid-no-network.invalid",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".neighborgrid-no-network",
    # Any other HTTP GDAL might make (e.g. a CRS by URL) goes to a closed local port and gives up.
    "GDAL_HTTP_PROXY": "127.0.0.1:9",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_NETRC": "NO",
    "GDAL_DISABLE_READDIR_ON_OPEN": "YES",
    # GeoPackage/SQLite: no ATTACH or other access outside the file.
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
    "PROJ_NETWORK": "OFF",
}

_primed = False
_lock = threading.Lock()


def prime_gdal() -> None:
    """Idempotent; cheap after the first call."""
    global _primed
    if _primed:
        return
    with _lock:
        if _primed:
            return
        os.environ["PROJ_NETWORK"] = "OFF"  # PROJ contexts created from now on (GDAL's and pyproj's)
        import geopandas as gpd
        import pyproj
        from shapely.geometry import Point

        pyproj.network.set_network_enabled(False)
        buffer = io.BytesIO()
        frame = gpd.GeoDataFrame({"n": [1]}, geometry=[Point(0, 0)], crs="EPSG:4326")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame.to_file(buffer, driver="GPKG", layer="prime", engine="pyogrio")
            buffer.seek(0)
            gpd.read_file(buffer, engine="pyogrio")
        _harden()
        _primed = True


def _harden() -> None:
    """Keep only :data:`ALLOWED_DRIVERS` and apply :data:`GDAL_CONFIG`; raise if that did not work."""
    import pyogrio
    from pyogrio import _ogr

    options: dict[str, str | None] = dict(GDAL_CONFIG)
    others = sorted(set(pyogrio.list_drivers()) - ALLOWED_DRIVERS)
    if others:
        options["GDAL_SKIP"] = ",".join(others)  # commas: some driver names hold spaces
    pyogrio.set_gdal_config_options(options)
    if others:
        _ogr._register_drivers()  # GDALAllRegister again: it unloads the drivers GDAL_SKIP names
    left = set(pyogrio.list_drivers())
    if left != ALLOWED_DRIVERS:
        raise RuntimeError(f"GDAL keeps drivers it must not: {sorted(left - ALLOWED_DRIVERS)}")
