"""Security headers: CORS off by default and on for the configured origins only; pages get a
Content-Security-Policy that allows this origin only (scripts also need the response's nonce, which
every inline script of the page carries), and every answer gets X-Content-Type-Options and
Referrer-Policy."""

from __future__ import annotations

import re
from contextlib import ExitStack

import httpx

from tests.reliability.harness import another_app
from tests.security.endpoints import app_routes

#: Pages besides the maps (every ``/map/...`` route of the app is a page too).
PAGES = ["/docs", "/docs/oauth2-redirect", "/"]
ORIGIN = "https://city.example.cn"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def test_cors_is_off_by_default(secured):
    with httpx.Client(base_url=secured.base_url) as c:
        pre = c.options("/api/v1/requests", headers=PREFLIGHT)
        assert "access-control-allow-origin" not in pre.headers
        get = c.get("/api/v1/grids", headers={"Origin": ORIGIN})
        assert get.status_code == 200 and "access-control-allow-origin" not in get.headers


def test_cors_allows_only_the_configured_origins(secured):
    with ExitStack() as stack:
        app = another_app(stack, secured, cors_origins=[ORIGIN])
        with httpx.Client(base_url=app.base_url) as c:
            pre = c.options("/api/v1/requests", headers=PREFLIGHT)
            assert pre.status_code == 200
            assert pre.headers["access-control-allow-origin"] == ORIGIN
            assert "POST" in pre.headers["access-control-allow-methods"]
            assert "access-control-allow-credentials" not in pre.headers  # bearer tokens, no cookies
            get = c.get("/api/v1/grids", headers={"Origin": ORIGIN})
            assert get.headers["access-control-allow-origin"] == ORIGIN
            assert "X-Request-ID" in get.headers["access-control-expose-headers"]
            other = {**PREFLIGHT, "Origin": "https://evil.example.com"}
            refused = c.options("/api/v1/requests", headers=other)
            assert refused.status_code >= 400 and "access-control-allow-origin" not in refused.headers
            get = c.get("/api/v1/grids", headers={"Origin": "https://evil.example.com"})
            assert "access-control-allow-origin" not in get.headers


def test_pages_get_a_self_only_csp_with_a_fresh_nonce(secured):
    with httpx.Client(base_url=secured.base_url) as c:
        track = c.post(
            "/api/v1/requests", json={"category": "noise", "description": "csp", "lon": 117.7552, "lat": 24.6221}
        ).json()["tracking_code"]
        maps = sorted({k.split()[1] for k in app_routes(secured.app) if k.startswith("GET /map/")})
        assert len(maps) >= 5, maps
        for path in [*maps, *PAGES, f"/track/{track}"]:
            first, second = c.get(path), c.get(path)
            assert first.status_code == 200, path
            csp = first.headers["content-security-policy"]
            d = _directives(csp)
            nonce = re.fullmatch(r"'nonce-([A-Za-z0-9_-]+)'", d["script-src"][1]).group(1)
            assert d["default-src"] == ["'self'"], (path, csp)
            assert d["script-src"] == ["'self'", f"'nonce-{nonce}'"], (path, csp)
            assert d["connect-src"] == ["'self'"] and d["object-src"] == ["'none'"], csp
            assert d["frame-ancestors"] == ["'none'"] and d["base-uri"] == ["'self'"], csp
            for name, sources in d.items():  # nothing from elsewhere (the default base map is our own)
                assert not [s for s in sources if "://" in s or s == "*"], (path, name, sources)
            assert nonce not in second.headers["content-security-policy"], "a nonce is used once"
            html = first.text
            inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
            assert all(f'nonce="{nonce}"' in attrs for attrs in inline), (path, inline[:3])
            sources = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html)
            assert all(s.startswith("/") and not s.startswith("//") for s in sources), (path, sources)
            assert first.headers["x-content-type-options"] == "nosniff"
            assert first.headers["referrer-policy"] == "no-referrer"
            assert first.headers["x-frame-options"] == "DENY"


def test_every_answer_gets_the_base_headers_and_api_answers_no_csp(secured):
    with httpx.Client(base_url=secured.base_url) as c:
        for path in ("/api/v1/grids", "/healthz", "/api/v1/auth/me", "/no/such/path", "/openapi.json"):
            r = c.get(path)
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["referrer-policy"] == "no-referrer", path
            assert r.headers["x-request-id"], path
            assert "content-security-policy" not in r.headers or "html" in r.headers["content-type"]
