"""The OpenAPI document describes every endpoint, and /docs works offline."""

from __future__ import annotations

import re


def test_every_operation_has_a_summary_and_responses(anon):
    spec = anon.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
            assert op.get("responses"), f"{method.upper()} {path} has no responses"


def test_docs_page_loads_only_local_assets(anon):
    html = anon.get("/docs").text
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and all(u.startswith("/") for u in urls), urls
    for u in urls:
        assert anon.get(u).status_code == 200, u
    assert "cdn" not in html.lower()
