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
from geo.topology import as_multi, check_shape, polygonal
from service.areas.models import Area, AreaLevel
from service.buildings.models import Building
from service.common.geojson import feature
from service.common.layer_cache import GRIDS
from service.common.revisions import bump_revision
from service.common.vectorfiles import Limits, VectorFileError, read_vector_file
from service.config import Settings
from service.events.outbox import publish
from service.grids.history import close_history, record_version
from service.grids.models import Grid, GridChange, GridLayer
from service.grids.service import check_grid_code

FORMATS = {"geojson", "gpkg", "shp"}


class LayerError(ValueError):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


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
        raise LayerError(exc.status, str(exc), exc.field) from None
    if frame.empty:
        raise LayerError(422, "the file holds no features", "file")
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
    if layer is GridLayer.ONE_NETWORK:
        raise LayerError(422, "the merged layer is edited, not imported; import a department layer", "layer")
    if not comment or not comment.strip():
        raise LayerError(422, "a comment saying why is required", "comment")
    if code_field not in frame.columns:
        raise LayerError(422, f"the file has no {code_field!r} column; say which holds the grid code", "code_field")
    communities = [
        (a.id, to_shape(a.geom)) for a in session.scalars(select(Area).where(Area.level == AreaLevel.COMMUNITY))
    ]
    region = shapely.union_all([g for _, g in communities]) if communities else None
    problems: list[dict[str, Any]] = []
    rows: dict[str, tuple[BaseGeometry, str, int]] = {}
    names = frame[name_field] if name_field and name_field in frame.columns else None
    for i, (raw, geom) in enumerate(zip(frame[code_field], frame.geometry, strict=True)):
        before = len(problems)
        code = "" if _missing(raw) else str(raw).strip()
        try:
            check_grid_code(code, settings.grid_code_pattern)
            shown = code  # only a code that passed the pattern is ever repeated back
        except ValueError:
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
            422,
            f"{len(problems)} feature(s) cannot be imported: " + "; ".join(p["text"] for p in problems[:5]),
            "file",
        )

    existing = {g.code: g for g in session.scalars(select(Grid).where(Grid.layer == layer, Grid.retired_at.is_(None)))}
    retired_before = {
        g.code: g for g in session.scalars(select(Grid).where(Grid.layer == layer, Grid.retired_at.is_not(None)))
    }
    created = updated = retired = unchanged = 0
    for code, (geom, name, community) in rows.items():
        multi = as_multi(geom)
        grid = existing.pop(code, None)
        if grid is None and code in retired_before:  # a code that comes back revives its grid and history
            grid = retired_before[code]
            grid.retired_at, grid.geom, grid.version = None, from_shape(multi, 4326), grid.version + 1
            grid.name_zh, grid.community_id, grid.updated_at = name, community, now
            session.flush()
            record_version(session, grid, change=GridChange.CREATE, by=by, comment=comment, now=now)
            created += 1
            continue
        if grid is None:
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
            created += 1
        elif not to_shape(grid.geom).equals_exact(multi, 0):
            grid.geom, grid.version, grid.name_zh, grid.community_id = (
                from_shape(multi, 4326),
                grid.version + 1,
                name,
                community,
            )
            grid.updated_at = now
            session.flush()
            record_version(session, grid, change=GridChange.EDIT, by=by, comment=comment, now=now)
            updated += 1
        else:
            unchanged += 1
    for grid in existing.values():
        grid.retired_at = now
        close_history(session, grid, now=now)
        retired += 1
    session.flush()
    bump_revision(session, GRIDS)
    publish(session, "grid.changed", {"layer": layer.value, "imported": True})
    return {"layer": layer.value, "created": created, "updated": updated, "unchanged": unchanged, "retired": retired}


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
        raise LayerError(404, f"the {layer.value} layer has no grids; import it first", "layer")
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
    for b in session.scalars(select(Building)):
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
    or has no neighbour left.
    """
    community = session.get(Area, community_id)
    if community is None or community.level is not AreaLevel.COMMUNITY:
        raise LayerError(404, f"no community with id {community_id}", "community_id")
    region = to_shape(community.geom)
    projection = LocalProjection.for_geometry(region)
    # Every overlay runs on the 1e-7° grid of storage and GeoJSON, so the pieces come out exactly
    # as they are written (rounding cannot make them invalid) and microscopic slivers collapse.
    grid_size = 1e-7
    region = shapely.set_precision(region, grid_size)
    pieces: list[BaseGeometry] = [region]
    for layer in layers:
        grids = [
            polygonal(shapely.intersection(to_shape(g.geom), region, grid_size=grid_size))
            for g in _layer(session, layer)
        ]
        grids = [g for g in grids if not g.is_empty and projection.to_metric(g).area > 1]
        if not grids:
            raise LayerError(404, f"the {layer.value} layer has no grids in this community", "layers")
        cut = []
        for piece in pieces:
            inside = [polygonal(shapely.intersection(piece, g, grid_size=grid_size)) for g in grids]
            covered = shapely.union_all(inside, grid_size=grid_size)
            cut.extend(polygonal(x) for x in inside)
            rest = shapely.difference(piece, covered, grid_size=grid_size)
            if not rest.is_empty:
                cut.append(polygonal(rest))
        pieces = [p for c in cut for p in shapely.get_parts(polygonal(c)) if not p.is_empty]
    buildings = [(b.households, to_shape(b.geom).representative_point()) for b in session.scalars(select(Building))]

    def households(geom: BaseGeometry) -> int:
        return sum(h for h, p in buildings if geom.covers(p))

    def absorb(small: bool) -> None:
        changed = True
        while changed:
            changed = False
            for i, piece in enumerate(pieces):
                area = projection.to_metric(piece).area
                too_small = area < sliver_m2 if small else households(piece) < households_min
                if not too_small:
                    continue
                neighbours = [
                    (projection.to_metric(piece.boundary.intersection(other.boundary)).length, households(other), j)
                    for j, other in enumerate(pieces)
                    if j != i
                ]
                touching = [n for n in neighbours if n[0] > 0.5]
                if not touching and small:  # a speck touching only at corners: the nearest piece takes it
                    nearest = min((piece.distance(other), j) for j, other in enumerate(pieces) if j != i)[1]
                    touching = [(0.0, 0, nearest)]
                if not touching:
                    continue
                target = max(touching)[2] if small else min(touching, key=lambda n: (n[1], -n[0]))[2]
                pieces[target] = polygonal(shapely.union(pieces[target], piece, grid_size=grid_size))
                del pieces[i]
                changed = True
                break

    absorb(small=True)
    absorb(small=False)
    features = [
        feature(None, as_multi(p), {"households": households(p), "area_m2": round(projection.to_metric(p).area, 1)})
        for p in sorted(pieces, key=lambda g: (-g.centroid.y, g.centroid.x))
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
