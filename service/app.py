"""``create_app()``: the FastAPI application with its routers, error handling and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from map_ui import vendor
from map_ui.routes import router as pages_router
from map_ui.routes import with_nonce
from service.areas.routes import router as areas_router
from service.auth.routes import router as auth_router
from service.buildings.routes import router as buildings_router
from service.common import middleware, problems
from service.config import Settings, get_settings
from service.db import Database
from service.duty.routes import router as duty_router
from service.events.hub import EventHub
from service.exports.routes import router as exports_router
from service.followups.routes import router as followups_router
from service.grids.layer_routes import router as grid_layers_router
from service.grids.routes import router as grids_router
from service.households.routes import router as households_router
from service.imports.routes import router as imports_router
from service.jobs import loop as scheduler
from service.live.routes import router as live_router
from service.network.routes import router as network_router
from service.ogc import routes as ogc
from service.open311 import routes as open311
from service.ops.logs import configure_logging
from service.ops.metrics import Metrics
from service.ops.routes import router as ops_router
from service.organisations.routes import router as organisations_router
from service.points.routes import router as points_router
from service.requests.routes import router as requests_router
from service.stations.routes import router as stations_router
from service.teams.routes import router as teams_router
from service.volunteers.routes import router as volunteers_router
from service.wiring import connect_domains
from service.wishes.routes import router as wishes_router

log = logging.getLogger("neighborgrid")

STATIC_DIR = Path(vendor.__file__).resolve().parent / "static"

API_DESCRIPTION = """
neighborgrid: community grid governance (网格化治理) — grids, buildings, service stations,
volunteers and residents' requests, on a map.

* Geometries are GeoJSON (RFC 7946), WGS84 lon/lat. Points may be sent as `gcj02` or `bd09`
  with `coord_type`; they are converted to WGS84 at the edge.
* Errors are RFC 9457 `application/problem+json` and name the field at fault.
* Public: layers and stations, with no personal data. Everything else needs a bearer token from
  `POST /api/v1/auth/token` and the right role.
"""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the app. Tests pass their own settings, database and clock."""
    connect_domains()
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if vendor.missing():
            log.warning("browser assets missing (%s); run `make assets`", ", ".join(vendor.missing()[:3]))
        await app.state.events.start()
        ticker = None
        if settings.scheduler_enabled:
            ticker = asyncio.create_task(scheduler.run_forever(app.state.db, settings, app.state.clock))
        yield
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await app.state.events.stop()
        if database is None:
            app.state.db.dispose()

    app = FastAPI(
        title="neighborgrid",
        version="0.1.0",
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        swagger_ui_oauth2_redirect_url="/docs/oauth2-redirect",
    )
    if settings.json_logs:  # first: opening the database may already log (a file's mode tightened)
        configure_logging(settings.log_level)
    app.state.settings = settings
    app.state.db = database or Database.from_settings(settings)
    app.state.clock = clock or _utcnow
    app.state.limiters = {}
    app.state.events = EventHub(app.state.db, poll_seconds=settings.events_poll_seconds)
    problems.install(app)
    app.state.metrics = Metrics(app.state.db, app.state.events)
    middleware.install(app, settings)

    for router in (
        auth_router,
        areas_router,
        imports_router,
        grid_layers_router,
        grids_router,
        buildings_router,
        stations_router,
        network_router,
        organisations_router,
        volunteers_router,
        requests_router,
        # community life (issue 8)
        teams_router,
        points_router,
        wishes_router,
        households_router,
        followups_router,
        duty_router,
        live_router,
        ops_router,
        exports_router,
        pages_router,
    ):
        app.include_router(router)

    open311.install(app)
    ogc.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_docs(app)
    return app


def _add_docs(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="neighborgrid API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
            oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
        )
        return HTMLResponse(with_nonce(bytes(page.body).decode(), getattr(request.state, "csp_nonce", None)))

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_redirect(request: Request) -> HTMLResponse:
        page = get_swagger_ui_oauth2_redirect_html()
        return HTMLResponse(with_nonce(bytes(page.body).decode(), getattr(request.state, "csp_nonce", None)))

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>neighborgrid</title>"
            "<h1>neighborgrid</h1><ul>"
            "<li><a href=/docs>API documentation</a></li>"
            "<li><a href=/api/v1/grids>Grids (GeoJSON)</a></li>"
            "<li><a href=/api/v1/stations>Stations (GeoJSON)</a></li>"
            "<li><a href=/api/v1/areas>Areas (GeoJSON)</a></li>"
            "<li><a href=/api/v1/areas/tree>Area hierarchy (tree)</a></li></ul>"
        )
