"""The OGC API's data work: reading the items query, a collection's extent, a page of its features
and one feature, each through the collection's provider (so a caller sees only what it may read).

Refusals are :class:`OgcError`, a domain error in OGC's own terms: the OGC routes answer them in
the OGC API exception format (``{code, description}``), not as problem+json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from geo.bbox import BBox, parse_bbox
from geo.errors import GeoInputError
from service.auth.models import User
from service.common.errors import DomainError
from service.common.params import MAX_OFFSET
from service.common.spatial import intersects
from service.common.times import parse_iso
from service.config import Settings
from service.grids.history import features_at
from service.grids.models import GridLayer
from service.ogc.providers import PROVIDERS, Provider

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000
ITEM_PARAMS = {"limit", "offset", "bbox", "datetime", "f"}
MAX_INT = 2**31 - 1


class OgcError(DomainError):
    """A refusal with an OGC exception ``code`` (``InvalidParameterValue``: 400 by default)."""

    def __init__(self, description: str, *, code: str = "InvalidParameterValue", status: int = 400) -> None:
        super().__init__(description, status=status)
        self.code = code
        self.description = description


class OgcNotFound(OgcError):
    """No such collection or feature (404, ``NotFound``)."""

    def __init__(self, description: str) -> None:
        super().__init__(description, code="NotFound", status=404)


@dataclass(frozen=True)
class ItemsQuery:
    """The paging, bbox and time of an items request; property filters stay in ``params``."""

    params: Mapping[str, str]
    limit: int
    offset: int
    bbox: BBox | None
    when: tuple[datetime | None, datetime | None] | None


def provider_of(collection_id: str) -> Provider:
    provider = PROVIDERS.get(collection_id)
    if provider is None:
        raise OgcNotFound(f"no collection {collection_id!r}")
    return provider


def check_f(params: Mapping[str, str], allowed: tuple[str, ...] = ("json",)) -> None:
    f = params.get("f")
    if f is not None and f not in allowed:
        raise OgcError(f"f must be one of {', '.join(allowed)}")


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise OgcError(f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _bbox(params: Mapping[str, str]) -> BBox | None:
    """``bbox`` in CRS84; with heights (6 numbers) the heights are dropped."""
    if "bbox" not in params:
        return None
    raw = params["bbox"]
    parts = raw.split(",")
    if len(parts) == 6:
        raw = ",".join([parts[0], parts[1], parts[3], parts[4]])
    try:
        return parse_bbox(raw)
    except GeoInputError as exc:
        raise OgcError(str(exc)) from None


def _datetime(value: str | None) -> tuple[datetime | None, datetime | None] | None:
    """RFC 3339 instant or interval (``a/b``, ``../b``, ``a/..``)."""
    if value is None:
        return None

    def parse(text: str) -> datetime | None:
        return None if text in ("", "..") else parse_iso(text)

    try:
        if "/" in value:
            start, end = value.split("/", 1)
            return parse(start), parse(end)
        instant = parse(value)
        return instant, instant
    except ValueError:
        raise OgcError("datetime must be RFC 3339 (instant or interval)") from None


def items_query(provider: Provider, params: Mapping[str, str]) -> ItemsQuery:
    """Read an items request's parameters; an unknown one or a bad value is a 400."""
    unknown = set(params) - ITEM_PARAMS - set(provider.queryables)
    if unknown:
        raise OgcError(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    check_f(params, ("json", "geojson"))
    return ItemsQuery(
        params=params,
        limit=_int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int_param(params, "offset", 0, 0, MAX_OFFSET),
        bbox=_bbox(params),
        when=_datetime(params.get("datetime")),
    )


def extent(
    session: Session, *, provider: Provider, viewer: User | None, settings: Settings, now: datetime
) -> dict[str, Any]:
    """The bounding box of what ``viewer`` may read of the collection (never of hidden rows)."""
    query = provider.query(session, viewer, settings, now)
    geoms = [
        to_shape(g)
        for g in session.scalars(query.with_only_columns(provider.geometry).where(provider.geometry.is_not(None)))
    ]
    bbox = list(shapely.union_all([shapely.envelope(g) for g in geoms]).bounds) if geoms else [-180, -90, 180, 90]
    found: dict[str, Any] = {"spatial": {"bbox": [[round(v, 7) for v in bbox]], "crs": CRS84}}
    if provider.temporal is not None:
        found["temporal"] = {"interval": [[None, None]], "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    return found


def _grid_history_page(session: Session, query: ItemsQuery) -> tuple[int, list[dict]]:
    """The grids as they stood at the query's time (its end, else its start), of ``layer``."""
    assert query.when is not None
    at = query.when[1] or query.when[0] or datetime.now(UTC)
    layer = query.params.get("layer", GridLayer.ONE_NETWORK.value)
    try:
        features = features_at(session, at=at, layer=GridLayer(layer))
    except ValueError:
        raise OgcError("layer is not a grid layer") from None
    if query.bbox is not None:
        box = query.bbox.polygon()
        features = [f for f in features if shapely.geometry.shape(f["geometry"]).intersects(box)]
    return len(features), features[query.offset : query.offset + query.limit]


def _filtered(provider: Provider, select_: Select, params: Mapping[str, str]) -> Select:
    """``select_`` narrowed by the queryable properties given (``?status=submitted``)."""
    for name, (column, kind) in provider.queryables.items():
        if name not in params:
            continue
        value: Any = params[name]
        if kind == "integer":
            if not value.isdigit() or int(value) > MAX_INT:
                raise OgcError(f"{name} must be an integer")
            value = int(value)
        allowed = getattr(getattr(column, "type", None), "enums", None)
        if allowed and value not in allowed:
            raise OgcError(f"{name} must be one of {', '.join(allowed)}")
        select_ = select_.where(column == value)
    return select_


def _collection_page(
    session: Session, provider: Provider, query: ItemsQuery, viewer: User | None, settings: Settings, now: datetime
) -> tuple[int, list[dict]]:
    """The stored rows the caller may read, filtered by property, bbox and time, one page of them."""
    select_ = _filtered(provider, provider.query(session, viewer, settings, now), query.params)
    if query.bbox is not None:
        select_ = select_.where(intersects(session, provider.geometry, query.bbox.polygon()))
    if query.when is not None and provider.temporal is not None:
        start, end = query.when
        if start is not None:
            select_ = select_.where(provider.temporal >= start)
        if end is not None:
            select_ = select_.where(provider.temporal <= end)
    matched = session.scalar(select(func.count()).select_from(select_.order_by(None).subquery())) or 0
    rows = list(session.scalars(select_.order_by(provider.id_column()).limit(query.limit).offset(query.offset)))
    return matched, provider.to_features(session, rows, viewer, settings)


def items_page(
    session: Session,
    *,
    provider: Provider,
    query: ItemsQuery,
    viewer: User | None,
    settings: Settings,
    now: datetime,
) -> tuple[int, list[dict]]:
    """(features matched, the page's features); grids with a time are read from their history."""
    if provider.id == "grids" and query.when is not None:
        return _grid_history_page(session, query)
    return _collection_page(session, provider, query, viewer, settings, now)


def feature_of(
    session: Session,
    *,
    provider: Provider,
    feature_id: str,
    viewer: User | None,
    settings: Settings,
    now: datetime,
) -> dict[str, Any]:
    """One feature; one the caller may not read is as missing as one that does not exist."""
    missing = OgcNotFound(f"no feature {feature_id!r} in {provider.id}")
    if not feature_id.isdigit() or not 1 <= int(feature_id) <= MAX_INT:
        raise missing
    row = session.scalar(provider.query(session, viewer, settings, now).where(provider.id_column() == int(feature_id)))
    if row is None:
        raise missing
    return provider.to_features(session, [row], viewer, settings)[0]
