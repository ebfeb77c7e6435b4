"""Building export files from the OGC providers (one query per layer, shared with the OGC API).

CSV cells are safe to open in a spreadsheet (OWASP's CSV injection rule): a text cell starting with
``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'`` so that it is shown, not
run as a formula, and every text cell is quoted. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy.orm import Session

from service.common.errors import Invalid
from service.config import Settings
from service.ogc.providers import PROVIDERS

LAYERS = ("communities", "compounds", "grids", "buildings", "stations", "service_areas")
FORMATS = ("gpkg", "geojson", "csv")
#: What makes a spreadsheet read a cell as a formula (or hide what follows: tab, CR).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """A text cell a spreadsheet cannot run: ``'`` before a formula-like start. Other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_bytes(table: pd.DataFrame) -> bytes:
    """The table as CSV for spreadsheets: UTF-8 with a BOM (Excel reads Chinese), text cells
    neutralised and quoted (numbers unquoted, so they stay numbers)."""
    safe = table.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):  # text: object or pandas' string dtype
            safe[column] = safe[column].map(neutralise_cell)
    safe.columns = [neutralise_cell(str(c)) for c in safe.columns]
    return safe.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8-sig")


def layer_frame(session: Session, name: str, settings: Settings) -> gpd.GeoDataFrame:
    provider = PROVIDERS[name]
    rows = list(session.scalars(provider.base(session).order_by(provider.id_column())))
    features = provider.to_features(session, rows, None, settings)
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


def requested_layers(text: str) -> list[str]:
    """``grids, stations`` as the layer names, once each and in order; Invalid naming ``layers``."""
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in LAYERS]
    if not wanted or unknown:
        known = ", ".join(LAYERS)
        raise Invalid(
            f"layers must be some of {known}" + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
            field="layers",
        )
    return list(dict.fromkeys(wanted))


def export(session: Session, *, layers: list[str], fmt: str, settings: Settings) -> tuple[bytes, str, str]:
    """(content, media type, file name) of ``layers`` in ``fmt``; Invalid naming ``format``."""
    if fmt not in FORMATS:
        raise Invalid(f"format must be one of {', '.join(FORMATS)}", field="format")
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
            files[f"{name}.csv"] = csv_bytes(table)
    if len(files) == 1:
        ((name, content),) = files.items()
        return content, "application/geo+json" if fmt == "geojson" else "text/csv; charset=utf-8", name
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue(), "application/zip", f"neighborgrid-{fmt}.zip"
