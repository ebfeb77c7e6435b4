"""Per-request plumbing: request id, access log, metrics, security headers, database outages.

* Every response carries ``X-Request-ID`` (the client's, if it sent a sane one); logs and audit
  entries carry it too.
* Security headers on every response; pages get a Content-Security-Policy that allows only this
  origin (scripts also need the per-response nonce that the page carries).
* A lost database connection is a 503 with ``Retry-After``, not a 500: the pool reconnects by itself.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.common.request_id import request_id_var

log = logging.getLogger("neighborgrid.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"geolocation=(self), camera=(), microphone=()"),
]


def csp(nonce: str, tile_hosts: list[str]) -> str:
    images = " ".join(["'self'", "data:", "blob:", *tile_hosts])
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def is_db_outage(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(getattr(exc, "connection_invalidated", False))


class RequestContext:
    def __init__(self, app: ASGIApp, *, metrics, tile_hosts: list[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.tile_hosts = tile_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                extra = [(b"x-request-id", request_id.encode()), *BASE_HEADERS]
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    extra.append((b"content-security-policy", csp(nonce, self.tile_hosts).encode()))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = scope.get("method", "")
            if self.metrics is not None:
                self.metrics.requests.labels(method, route, str(status["code"])).inc()
                self.metrics.latency.labels(method, route).observe(elapsed)
            client = scope.get("client")
            log.info(
                "%s %s %s",
                method,
                scope.get("path", ""),
                status["code"],
                extra={
                    "method": method,
                    "route": route,
                    "path": scope.get("path", ""),
                    "status": status["code"],
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client[0] if client else None,
                    "request_id": request_id,
                },
            )
            request_id_var.reset(token)


TILE_HOSTS = {
    "none": [],
    "osm": ["https://tile.openstreetmap.org"],
    "tianditu": ["https://*.tianditu.gov.cn"],
    "amap": ["https://*.is.autonavi.com"],
}


def install(app, settings) -> None:
    """Middleware and handlers, outermost first: request context, CORS (if configured), body guard;
    and the handler that answers a lost database connection with 503."""
    from fastapi import Request
    from starlette.middleware.cors import CORSMiddleware

    from service.common.guards import RequestGuard
    from service.common.problems import problem_response

    upload_bytes = max(settings.max_photo_bytes, settings.layer_upload_max_bytes)  # each route checks its own
    bulk = {("POST", "/api/v1/grids/locate"): settings.locate_bulk_max_bytes}  # its own cap, checked again there
    app.add_middleware(
        RequestGuard, max_body_bytes=settings.max_body_bytes, max_upload_bytes=upload_bytes + 65536, route_limits=bulk
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "Last-Event-ID"],
            expose_headers=["ETag", "X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestContext, metrics=app.state.metrics, tile_hosts=TILE_HOSTS.get(settings.basemap, []))

    async def outage(request: Request, exc: Exception):
        if not is_db_outage(exc):
            raise exc
        logging.getLogger("neighborgrid").warning("database unavailable: %s", type(exc).__name__)
        return problem_response(
            request, 503, "the database is unavailable; try again shortly", headers={"Retry-After": "5"}
        )

    app.add_exception_handler(DBAPIError, outage)
    app.add_exception_handler(PoolTimeout, outage)
