"""Department grid-layer files as a department would send them: GeoJSON, a zipped Shapefile or a
GeoPackage, optionally in GCJ-02; uploading them, and running the ``import-grids`` command."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.coords import from_wgs84
from service.common.gdal import prime_gdal
from tests.service.grids.town import gj
from tests.support.town import Town


def shifted(geom: BaseGeometry, coord_type: str) -> BaseGeometry:
    """``geom`` (WGS84) as a map in ``coord_type`` would draw it."""
    if coord_type == "wgs84":
        return geom
    return shapely.transform(geom, lambda c: np.column_stack(from_wgs84(c[:, 0], c[:, 1], coord_type)))


def layer_frame(town: Town, geoms: dict[int, BaseGeometry], coord_type: str = "gcj02") -> gpd.GeoDataFrame:
    """One feature per grid: its code, its name, its boundary shifted into ``coord_type``."""
    rows = [
        {
            "code": town.grid_props[g]["code"],
            "name": town.grid_props[g]["name_zh"],
            "geometry": shifted(geom, coord_type),
        }
        for g, geom in sorted(geoms.items())
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def geojson_bytes(frame: gpd.GeoDataFrame) -> bytes:
    """Written by hand (full precision), not through GDAL."""
    features = [
        {"type": "Feature", "properties": {"code": r.code, "name": r.name}, "geometry": gj(r.geometry)}
        for r in frame.itertuples(index=False)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()


def zipped_shapefile(frame: gpd.GeoDataFrame, folder: Path) -> bytes:
    prime_gdal()
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_file(folder / "grids.shp", driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for part in sorted(folder.iterdir()):
            zf.write(part, arcname=f"网格/{part.name}")
    return buffer.getvalue()


def geopackage(frame: gpd.GeoDataFrame, path: Path) -> bytes:
    prime_gdal()
    frame.to_file(path, driver="GPKG", layer="grids", engine="pyogrio")
    return path.read_bytes()


def upload(
    client: httpx.Client,
    filename: str,
    data: bytes,
    *,
    layer: str,
    coord_type: str = "gcj02",
    comment: str = "部门网格导入 department grids",
    **form: Any,
) -> httpx.Response:
    fields = {"layer": layer, "coord_type": coord_type, "comment": comment, **form}
    return client.post(
        "/api/v1/grid-layers/import", data=fields, files={"file": (filename, data, "application/octet-stream")}
    )


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"NEIGHBORGRID_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )
