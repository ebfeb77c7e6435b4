"""RFC 9457 problem details for every error, each naming the field at fault where there is one."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ExceptionHandler

from geo.errors import GeoInputError
from service.common.errors import DomainError

PROBLEM_MEDIA_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    503: "Service unavailable",
}


class Problem(DomainError):
    """A refusal decided at the HTTP edge (a header, a route's own check), with the problem's
    ``title`` and ``type`` where they differ from the status's. Services raise ``DomainError``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        title: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, field=field, status=status, headers=headers, **extra)
        self.title = title or _TITLES.get(status, "Error")
        self.type = type_


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_of(loc: tuple[Any, ...]) -> str:
    """``("query", "lon")`` -> ``lon``; ``("body", "items", 0, "lat")`` -> ``items[0].lat``."""
    parts = [p for p in loc if p not in ("query", "path", "body", "header", "cookie")]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or (str(loc[0]) if loc else "body")


async def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type and any(
        tuple(e.get("loc", ())) == ("body",) and e.get("type") == "model_attributes_type" for e in exc.errors()
    ):  # a JSON route sent a form, plain text or XML
        detail = f"Content-Type: send the body as application/json, not {content_type.split(';')[0] or 'nothing'}"
        return problem_response(request, 415, detail, errors=[{"field": "Content-Type", "message": detail}])
    errors = []
    for err in exc.errors():
        field = _field_of(tuple(err.get("loc", ())))
        errors.append({"field": field, "message": err.get("msg", "invalid"), "type": err.get("type")})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(request, 422, detail, errors=errors)


async def _domain_handler(request: Request, exc: DomainError) -> JSONResponse:
    """The one place a refusal becomes problem+json: its status, its message (prefixed with the
    field it names, unless it says it already) and the field in ``errors``."""
    errors = [{"field": exc.field, "message": exc.message}] if exc.field else None
    detail = exc.message if not exc.field or exc.field in exc.message else f"{exc.field}: {exc.message}"
    return problem_response(
        request,
        exc.status,
        detail,
        title=getattr(exc, "title", None),
        type_=getattr(exc, "type", "about:blank"),
        errors=errors,
        headers=exc.headers,
        **exc.extra,
    )


async def _geo_input_handler(request: Request, exc: GeoInputError) -> JSONResponse:
    return problem_response(request, 422, str(exc), errors=[{"field": exc.field, "message": str(exc)}])


async def _http_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
    return problem_response(request, exc.status_code, detail, headers=getattr(exc, "headers", None))


def _constraint_field(exc: IntegrityError) -> str | None:
    """The column a violated constraint is on, where the database says (PostgreSQL names the
    constraint, looked up in the tables' metadata; SQLite names unique columns only)."""
    from service.orm import Base

    diag = getattr(exc.orig, "diag", None)
    constraint, table = getattr(diag, "constraint_name", None), getattr(diag, "table_name", None)
    if constraint and isinstance(table, str) and table in Base.metadata.tables:
        for c in Base.metadata.tables[table].constraints:
            columns = list(getattr(c, "columns", []))
            if c.name == constraint and columns:
                return columns[0].name
    found = re.search(r"constraint failed: \w+\.(\w+)", str(exc.orig))
    return found.group(1) if found else None


async def _integrity_handler(request: Request, exc: IntegrityError) -> JSONResponse:
    """A safety net for input a route did not check: a reference to nothing, a duplicate, a value
    the table refuses. The transaction is already rolled back; this is the client's error, not a 500."""
    text = str(exc.orig)
    duplicate = getattr(exc.orig, "sqlstate", None) == "23505" or "UNIQUE constraint" in text
    status, detail = (409, "this already exists") if duplicate else (422, "refers to something that does not exist")
    if not duplicate and "FOREIGN KEY" not in text and getattr(exc.orig, "sqlstate", None) != "23503":
        detail = "is not a value that can be stored"
    field = _constraint_field(exc)
    errors = [{"field": field, "message": detail}] if field else None
    return problem_response(request, status, f"{field}: {detail}" if field else f"the input {detail}", errors=errors)


#: The problem+json body every error has (RFC 9457, with the fields at fault in ``errors``).
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
#: Open311 GeoReport v2 errors: ``[{"code": 400, "description": "..."}]`` (or the same in XML).
OPEN311_ERRORS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}

#: OGC API exceptions (OGC 17-069r4, 7.5.1): ``{"code": ..., "description": ...}``.
OGC_EXCEPTION = {
    "type": "object",
    "required": ["code"],
    "properties": {"code": {"type": ["string", "integer"]}, "description": {"type": "string"}},
}


def _document_errors(app: FastAPI) -> None:
    """Declare in the OpenAPI document the errors every operation can answer: any 4xx (and a 503
    when the database is away) as problem+json, Open311's in its own format, instead of FastAPI's
    default 422 body, which the handlers above replace."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, item in schema.get("paths", {}).items():
            for op in item.values():
                responses = op.get("responses") if isinstance(op, dict) else None
                if responses is None:
                    continue
                responses.pop("422", None)
                if path.startswith("/open311/"):
                    xml = {"schema": {"type": "string"}}
                    content = {"application/json": {"schema": OPEN311_ERRORS}, "text/xml": xml}
                    responses["4XX"] = {"description": "Open311 errors", "content": content}
                elif path.startswith("/ogc"):
                    content = {"application/json": {"schema": OGC_EXCEPTION}}
                    responses["4XX"] = {"description": "OGC API exception", "content": content}
                else:
                    responses["4XX"] = {"description": "RFC 9457 problem naming the field at fault", "content": problem}
                responses["503"] = {"description": "the database is unavailable (Retry-After)", "content": problem}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""
    _document_errors(app)
    handlers: dict[type[Exception], Callable[[Request, Any], Awaitable[Response]]] = {
        RequestValidationError: _validation_handler,
        DomainError: _domain_handler,
        GeoInputError: _geo_input_handler,
        StarletteHTTPException: _http_handler,
        IntegrityError: _integrity_handler,
    }
    for exc_class, handler in handlers.items():
        # Starlette types a handler as taking any Exception; each of these takes its own class.
        app.add_exception_handler(exc_class, cast(ExceptionHandler, handler))
