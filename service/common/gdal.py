"""Load GDAL (bundled in pyogrio) before SpatiaLite, or writing a GeoPackage crashes the process.

mod_spatialite brings the system's libsqlite3/libproj into the process; if they are loaded first,
pyogrio's GDAL binds some of its calls to them and segfaults on the next GeoPackage write (seen on
this machine: pyogrio 0.x wheel, Debian's mod_spatialite 5.0.1). Writing and reading one tiny
GeoPackage in memory first makes GDAL resolve its own symbols; afterwards both work side by side.
"""

from __future__ import annotations

import io
import threading
import warnings

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
        import geopandas as gpd
        from shapely.geometry import Point

        buffer = io.BytesIO()
        frame = gpd.GeoDataFrame({"n": [1]}, geometry=[Point(0, 0)], crs="EPSG:4326")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame.to_file(buffer, driver="GPKG", layer="prime", engine="pyogrio")
            buffer.seek(0)
            gpd.read_file(buffer, engine="pyogrio")
        _primed = True
