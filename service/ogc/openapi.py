"""The OpenAPI 3.0.3 document of the OGC API, generated from the collections' providers."""

from __future__ import annotations

from typing import Any

from service.ogc.providers import Provider

_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "description": "the number of features to return (1-10000)",
    "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
}
_OFFSET = {
    "name": "offset",
    "in": "query",
    "required": False,
    "description": "features to skip",
    "schema": {"type": "integer", "minimum": 0, "default": 0},
}
_BBOX = {
    "name": "bbox",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "description": "minlon,minlat,maxlon,maxlat in CRS84",
    "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
}
_DATETIME = {
    "name": "datetime",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "description": "an RFC 3339 instant or interval",
    "schema": {"type": "string"},
}
_F = {"name": "f", "in": "query", "required": False, "schema": {"type": "string", "enum": ["json", "geojson"]}}


def _json_response(description: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "object"}}}}


_ERRORS = {"400": _json_response("bad request"), "404": _json_response("not found")}


def document(base: str, providers: dict[str, Provider]) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "summary": "Landing page",
                "operationId": "getLandingPage",
                "tags": ["Capabilities"],
                "parameters": [_F],
                "responses": {"200": _json_response("the landing page")},
            }
        },
        "/conformance": {
            "get": {
                "summary": "Conformance classes",
                "operationId": "getConformance",
                "tags": ["Capabilities"],
                "parameters": [_F],
                "responses": {"200": _json_response("the conformance classes")},
            }
        },
        "/collections": {
            "get": {
                "summary": "Collections",
                "operationId": "getCollections",
                "tags": ["Capabilities"],
                "parameters": [_F],
                "responses": {"200": _json_response("the collections")},
            }
        },
    }
    for p in providers.values():
        filters = [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": f"only features whose {name} equals this",
                "schema": {"type": kind},
            }
            for name, (_column, kind) in p.queryables.items()
        ]
        params = [_LIMIT, _OFFSET, _BBOX, _F, *filters] + ([_DATETIME] if p.temporal is not None else [])
        paths[f"/collections/{p.id}"] = {
            "get": {
                "summary": p.title,
                "operationId": f"describe_{p.id}",
                "tags": [p.id],
                "parameters": [_F],
                "responses": {"200": _json_response("the collection"), **_ERRORS},
            }
        }
        paths[f"/collections/{p.id}/items"] = {
            "get": {
                "summary": f"{p.title}: features",
                "description": p.description,
                "operationId": f"get_{p.id}_items",
                "tags": [p.id],
                "parameters": params,
                "responses": {"200": _json_response("the features", "application/geo+json"), **_ERRORS},
            }
        }
        paths[f"/collections/{p.id}/items/{{featureId}}"] = {
            "get": {
                "summary": f"{p.title}: one feature",
                "operationId": f"get_{p.id}_item",
                "tags": [p.id],
                "parameters": [{"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}}, _F],
                "responses": {"200": _json_response("the feature", "application/geo+json"), **_ERRORS},
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "neighborgrid OGC API - Features",
            "version": "1.0.0",
            "description": "Grids, buildings, stations, service circles and open requests",
            "license": {"name": "Apache-2.0"},
        },
        "servers": [{"url": base}],
        "paths": paths,
        "tags": [{"name": "Capabilities"}] + [{"name": p.id, "description": p.description} for p in providers.values()],
    }
