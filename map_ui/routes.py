"""HTML routes for the pages. They only render HTML; the pages fetch data from the HTTP API."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from map_ui.pages import LANGUAGES, render

router = APIRouter(include_in_schema=False)
_CODE = re.compile(r"^[A-Za-z0-9]{4,16}$")


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)")


def with_nonce(html: str, nonce: str | None) -> str:
    """Mark the page's inline scripts with this response's CSP nonce (folium writes inline JS)."""
    return _INLINE_SCRIPT.sub(f'<script nonce="{nonce}"', html) if nonce else html


def _page(request: Request, name: str, lang: str | None, **extra) -> HTMLResponse:
    settings = request.app.state.settings
    chosen = lang if lang in LANGUAGES else settings.default_language
    html = render(name, lang=chosen, basemap=settings.basemap, tianditu_key=settings.tianditu_key, extra=extra)
    html = with_nonce(html, getattr(request.state, "csp_nonce", None))
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/map/dispatch")
def dispatch_map(request: Request, lang: str | None = None) -> HTMLResponse:
    return _page(request, "dispatch", lang)


@router.get("/map/stations")
def stations_map(request: Request, lang: str | None = None) -> HTMLResponse:
    return _page(request, "stations", lang)


@router.get("/map/planner")
def planner_map(request: Request, lang: str | None = None) -> HTMLResponse:
    return _page(request, "planner", lang)


@router.get("/map/wishes")
def wishes_page(request: Request, lang: str | None = None) -> HTMLResponse:
    return _page(request, "wishes", lang)


@router.get("/map/points")
def points_page(request: Request, lang: str | None = None) -> HTMLResponse:
    return _page(request, "points", lang)


@router.get("/track/{code}")
def track_page(request: Request, code: str, lang: str | None = None) -> HTMLResponse:
    if not _CODE.match(code):
        return HTMLResponse("<!doctype html><title>404</title><p>Unknown tracking code</p>", status_code=404)
    return _page(request, "track", lang, tracking_code=code.upper())


@router.get("/map")
def maps_index() -> RedirectResponse:
    return RedirectResponse("/map/stations")
