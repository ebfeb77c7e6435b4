"""Saving features by their code: unchanged stays unchanged, changed gets a new version (its earlier
state kept), new is created, and what the file no longer lists is retired only when asked.

One function for every kind, so re-importing the same file is idempotent everywhere in the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry

from service.imports.context import Feature, ImportContext

E = TypeVar("E")

#: Geometries closer than this (degrees, about 0.1 mm) are the same: a re-import changes nothing.
SAME_GEOMETRY_DEG = 1e-9


@dataclass
class Wanted:
    """What one feature of the file says an entity should hold: comparable, JSON-able properties
    (columns and the codes of related rows) and its main geometry in WGS84."""

    code: str
    props: dict[str, Any]
    geom: BaseGeometry | None
    feature: Feature | None = None


def same_geometry(a: BaseGeometry | None, b: BaseGeometry | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.geom_type == b.geom_type and a.equals_exact(b, SAME_GEOMETRY_DEG)


def stored_shape(value: Any) -> BaseGeometry | None:
    """A stored geometry column as shapely (None stays None)."""
    return None if value is None else to_shape(value)


def save_by_code(
    ctx: ImportContext,
    *,
    wanted: Iterable[Wanted],
    current: Mapping[str, E],
    retired: Mapping[str, E] | None = None,
    snapshot: Callable[[E], tuple[dict[str, Any], BaseGeometry | None]],
    create: Callable[[Wanted], E],
    apply: Callable[[E, Wanted], None],
    retire: Callable[[E], None] | None = None,
    revive: Callable[[E], None] | None = None,
    versioned: bool = True,
) -> dict[str, E]:
    """Save each wanted feature over the entity with its code; returns every entity the file names,
    by code. Counts created/updated/unchanged/retired in the report. Does not commit.

    ``snapshot(entity)`` must give the same form as ``Wanted.props``/``geom``; ``create`` builds a
    new entity (added here), ``apply`` writes a wanted state onto an entity. ``retire`` (default:
    set ``retired_at``) is used for current codes the file no longer lists when the options ask for it."""
    retired = retired or {}
    saved: dict[str, E] = {}
    for w in wanted:
        entity = current.get(w.code)
        if entity is None and w.code in retired:  # a code that comes back revives its entity and history
            entity = retired[w.code]
            _keep(ctx, entity, w.code, "retire-revived", snapshot, versioned)
            (revive or _unretire)(entity)
            apply(entity, w)
            _bump(entity, ctx, versioned)
            ctx.count("created")
        elif entity is None:
            entity = create(w)
            ctx.session.add(entity)
            ctx.count("created")
        else:
            props, geom = snapshot(entity)
            if props == w.props and same_geometry(geom, w.geom):
                ctx.count("unchanged")
            else:
                _keep(ctx, entity, w.code, "edit", snapshot, versioned)
                apply(entity, w)
                _bump(entity, ctx, versioned)
                ctx.count("updated")
        saved[w.code] = entity
    if ctx.options.retire_missing:
        for code, entity in current.items():
            if code in saved:
                continue
            _keep(ctx, entity, code, "retire", snapshot, versioned)
            (retire or (lambda e: setattr(e, "retired_at", ctx.now)))(entity)
            ctx.count("retired")
    ctx.session.flush()
    return saved


def _unretire(entity: Any) -> None:
    entity.retired_at = None


def _bump(entity: Any, ctx: ImportContext, versioned: bool) -> None:
    if versioned:
        entity.version = (entity.version or 1) + 1
    if hasattr(entity, "updated_at"):
        entity.updated_at = ctx.now


def _keep(ctx: ImportContext, entity: Any, code: str, change: str, snapshot, versioned: bool) -> None:
    props, geom = snapshot(entity)
    ctx.keep_version(
        entity_id=entity.id,
        code=code,
        version=getattr(entity, "version", 1) if versioned else 1,
        change=change,
        properties=props,
        geom=geom,
    )
