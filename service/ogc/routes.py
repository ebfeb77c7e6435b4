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

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from service.auth.models import User
from service.common.links import HostNotAllowed, public_base
from service.config import Settings
from service.deps import ClockDep, ReadSession, SettingsDep
from service.ogc import service
from service.ogc.providers import PROVIDERS, Provider
from service.ogc.schemas import (
    Collection,
    Collections,
    Conformance,
    ItemsPage,
    LandingPage,
    OgcFeature,
    OpenApiDocument,
)
from service.ogc.service import CRS84, ItemsQuery, OgcError, check_f
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


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


class OpenApiResponse(JSONResponse):
    media_type = OAS30


def _root(request: Request, settings: Settings) -> str:
    """The service's base URL for links (``public_url``, or an allowed Host; else a 400)."""
    try:
        return public_base(request, settings)
    except HostNotAllowed as exc:
        raise OgcError(str(exc)) from None


def _base(request: Request, settings: Settings) -> str:
    return _root(request, settings) + "/ogc"


def _link(href: str, rel: str, type_: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": type_, "title": title}


@router.get("", response_model=LandingPage, summary="OGC API landing page")
@router.get("/", response_model=LandingPage, summary="OGC API landing page", include_in_schema=False)
def landing(request: Request, settings: SettingsDep) -> JSONResponse:
    check_f(request.query_params)
    base = _base(request, settings)
    return JSONResponse(
        {
            "title": "neighborgrid OGC API - Features",
            "description": "Grids, buildings, stations, service circles and open requests of the community",
            "links": [
                _link(f"{base}/", "self", JSON, "this document"),
                _link(f"{base}/api", "service-desc", OAS30, "the API definition"),
                _link(_root(request, settings) + "/docs", "service-doc", "text/html", "the API documentation"),
                _link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
                _link(f"{base}/collections", "data", JSON, "the collections"),
            ],
        }
    )


@router.get("/conformance", response_model=Conformance, summary="OGC API conformance classes")
def conformance(request: Request) -> JSONResponse:
    check_f(request.query_params)
    return JSONResponse({"conformsTo": CONFORMANCE})


def _collection(
    session: ReadSession, request: Request, provider: Provider, settings: Settings, now: datetime, viewer: User | None
) -> dict[str, Any]:
    base = f"{_base(request, settings)}/collections/{provider.id}"
    return {
        "id": provider.id,
        "title": provider.title,
        "description": provider.description,
        "keywords": provider.keywords,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": service.extent(session, provider=provider, viewer=viewer, settings=settings, now=now),
        "links": [
            _link(base, "self", JSON, provider.title),
            _link(f"{base}/items", "items", GEOJSON, f"{provider.title} (GeoJSON)"),
        ],
    }


@router.get("/collections", response_model=Collections, summary="OGC API collections")
def collections(request: Request, session: ReadSession, settings: SettingsDep, clock: ClockDep) -> JSONResponse:
    check_f(request.query_params)
    base = _base(request, settings)
    now, viewer = clock(), access.signed_in_caller(request, session, settings)
    return JSONResponse(
        {
            "links": [_link(f"{base}/collections", "self", JSON, "collections")],
            "collections": [_collection(session, request, p, settings, now, viewer) for p in PROVIDERS.values()],
        }
    )


@router.get("/collections/{collection_id}", response_model=Collection, summary="One OGC API collection")
def collection(
    collection_id: str, request: Request, session: ReadSession, settings: SettingsDep, clock: ClockDep
) -> JSONResponse:
    check_f(request.query_params)
    viewer = access.signed_in_caller(request, session, settings)
    return JSONResponse(_collection(session, request, service.provider_of(collection_id), settings, clock(), viewer))


def _page_links(
    request: Request, settings: Settings, provider: Provider, query: ItemsQuery, matched: int, returned: int
) -> list[dict[str, str]]:
    """``self`` and ``collection``, and ``next``/``prev`` where there are more pages, keeping the
    request's other parameters."""
    collection_url = f"{_base(request, settings)}/collections/{provider.id}"
    kept = {k: v for k, v in query.params.items() if k not in ("offset", "limit")}

    def at(rel: str, offset: int) -> dict[str, str]:
        href = f"{collection_url}/items?{urlencode(kept | {'limit': query.limit, 'offset': offset})}"
        return _link(href, rel, GEOJSON, rel)

    links = [at("self", query.offset), _link(collection_url, "collection", JSON, provider.title)]
    if query.offset + returned < matched:
        links.append(at("next", query.offset + query.limit))
    if query.offset > 0:
        links.append(at("prev", max(query.offset - query.limit, 0)))
    return links


@router.get(
    "/collections/{collection_id}/items",
    response_model=ItemsPage,
    response_class=GeoJSONResponse,
    summary="Features of a collection (GeoJSON)",
)
def items(
    collection_id: str, request: Request, session: ReadSession, settings: SettingsDep, clock: ClockDep
) -> JSONResponse:
    provider = service.provider_of(collection_id)
    query = service.items_query(provider, request.query_params)
    viewer = access.signed_in_caller(request, session, settings)
    matched, page = service.items_page(
        session, provider=provider, query=query, viewer=viewer, settings=settings, now=clock()
    )
    body = {
        "type": "FeatureCollection",
        "features": page,
        "numberMatched": matched,
        "numberReturned": len(page),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "links": _page_links(request, settings, provider, query, matched, len(page)),
    }
    return GeoJSONResponse(body)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    response_model=OgcFeature,
    response_class=GeoJSONResponse,
    summary="One feature (GeoJSON)",
)
def item(
    collection_id: str,
    feature_id: str,
    request: Request,
    session: ReadSession,
    settings: SettingsDep,
    clock: ClockDep,
) -> JSONResponse:
    """One feature; one the caller may not read answers exactly as one that does not exist."""
    provider = service.provider_of(collection_id)
    check_f(request.query_params, ("json", "geojson"))
    viewer = access.signed_in_caller(request, session, settings)
    body = service.feature_of(
        session, provider=provider, feature_id=feature_id, viewer=viewer, settings=settings, now=clock()
    )
    base = f"{_base(request, settings)}/collections/{provider.id}"
    body["links"] = [
        _link(f"{base}/items/{feature_id}", "self", GEOJSON, "this feature"),
        _link(base, "collection", JSON, provider.title),
    ]
    return GeoJSONResponse(body)


@router.get(
    "/api",
    response_model=OpenApiDocument,
    response_class=OpenApiResponse,
    summary="The OpenAPI 3.0 definition of this OGC API",
)
def api(request: Request, settings: SettingsDep) -> JSONResponse:
    from service.ogc.openapi import document

    return OpenApiResponse(document(_base(request, settings), PROVIDERS))


async def _ogc_exception(_request: Request, exc: Exception) -> JSONResponse:
    """OGC API exceptions (OGC 17-069r4, 7.5.1) are ``{code, description}``, not problem+json."""
    assert isinstance(exc, OgcError)
    return JSONResponse({"code": exc.code, "description": exc.description}, status_code=exc.status)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.add_exception_handler(OgcError, _ogc_exception)
