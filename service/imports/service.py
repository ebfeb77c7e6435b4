"""One import path for every kind: read the file, map its columns, convert its coordinates, check
every feature, and save all of it or nothing.

The API (``POST /api/v1/imports/{kind}``), the CLI (``neighborgrid import``) and the demo loader all
call ``run_import``; it never commits: the caller commits, or rolls back a dry run or a refusal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.errors import GeoInputError
from geo.sourcecrs import SourceCRS, bad_rows, parse_coord_type, resolve_crs, to_wgs84
from geo.topology import as_multi, polygonal
from service.areas.models import Area
from service.audit.service import audit
from service.common.errors import Invalid, NotFound
from service.common.spatial import box_overlaps
from service.common.vectorfiles import Limits
from service.config import Settings
from service.grids.models import Grid, GridLayer
from service.imports.context import Feature, ImportContext
from service.imports.models import ImportRun
from service.imports.options import ImportOptions
from service.imports.readers import SourceTable, read_source
from service.imports.registry import KINDS
from service.imports.report import ImportRefused, Report
from service.imports.spec import KindSpec
from service.imports.values import BadValue, blank, parse_value

POLYGONAL = (Polygon, MultiPolygon)


def kind_spec(kind: str) -> KindSpec:
    """The kind's spec; NotFound naming ``kind`` for any other name."""
    spec = KINDS.get(kind)
    if spec is None:
        raise NotFound(f"no import kind {kind!r}; the kinds are {', '.join(KINDS)}", field="kind")
    return spec


def import_limits(settings: Settings) -> Limits:
    """The caps on one imported file, from the settings."""
    return Limits(
        upload_bytes=settings.import_upload_max_bytes,
        unpacked_bytes=settings.import_unpacked_max_bytes,
        features=settings.import_max_features,
        vertices=settings.import_max_vertices,
        tmp_dir=settings.layer_tmp_dir,
    )


@contextmanager
def settled(session: Session, *, dry_run: bool) -> Iterator[None]:
    """How an edge (the route, the CLI) ends an import's transaction: a refusal or any error rolls
    back, a dry run rolls back, anything else commits. One rule, so a dry run never saves."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    if dry_run:
        session.rollback()
    else:
        session.commit()


def run_import(
    session: Session,
    *,
    kind: str,
    data: bytes,
    filename: str,
    options: ImportOptions,
    by: str,
    actor: Any | None,
    now: Any,
    settings: Settings,
) -> dict[str, Any]:
    """Import ``data`` as ``kind``: the report (ImportRefused, 422 with the report, when any feature
    breaks a rule). Everything happens in the caller's transaction; nothing is committed here."""
    spec = kind_spec(kind)
    if not options.dry_run and blank(options.comment):
        raise Invalid("a comment saying why is required to save an import (or send dry_run)", field="comment")
    table = read_source(
        data, filename=filename, encoding=options.encoding, limits=import_limits(settings), sheet=options.sheet
    )
    source = _source_crs(spec, table, options)
    report = Report(kind=spec.name, dry_run=options.dry_run)
    report.source = {
        "filename": filename,
        "format": table.format,
        "features": len(table.rows),
        "crs": source.label if source is not None else None,
        "encoding": table.encoding,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    run = ImportRun(
        kind=spec.name,
        at=now,
        by=by,
        comment=(options.comment or "dry run").strip(),
        filename=filename[:255] or None,
        sha256=report.source["sha256"],
        retire_missing=options.retire_missing,
        counts={},
        warnings=0,
    )
    session.add(run)
    session.flush()
    ctx = ImportContext(
        session=session, settings=settings, options=options, report=report, now=now, by=by, run=run, source=source
    )
    if table.encoding_guessed:
        ctx.warn(
            None,
            "encoding",
            "encoding_guessed",
            f"the file does not say its text encoding; it was read as {table.encoding}. "
            "If names look wrong, send encoding (e.g. gbk or utf-8).",
        )
    columns = _columns(ctx, spec, table)
    if report.problems:
        raise ImportRefused(report)
    if not table.rows:
        ctx.problem(None, "file", "empty", "the file holds no features")
        raise ImportRefused(report)
    ctx.features = _features(ctx, spec, table, columns)
    if spec.geometry != "none":
        _crs_offset(ctx)  # against the city as stored, before this import changes it
    spec.run(ctx)
    if report.problems:
        raise ImportRefused(report)
    run.counts = dict(report.counts)
    run.warnings = len(report.warnings)
    report.run_id = run.id
    audit(
        session,
        actor=actor,
        action="import",
        entity=f"import:{spec.name}",
        entity_id=run.id,
        after={"counts": run.counts, "warnings": run.warnings, "filename": filename, "sha256": run.sha256},
        now=now,
    )
    return report.as_dict()


# -- coordinates -----------------------------------------------------------------------------


def _source_crs(spec: KindSpec, table: SourceTable, options: ImportOptions) -> SourceCRS | None:
    """The file's coordinate system: its own when it states a projected one, else the declaration
    (required: a GCJ-02 file read as WGS84 lands hundreds of metres off, silently)."""
    has_geometry = any(g is not None for g in table.geoms) or bool(table.geom_errors)
    if spec.geometry == "none" or (spec.geometry == "optional_point" and not has_geometry):
        return None
    try:
        declared = parse_coord_type(options.coord_type) if options.coord_type else None
        return resolve_crs(declared, table.crs, explicit=table.crs_explicit)
    except GeoInputError as exc:
        raise Invalid(str(exc), field="coord_type") from None


# -- columns and values ----------------------------------------------------------------------


def _columns(ctx: ImportContext, spec: KindSpec, table: SourceTable) -> dict[str, str]:
    """Which file column holds each field: the mapping's choice, else the first alias present."""
    by_lower = {c.strip().lower(): c for c in table.columns}
    chosen: dict[str, str] = {}
    if "parent" in ctx.options.mapping and "parent" not in spec.fields and "community" in spec.fields:
        ctx.options.mapping["community"] = ctx.options.mapping.pop("parent")  # parent_field names a grid's area
    for name in ctx.options.mapping:
        if name not in spec.fields:
            ctx.problem(
                None,
                f"mapping.{name}",
                "unknown_field",
                f"{spec.name} has no field {name!r}; its fields are " + ", ".join(spec.fields),
            )
    for name, field in spec.fields.items():
        wanted = ctx.options.mapping.get(name)
        if wanted is not None:
            column = by_lower.get(wanted.lower())
            if column is None:
                ctx.problem(
                    None, f"mapping.{name}", "unknown_column", f"the file has no column {wanted!r} (mapping.{name})"
                )
                continue
            chosen[name] = column
            continue
        column = next((by_lower[a.lower()] for a in field.aliases if a.lower() in by_lower), None)
        if column is not None:
            chosen[name] = column
        elif field.required and not (name == "level" and ctx.options.level is not None):
            ctx.problem(
                None,
                name,
                "missing_column",
                f"the file has no column for {name} (tried {', '.join(field.aliases[:6])}); "
                f"say which column holds it with mapping.{name}",
            )
    return chosen


def _features(ctx: ImportContext, spec: KindSpec, table: SourceTable, columns: dict[str, str]) -> list[Feature]:
    """Every row as a Feature: typed values, the geometry converted to WGS84 and checked."""
    raws = np.array(table.geoms, dtype=object) if spec.geometry != "none" else np.full(len(table.rows), None)
    wgs = to_wgs84(raws, ctx.source) if ctx.source is not None else raws
    off = set(bad_rows(wgs)) if ctx.source is not None else set()
    features = []
    for i, row in enumerate(table.rows):
        feature = Feature(index=i, values={}, raw=raws[i] if raws[i] is not None else None)
        features.append(feature)
        for name, column in columns.items():
            try:
                feature.values[name] = parse_value(row.get(column), spec.fields[name])
            except BadValue as exc:
                ctx.problem(feature, name, "bad_value", f"{name} (column {column!r}) {exc}")
        for name, field in spec.fields.items():
            if field.required and feature.values.get(name) is None and name in columns:
                ctx.problem(feature, name, "missing", f"{name} is empty")
        if spec.geometry == "none":
            continue
        if i in table.geom_errors:
            column, message = table.geom_errors[i]
            ctx.problem(feature, column, "bad_coordinates", message)
            continue
        if i in off:
            ctx.problem(
                feature, "geometry", "bad_coordinates", "the coordinates do not convert to a valid WGS84 position"
            )
            continue
        feature.geom = _checked_geometry(ctx, spec, feature, wgs[i])
    return features


def _checked_geometry(ctx: ImportContext, spec: KindSpec, feature: Feature, geom: BaseGeometry | None):
    """The feature's geometry as the kind stores it, or None after recording why it cannot be."""
    if geom is None or geom.is_empty:
        if spec.geometry in ("polygon", "point"):
            ctx.problem(feature, "geometry", "missing_geometry", "the feature has no geometry")
        return None
    if spec.geometry == "polygon":
        if not isinstance(geom, POLYGONAL):
            ctx.problem(
                feature, "geometry", "wrong_geometry_type", f"must be a Polygon or MultiPolygon, not a {geom.geom_type}"
            )
            return None
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom).split("[", 1)[0].strip()
            repaired = as_multi(polygonal(shapely.make_valid(geom)))
            if not ctx.options.repair or repaired.is_empty:
                ctx.problem(
                    feature,
                    "geometry",
                    "invalid_geometry",
                    f"the polygon is invalid ({reason}); accept make_valid's repair (shown) "
                    "with the repair option (repair=true, --repair)",
                    repair=repaired if not repaired.is_empty else None,
                )
                return None
            ctx.warn(feature, "geometry", "repaired", f"the invalid polygon ({reason}) was repaired by make_valid")
            geom = repaired
        return as_multi(geom)
    if geom.geom_type == "MultiPoint" and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    if not isinstance(geom, Point):
        ctx.problem(feature, "geometry", "wrong_geometry_type", f"must be a Point, not a {geom.geom_type}")
        return None
    return geom


# -- the layer as a whole ---------------------------------------------------------------------


def _crs_offset(ctx: ImportContext) -> None:
    """Warn when the layer sits a near-constant 100-800 m off the city's existing layers, the way
    GCJ-02 or BD-09 coordinates read as WGS84 would (or WGS84 converted twice)."""
    from geo.layerchecks import crs_offset

    geoms = [f.geom for f in ctx.features if f.geom is not None]
    if not geoms:
        return
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(geoms, dtype=object))
    frame = shapely.box(minx - 0.02, miny - 0.02, maxx + 0.02, maxy + 0.02)
    reference = [
        to_shape(value)
        for column, live in (
            (Area.geom, Area.retired_at.is_(None)),
            (Grid.geom, Grid.retired_at.is_(None) & (Grid.layer == GridLayer.ONE_NETWORK)),
        )
        for value in ctx.session.scalars(select(column).where(live, box_overlaps(ctx.session, column, frame)))
    ]
    if not reference:
        return
    declared = ctx.source.kind if ctx.source is not None and ctx.source.kind in ("gcj02", "bd09") else "wgs84"
    found = crs_offset(geoms, reference, declared=declared)
    if found is not None:
        ctx.warn(
            None,
            "coord_type",
            "crs_offset",
            found.message + " (the city's existing areas and grids)",
            where=found.where,
        )
