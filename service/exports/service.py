"""Building export files from the OGC providers (one query per layer, shared with the OGC API)."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy.orm import Session

from service.config import Settings
from service.ogc.providers import PROVIDERS

LAYERS = ("communities", "compounds", "grids", "buildings", "stations", "service_areas")
FORMATS = ("gpkg", "geojson", "csv")


def layer_frame(session: Session, name: str, settings: Settings) -> gpd.GeoDataFrame:
    provider = PROVIDERS[name]
    rows = list(session.scalars(provider.base(session).order_by(provider.id_column())))
    features = provider.to_features(session, rows, False, settings)
    for f in features:
        f["properties"] = {
            "id": f["id"],
            **{
                k: (json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
                for k, v in f["properties"].items()
            },
        }
    frame = (
        gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
        if features
        else gpd.GeoDataFrame({"id": pd.Series(dtype="int64")}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    )
    for column in frame.columns:  # whole numbers as integers (pandas makes them float when some are null)
        series = frame[column]
        if (
            column != "geometry"
            and series.dtype == float
            and len(series.dropna())
            and series.dropna().mod(1).eq(0).all()
        ):
            frame[column] = series.astype("Int64")
    return frame


def export(session: Session, *, layers: list[str], fmt: str, settings: Settings) -> tuple[bytes, str, str]:
    """(content, media type, file name)."""
    frames = {name: layer_frame(session, name, settings) for name in layers}
    if fmt == "gpkg":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "neighborgrid.gpkg"
            for name, frame in frames.items():
                frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
            return path.read_bytes(), "application/geopackage+sqlite3", "neighborgrid.gpkg"
    files: dict[str, bytes] = {}
    for name, frame in frames.items():
        if fmt == "geojson":
            files[f"{name}.geojson"] = frame.to_json(drop_id=True, ensure_ascii=False).encode()
        else:
            table = pd.DataFrame(frame.drop(columns="geometry"))
            table["wkt"] = frame.geometry.to_wkt(rounding_precision=-1)
            files[f"{name}.csv"] = table.to_csv(index=False).encode("utf-8-sig")  # BOM: Excel reads Chinese
    if len(files) == 1:
        ((name, content),) = files.items()
        return content, "application/geo+json" if fmt == "geojson" else "text/csv; charset=utf-8", name
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue(), "application/zip", f"neighborgrid-{fmt}.zip"
