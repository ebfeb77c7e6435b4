"""OGC API - Features, Part 1 Core, at ``/ogc``: what QGIS, GDAL and OWSLib read.

Items are ``application/geo+json`` with ``numberMatched``/``numberReturned`` and ``next``/``prev``
links; an unknown query parameter or a bad value gets 400, an unknown collection or feature 404
(OGC's own exception JSON: ``{code, description}``). The OpenAPI document at ``/ogc/api`` is
OpenAPI 3.0 (we claim the ``oas30`` class because it is), generated from the providers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import shapely
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select

from geo.bbox import parse_bbox
from geo.errors import GeoInputError
from service.auth.models import User
from service.common.links import HostNotAllowed, public_base
from service.common.params import MAX_OFFSET
from service.common.spatial import intersects
from service.common.times import parse_iso
from service.config import Settings
from service.deps import ClockDep, ReadSession, SettingsDep
from service.grids.history import features_at
from service.grids.models import GridLayer
from service.ogc.providers import PROVIDERS, Provider
from service.requests import access

router = APIRouter(prefix="/ogc", tags=["ogc-api-features"])

GEOJSON = "application/geo+json"
JSON = "application/json"
OAS30 = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000
ITEM_PARAMS = {"limit", "offset", "bbox", "datetime", "f"}


class OgcError(Exception):
    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


def _root(request: Request, settings: Settings) -> str:
    """The service's base URL for links (``public_url``, or an allowed Host; else a 400)."""
    try:
        return public_base(request, settings)
    except HostNotAllowed as exc:
        raise OgcError(400, "InvalidParameterValue", str(exc)) from None


def _base(request: Request, settings: Settings) -> str:
    return _root(request, settings) + "/ogc"


def _json(body: dict, media_type: str = JSON) -> JSONResponse:
    return JSONResponse(body, media_type=media_type)


def _provider(collection_id: str) -> Provider:
    provider = PROVIDERS.get(collection_id)
    if provider is None:
        raise OgcError(404, "NotFound", f"no collection {collection_id!r}")
    return provider


def _check_f(request: Request, allowed=("json",)) -> None:
    f = request.query_params.get("f")
    if f is not None and f not in allowed:
        raise OgcError(400, "InvalidParameterValue", f"f must be one of {', '.join(allowed)}")


@router.get("", summary="OGC API landing page")
@router.get("/", summary="OGC API landing page", include_in_schema=False)
def landing(request: Request, settings: SettingsDep) -> JSONResponse:
    _check_f(request)
    base = _base(request, settings)
    return _json(
        {
            "title": "neighborgrid OGC API - Features",
            "description": "Grids, buildings, stations, service circles and open requests of the community",
            "links": [
                {"href": f"{base}/", "rel": "self", "type": JSON, "title": "this document"},
                {"href": f"{base}/api", "rel": "service-desc", "type": OAS30, "title": "the API definition"},
                {
                    "href": _root(request, settings) + "/docs",
                    "rel": "service-doc",
                    "type": "text/html",
                    "title": "the API documentation",
                },
                {"href": f"{base}/conformance", "rel": "conformance", "type": JSON, "title": "conformance classes"},
                {"href": f"{base}/collections", "rel": "data", "type": JSON, "title": "the collections"},
            ],
        }
    )


@router.get("/conformance", summary="OGC API conformance classes")
def conformance(request: Request) -> JSONResponse:
    _check_f(request)
    return _json({"conformsTo": CONFORMANCE})


def _extent(session, provider: Provider, viewer: User | None, settings: Settings, now: datetime) -> dict[str, Any]:
    """The bounding box of what ``viewer`` may read of the collection (never of hidden rows)."""
    query = provider.query(session, viewer, settings, now)
    geoms = [
        to_shape(g)
        for g in session.scalars(query.with_only_columns(provider.geometry).where(provider.geometry.is_not(None)))
    ]
    bbox = list(shapely.union_all([shapely.envelope(g) for g in geoms]).bounds) if geoms else [-180, -90, 180, 90]
    extent: dict[str, Any] = {"spatial": {"bbox": [[round(v, 7) for v in bbox]], "crs": CRS84}}
    if provider.temporal is not None:
        extent["temporal"] = {"interval": [[None, None]], "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    return extent


def _collection(
    session, request: Request, provider: Provider, settings: Settings, now: datetime, viewer: User | None
) -> dict[str, Any]:
    base = _base(request, settings)
    return {
        "id": provider.id,
        "title": provider.title,
        "description": provider.description,
        "keywords": provider.keywords,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": _extent(session, provider, viewer, settings, now),
        "links": [
            {"href": f"{base}/collections/{provider.id}", "rel": "self", "type": JSON, "title": provider.title},
            {
                "href": f"{base}/collections/{provider.id}/items",
                "rel": "items",
                "type": GEOJSON,
                "title": f"{provider.title} (GeoJSON)",
            },
        ],
    }


@router.get("/collections", summary="OGC API collections")
def collections(request: Request, session: ReadSession, settings: SettingsDep, clock: ClockDep) -> JSONResponse:
    _check_f(request)
    base = _base(request, settings)
    now, viewer = clock(), access.signed_in_caller(request, session, settings)
    return _json(
        {
            "links": [{"href": f"{base}/collections", "rel": "self", "type": JSON, "title": "collections"}],
            "collections": [_collection(session, request, p, settings, now, viewer) for p in PROVIDERS.values()],
        }
    )


@router.get("/collections/{collection_id}", summary="One OGC API collection")
def collection(
    collection_id: str, request: Request, session: ReadSession, settings: SettingsDep, clock: ClockDep
) -> JSONResponse:
    _check_f(request)
    viewer = access.signed_in_caller(request, session, settings)
    return _json(_collection(session, request, _provider(collection_id), settings, clock(), viewer))


def _datetime(value: str | None) -> tuple[datetime | None, datetime | None] | None:
    """RFC 3339 instant or interval (``a/b``, ``../b``, ``a/..``)."""
    if value is None:
        return None

    def parse(text: str) -> datetime | None:
        if text in ("", ".."):
            return None
        return parse_iso(text)

    try:
        if "/" in value:
            start, end = value.split("/", 1)
            return parse(start), parse(end)
        instant = parse(value)
        return instant, instant
    except ValueError:
        raise OgcError(400, "InvalidParameterValue", "datetime must be RFC 3339 (instant or interval)") from None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise OgcError(400, "InvalidParameterValue", f"{name} must be an integer from {low} to {high}")
    return int(raw)


@router.get("/collections/{collection_id}/items", summary="Features of a collection (GeoJSON)")
def items(
    collection_id: str, request: Request, session: ReadSession, settings: SettingsDep, clock: ClockDep
) -> JSONResponse:
    provider = _provider(collection_id)
    params = request.query_params
    unknown = set(params) - ITEM_PARAMS - set(provider.queryables)
    if unknown:
        raise OgcError(400, "InvalidParameterValue", f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    _check_f(request, ("json", "geojson"))
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, MAX_OFFSET)
    bbox = None
    if "bbox" in params:
        raw = params["bbox"]
        parts = raw.split(",")
        if len(parts) == 6:  # with heights: drop them
            raw = ",".join([parts[0], parts[1], parts[3], parts[4]])
        try:
            bbox = parse_bbox(raw)
        except GeoInputError as exc:
            raise OgcError(400, "InvalidParameterValue", str(exc)) from None
    when = _datetime(params.get("datetime"))
    viewer = access.signed_in_caller(request, session, settings)

    if provider.id == "grids" and when is not None:  # the version valid at that instant
        at = when[1] or when[0] or datetime.now(UTC)
        layer = params.get("layer", GridLayer.ONE_NETWORK.value)
        try:
            features = features_at(session, at=at, layer=GridLayer(layer))
        except ValueError:
            raise OgcError(400, "InvalidParameterValue", "layer is not a grid layer") from None
        if bbox is not None:
            box = bbox.polygon()
            features = [f for f in features if shapely.geometry.shape(f["geometry"]).intersects(box)]
        matched = len(features)
        page = features[offset : offset + limit]
    else:
        query = provider.query(session, viewer, settings, clock())
        for name, (column, kind) in provider.queryables.items():
            if name in params:
                value: Any = params[name]
                if kind == "integer":
                    if not value.isdigit() or int(value) > 2**31 - 1:
                        raise OgcError(400, "InvalidParameterValue", f"{name} must be an integer")
                    value = int(value)
                allowed = getattr(getattr(column, "type", None), "enums", None)
                if allowed and value not in allowed:
                    raise OgcError(400, "InvalidParameterValue", f"{name} must be one of {', '.join(allowed)}")
                query = query.where(column == value)
        if bbox is not None:
            query = query.where(intersects(session, provider.geometry, bbox.polygon()))
        if when is not None and provider.temporal is not None:
            start, end = when
            if start is not None:
                query = query.where(provider.temporal >= start)
            if end is not None:
                query = query.where(provider.temporal <= end)
        matched = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        rows = list(session.scalars(query.order_by(provider.id_column()).limit(limit).offset(offset)))
        page = provider.to_features(session, rows, viewer, settings)

    base = f"{_base(request, settings)}/collections/{provider.id}/items"
    kept = {k: v for k, v in params.items() if k not in ("offset", "limit")}

    def link(rel: str, at_offset: int) -> dict[str, str]:
        query = urlencode(kept | {"limit": limit, "offset": at_offset})
        return {"href": f"{base}?{query}", "rel": rel, "type": GEOJSON, "title": rel}

    links = [
        link("self", offset),
        {
            "href": f"{_base(request, settings)}/collections/{provider.id}",
            "rel": "collection",
            "type": JSON,
            "title": provider.title,
        },
    ]
    if offset + len(page) < matched:
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(offset - limit, 0)))
    body = {
        "type": "FeatureCollection",
        "features": page,
        "numberMatched": matched,
        "numberReturned": len(page),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "links": links,
    }
    return _json(body, GEOJSON)


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature (GeoJSON)")
def item(
    collection_id: str,
    feature_id: str,
    request: Request,
    session: ReadSession,
    settings: SettingsDep,
    clock: ClockDep,
) -> JSONResponse:
    """One feature; one the caller may not read answers exactly as one that does not exist."""
    provider = _provider(collection_id)
    _check_f(request, ("json", "geojson"))
    if not feature_id.isdigit() or not 1 <= int(feature_id) <= 2**31 - 1:
        raise OgcError(404, "NotFound", f"no feature {feature_id!r} in {collection_id}")
    viewer = access.signed_in_caller(request, session, settings)
    query = provider.query(session, viewer, settings, clock())
    row = session.scalar(query.where(provider.id_column() == int(feature_id)))
    if row is None:
        raise OgcError(404, "NotFound", f"no feature {feature_id!r} in {collection_id}")
    body = provider.to_features(session, [row], viewer, settings)[0]
    base = f"{_base(request, settings)}/collections/{provider.id}"
    body["links"] = [
        {"href": f"{base}/items/{feature_id}", "rel": "self", "type": GEOJSON, "title": "this feature"},
        {"href": base, "rel": "collection", "type": JSON, "title": provider.title},
    ]
    return _json(body, GEOJSON)


@router.get("/api", summary="The OpenAPI 3.0 definition of this OGC API", responses={200: {"content": {OAS30: {}}}})
def api(request: Request, settings: SettingsDep) -> JSONResponse:
    from service.ogc.openapi import document

    return _json(document(_base(request, settings), PROVIDERS), OAS30)


def install(app) -> None:
    app.include_router(router)

    async def handle(_request: Request, exc: OgcError):
        return JSONResponse({"code": exc.code, "description": exc.description}, status_code=exc.status)

    app.add_exception_handler(OgcError, handle)
