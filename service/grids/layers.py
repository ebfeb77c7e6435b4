"""Department grid layers: import, comparison with the merged layer, a merged proposal, export.

Departments (party building, comprehensive governance, health, urban management) keep grids of
their own; "one network" (多网融合, 一张网) merges them. Imports accept GeoJSON, GeoPackage or a zipped
Shapefile in a declared coordinate system (GCJ-02 and BD-09 files are converted), and replace the
layer's grids in one transaction, keeping the history of grids whose code stays.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.coords import CoordType, to_wgs84
from geo.crs import LocalProjection
from geo.topology import OVERLAY_GRID_DEG, as_multi, check_shape, clip_to_region, merged_layer, polygonal
from service.areas.models import Area, AreaLevel
from service.audit.service import audit
from service.auth.models import User
from service.buildings.models import Building
from service.common.errors import DomainError
from service.common.geojson import feature
from service.common.layer_cache import GRIDS
from service.common.revisions import bump_revision
from service.common.vectorfiles import Limits, VectorFileError, read_vector_file
from service.config import Settings
from service.events.outbox import publish
from service.grids.history import close_history, record_version
from service.grids.models import Grid, GridChange, GridLayer
from service.grids.service import GridCodeError, check_grid_code

FORMATS = {"geojson", "gpkg", "shp"}


class LayerError(DomainError):
    """A department layer that cannot be imported, compared or merged: the status says why
    (413 too large, 422 unreadable or breaking a rule, 404 nothing to work on)."""


# -- reading files ------------------------------------------------------------------------


def layer_limits(settings: Settings) -> Limits:
    """The caps on one imported file, from the settings."""
    return Limits(
        upload_bytes=settings.layer_upload_max_bytes,
        unpacked_bytes=settings.layer_unpacked_max_bytes,
        features=settings.layer_max_features,
        vertices=settings.layer_max_vertices,
        tmp_dir=settings.layer_tmp_dir,
    )


def read_layer(data: bytes, *, filename: str, coord_type: CoordType, settings: Settings) -> gpd.GeoDataFrame:
    """A file's polygons in WGS84. GeoJSON, GeoPackage, or a .zip holding a Shapefile, read only
    through service/common/vectorfiles.py (``filename`` only says which of the three it claims to be).
    The API and the ``import-grids`` command both come here."""
    try:
        frame = read_vector_file(data, filename=filename, limits=layer_limits(settings))
    except VectorFileError as exc:
        raise LayerError(str(exc), field=exc.field, status=exc.status) from None
    if frame.empty:
        raise LayerError("the file holds no features", field="file", status=422)
    if frame.crs is not None and frame.crs.to_epsg() not in (4326, 4490, None):
        frame = frame.to_crs(4326)  # a projected file: to lon/lat first (then the declared shift, if any)
    if CoordType(coord_type) is not CoordType.WGS84:
        frame = frame.set_geometry(
            shapely.transform(frame.geometry.values, lambda c: np.column_stack(to_wgs84(c[:, 0], c[:, 1], coord_type)))
        )
    return frame


# -- importing ------------------------------------------------------------------------------


def _community_of(geom: BaseGeometry, communities: list[tuple[int, BaseGeometry]]) -> int | None:
    best, best_area = None, 0.0
    for cid, cgeom in communities:
        area = geom.intersection(cgeom).area
        if area > best_area:
            best, best_area = cid, area
    return best


NAME_MAX = 200  # grids.name_zh


def _missing(value: Any) -> bool:
    """An empty cell (None, NaN, NA) of the file's table."""
    return value is None or (not isinstance(value, str) and bool(np.all(pd.isna(value))))


def _problem(i: int, code: str | None, field: str, rule: str, message: str) -> dict[str, Any]:
    """One refused feature: its number, its code (only once it passed the pattern), the field and rule."""
    where = f"feature {i}" + (f" (code {code})" if code else "")
    return {"feature": i, "code": code, "field": field, "rule": rule, "text": f"{where}: {field}: {rule}: {message}"}


def _shape_message(rule: str, message: str) -> str:
    """check_shape's message without the coordinates GEOS puts into an invalidity reason."""
    return message.split("[", 1)[0].rstrip() if rule == "invalid" else message


#: A checked feature of an imported file: (its shape, its name, the community it lies in).
Row = tuple[BaseGeometry, str, int]


def import_layer(
    session: Session,
    *,
    frame: gpd.GeoDataFrame,
    layer: GridLayer,
    code_field: str,
    name_field: str | None,
    by: str,
    comment: str,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """Replace ``layer``'s grids with the file's: same code → new version, new code → new grid,
    missing code → retired. Checks every shape; nothing is written if any is bad. Does not commit."""
    _check_request(frame, layer=layer, code_field=code_field, comment=comment)
    communities = [
        (a.id, to_shape(a.geom))
        for a in session.scalars(select(Area).where(Area.level == AreaLevel.COMMUNITY, Area.retired_at.is_(None)))
    ]
    rows = _checked_rows(
        frame, code_field=code_field, name_field=name_field, communities=communities, settings=settings
    )
    counts = _replace_layer(session, rows, layer=layer, by=by, comment=comment, now=now)
    session.flush()
    bump_revision(session, GRIDS)
    publish(session, "grid.changed", {"layer": layer.value, "imported": True})
    return {"layer": layer.value, **counts}


def import_upload(
    session: Session,
    *,
    data: bytes,
    filename: str,
    coord_type: CoordType,
    layer: GridLayer,
    code_field: str,
    name_field: str | None,
    actor: User,
    comment: str,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """An uploaded file read (``read_layer``), imported as ``actor`` (``import_layer``) and audited.
    Does not commit."""
    frame = read_layer(data, filename=filename, coord_type=coord_type, settings=settings)
    result = import_layer(
        session,
        frame=frame,
        layer=layer,
        code_field=code_field,
        name_field=name_field,
        by=actor.username,
        comment=comment,
        now=now,
        settings=settings,
    )
    audit(session, actor=actor, action="import", entity="grid_layer", entity_id=layer.value, after=result)
    return result


def _check_request(frame: gpd.GeoDataFrame, *, layer: GridLayer, code_field: str, comment: str) -> None:
    """What the import asks for: a department layer, a reason, and a column that holds the codes."""
    if layer is GridLayer.ONE_NETWORK:
        raise LayerError(
            "the merged layer is edited, not imported; import a department layer", field="layer", status=422
        )
    if not comment or not comment.strip():
        raise LayerError("a comment saying why is required", field="comment", status=422)
    if code_field not in frame.columns:
        raise LayerError(
            f"the file has no {code_field!r} column; say which holds the grid code", field="code_field", status=422
        )


def _checked_rows(
    frame: gpd.GeoDataFrame,
    *,
    code_field: str,
    name_field: str | None,
    communities: list[tuple[int, BaseGeometry]],
    settings: Settings,
) -> dict[str, Row]:
    """The file's features by code, once every one passed the checks (code pattern, shape, unique
    code, name length, lying in a community); else LayerError naming the first five problems."""
    region = shapely.union_all([g for _, g in communities]) if communities else None
    problems: list[dict[str, Any]] = []
    rows: dict[str, tuple[BaseGeometry, str, int | None]] = {}
    names = frame[name_field] if name_field and name_field in frame.columns else None
    for i, (raw, geom) in enumerate(zip(frame[code_field], frame.geometry, strict=True)):
        before = len(problems)
        code = "" if _missing(raw) else str(raw).strip()
        try:
            check_grid_code(code, settings.grid_code_pattern)
            shown: str | None = code  # only a code that passed the pattern is ever repeated back
        except GridCodeError:
            shown = None
            problems.append(_problem(i, None, code_field, "code", "does not match the grid code pattern"))
        for issue in check_shape(shown or i, geom, max_vertices=settings.grid_max_vertices, region=region):
            problems.append(_problem(i, shown, "geometry", issue.rule, _shape_message(issue.rule, issue.message)))
        if shown is not None and code in rows:
            problems.append(_problem(i, shown, code_field, "duplicate_code", "the code repeats an earlier feature's"))
        name = code if names is None or _missing(names.iloc[i]) else str(names.iloc[i]).strip() or code
        if len(name) > NAME_MAX:
            problems.append(_problem(i, shown, name_field or "name", "name_too_long", f"longer than {NAME_MAX}"))
        broken = len(problems) > before
        community = _community_of(geom, communities) if not broken else None  # GEOS cannot overlay a bad shape
        if community is None and not broken:
            problems.append(_problem(i, shown, "geometry", "outside", "in no community"))
        if shown is not None:
            rows[code] = (geom, name, community)
    if problems:
        raise LayerError(
            f"{len(problems)} feature(s) cannot be imported: " + "; ".join(p["text"] for p in problems[:5]),
            field="file",
            status=422,
        )
    return {code: (geom, name, cid) for code, (geom, name, cid) in rows.items() if cid is not None}  # all, now


def _replace_layer(
    session: Session, rows: dict[str, Row], *, layer: GridLayer, by: str, comment: str, now: datetime
) -> dict[str, int]:
    """Write the checked rows over the layer: counts of created, updated, unchanged and retired grids."""
    existing = {g.code: g for g in session.scalars(select(Grid).where(Grid.layer == layer, Grid.retired_at.is_(None)))}
    retired_before = {
        g.code: g for g in session.scalars(select(Grid).where(Grid.layer == layer, Grid.retired_at.is_not(None)))
    }
    counts = {"created": 0, "updated": 0, "unchanged": 0, "retired": 0}
    for code, (geom, name, community) in rows.items():
        multi = as_multi(geom)
        grid = existing.pop(code, None)
        if grid is None and code in retired_before:  # a code that comes back revives its grid and history
            grid = retired_before[code]
            grid.retired_at = None
            _new_version(grid, multi, name, community, now=now)
            session.flush()
            record_version(session, grid, change=GridChange.CREATE, by=by, comment=comment, now=now)
            counts["created"] += 1
        elif grid is None:
            grid = Grid(
                code=code,
                layer=layer,
                community_id=community,
                name_zh=name,
                name_en=None,
                version=1,
                geom=from_shape(multi, 4326),
                created_at=now,
                updated_at=now,
            )
            session.add(grid)
            session.flush()
            record_version(session, grid, change=GridChange.CREATE, by=by, comment=comment, now=now)
            counts["created"] += 1
        elif not to_shape(grid.geom).equals_exact(multi, 0):
            _new_version(grid, multi, name, community, now=now)
            session.flush()
            record_version(session, grid, change=GridChange.EDIT, by=by, comment=comment, now=now)
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    for grid in existing.values():
        grid.retired_at = now
        close_history(session, grid, now=now)
        counts["retired"] += 1
    return counts


def _new_version(grid: Grid, multi: BaseGeometry, name: str, community: int, *, now: datetime) -> None:
    """The grid's next version: the file's shape, name and community."""
    grid.geom, grid.version = from_shape(multi, 4326), grid.version + 1
    grid.name_zh, grid.community_id, grid.updated_at = name, community, now


# -- comparing and proposing ------------------------------------------------------------------


def _layer(session: Session, layer: GridLayer, community_id: int | None = None) -> list[Grid]:
    query = select(Grid).where(Grid.layer == layer, Grid.retired_at.is_(None)).order_by(Grid.code)
    if community_id is not None:
        query = query.where(Grid.community_id == community_id)
    return list(session.scalars(query))


def compare(
    session: Session,
    *,
    layer: GridLayer,
    against: GridLayer = GridLayer.ONE_NETWORK,
    match_iou: float = 0.9,
    sliver_m2: float = 2000.0,
    building_share: float = 0.05,
) -> dict[str, Any]:
    """Where a department layer and the merged one disagree.

    * ``one_to_one``: pairs whose overlap covers at least ``match_iou`` of their union;
    * ``slivers``: the small pieces (under ``sliver_m2``) where the boundaries disagree;
    * ``split_buildings``: buildings the department's grids cut (each side ≥ ``building_share``).
    """
    dept, merged = _layer(session, layer), _layer(session, against)
    if not dept:
        raise LayerError(f"the {layer.value} layer has no grids; import it first", field="layer", status=404)
    d_geoms = [to_shape(g.geom) for g in dept]
    m_geoms = [to_shape(g.geom) for g in merged]
    projection = LocalProjection.for_geometry(shapely.union_all(d_geoms))
    m_tree = shapely.STRtree(m_geoms)
    one_to_one, slivers = [], []
    for d, dg in zip(dept, d_geoms, strict=True):
        for j in m_tree.query(dg, predicate="intersects"):
            m, mg = merged[int(j)], m_geoms[int(j)]
            inter = dg.intersection(mg)
            inter_m2 = projection.to_metric(inter).area
            union_m2 = projection.to_metric(shapely.union(dg, mg)).area
            if union_m2 and inter_m2 / union_m2 >= match_iou:
                one_to_one.append(
                    {
                        "grid": d.id,
                        "code": d.code,
                        "merged_grid": m.id,
                        "merged_code": m.code,
                        "iou": round(inter_m2 / union_m2, 4),
                    }
                )
            for part in shapely.get_parts(polygonal(inter)):
                area = projection.to_metric(part).area
                if 0.5 < area < sliver_m2:
                    slivers.append(
                        feature(
                            None,
                            part,
                            {
                                "grid": d.id,
                                "code": d.code,
                                "merged_grid": m.id,
                                "merged_code": m.code,
                                "area_m2": round(area, 1),
                            },
                        )
                    )
    split_buildings = []
    d_tree = shapely.STRtree(d_geoms)
    for b in session.scalars(select(Building).where(Building.retired_at.is_(None))):
        footprint = to_shape(b.geom)
        hits = [int(j) for j in d_tree.query(footprint, predicate="intersects")]
        if len(hits) < 2:
            continue
        shares = [footprint.intersection(d_geoms[j]).area / footprint.area for j in hits]
        cut = [dept[j].code for j, s in zip(hits, shares, strict=True) if s >= building_share]
        if len(cut) >= 2:
            split_buildings.append(
                {"building_id": b.id, "name_zh": b.name_zh, "households": b.households, "grids": cut}
            )
    return {
        "layer": layer.value,
        "against": against.value,
        "grids": len(dept),
        "merged_grids": len(merged),
        "one_to_one": one_to_one,
        "slivers": {"type": "FeatureCollection", "features": slivers},
        "split_buildings": split_buildings,
    }


def proposal(
    session: Session,
    *,
    layers: list[GridLayer],
    community_id: int,
    sliver_m2: float = 2000.0,
    households_min: int = 300,
) -> dict[str, Any]:
    """A merged layer built from department layers, ready to preview and apply.

    The department grids are overlaid inside the community; slivers (pieces under ``sliver_m2``)
    join the neighbour they share most boundary with; then pieces with fewer than
    ``households_min`` households join their smallest neighbour until every grid reaches the band
    or has no neighbour left (``geo.topology.merged_layer``).

    The overlay runs on the 1e-7° grid of storage (``geo.topology.OVERLAY_GRID_DEG``), while merging
    two grids (``merge_neighbours``) no longer rounds to it; kept as it is, so proposals stay as before.
    """
    community = session.get(Area, community_id)
    if community is None or community.level is not AreaLevel.COMMUNITY:
        raise LayerError(f"no community with id {community_id}", field="community_id", status=404)
    region = to_shape(community.geom)
    projection = LocalProjection.for_geometry(region)
    region = shapely.set_precision(region, OVERLAY_GRID_DEG)
    department_grids = []
    for layer in layers:
        grids = clip_to_region([to_shape(g.geom) for g in _layer(session, layer)], region, projection)
        if not grids:
            raise LayerError(f"the {layer.value} layer has no grids in this community", field="layers", status=404)
        department_grids.append(grids)
    # a footprint's inner point, not the building's anchor (entrance): as the edit impact counts it
    live = select(Building).where(Building.retired_at.is_(None))
    homes = [(b.households, to_shape(b.geom).representative_point()) for b in session.scalars(live)]
    pieces = merged_layer(
        region, department_grids, homes, projection=projection, sliver_m2=sliver_m2, households_min=households_min
    )
    features = [
        feature(None, as_multi(p), {"households": h, "area_m2": round(projection.to_metric(p).area, 1)})
        for p, h in pieces
    ]
    return {
        "type": "FeatureCollection",
        "community_id": community_id,
        "layers": [lay.value for lay in layers],
        "features": features,
    }


# -- export ------------------------------------------------------------------------------------


def export_frame(session: Session, *, layer: GridLayer) -> gpd.GeoDataFrame:
    grids = _layer(session, layer)
    records = [
        {
            "id": g.id,
            "code": g.code,
            "name_zh": g.name_zh,
            "name_en": g.name_en or "",
            "layer": g.layer.value,
            "community_id": g.community_id,
            "version": g.version,
            "geometry": to_shape(g.geom),
        }
        for g in grids
    ]
    if not records:
        columns = {
            "id": "int64",
            "code": "object",
            "name_zh": "object",
            "name_en": "object",
            "layer": "object",
            "community_id": "int64",
            "version": "int64",
        }
        return gpd.GeoDataFrame(
            {k: pd.Series(dtype=v) for k, v in columns.items()}, geometry=gpd.GeoSeries([], crs="EPSG:4326")
        )
    frame = gpd.GeoDataFrame(records, geometry="geometry", crs="EPSG:4326")
    return frame.astype({"id": "int64", "community_id": "int64", "version": "int64"})


def export_bytes(session: Session, *, layer: GridLayer, fmt: str) -> tuple[bytes, str, str]:
    """(content, media type, file name)."""
    frame = export_frame(session, layer=layer)
    if fmt == "geojson":
        body = {
            "type": "FeatureCollection",
            "features": [
                feature(
                    int(r.id),
                    r.geometry,
                    {k: getattr(r, k) for k in ("code", "name_zh", "name_en", "layer", "community_id", "version")},
                )
                for r in frame.itertuples(index=False)
            ],
        }
        return json.dumps(body, ensure_ascii=False).encode(), "application/geo+json", f"grids-{layer.value}.geojson"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"grids-{layer.value}.gpkg"
        frame.to_file(path, layer="grids", driver="GPKG", engine="pyogrio")
        return path.read_bytes(), "application/geopackage+sqlite3", path.name
