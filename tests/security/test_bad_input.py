"""Bad input at the edge: each refused with a 4xx problem+json that names the field, nothing stored.

Covered elsewhere (not repeated here): intake fields (numbers as strings, NaN/±Infinity, NUL, ids past
the integer range) in tests/service/requests/test_bad_input.py; grids over the vertex limit and a
million vertices in tests/service/grids/test_validation.py. Here: the configurable body limit (413),
JSON nested too deep, text that is not UTF-8 (JSON, forms, query strings), a declared charset that is
not UTF-8, wrong content types on JSON routes, numbers as strings and non-finite numbers beyond
intake, and SQL-looking input in every text field and every query filter.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
from shapely.geometry import MultiPolygon, mapping, shape
from sqlalchemy import func, inspect, select

from service.auth.models import User
from service.requests.models import ServiceRequest
from tests.reliability.harness import ROLE_USERS, another_app
from tests.security.endpoints import RULES, Call, Ctx
from tests.service.helpers import assert_problem
from tests.support.backends import DEMO_PASSWORD

POINT = {"lon": 117.7552, "lat": 24.6221}
SQL = [
    "' OR '1'='1",
    "1 OR 1=1",
    "x'); DROP TABLE users; --",
    '" OR ""="',
    "1' UNION SELECT username, password_hash FROM users --",
    "'||(SELECT 1/0)||'",
    "1; SELECT pg_sleep(3); --",
]


def _intake(**extra) -> dict:
    return {"category": "noise", "description": f"bad input {uuid.uuid4().hex[:8]}", **POINT, **extra}


def _stored(secured, description: str) -> int:
    with secured.db.reader() as s:
        where = ServiceRequest.description == description
        return s.scalar(select(func.count()).select_from(ServiceRequest).where(where))


@pytest.fixture
def admin(secured):
    with httpx.Client(base_url=secured.base_url, timeout=60) as c:
        r = c.post("/api/v1/auth/token", data={"username": ROLE_USERS["admin"], "password": DEMO_PASSWORD})
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield c


def _padded(size: int) -> tuple[str, bytes]:
    """An intake body of exactly ``size`` bytes, and its description."""
    body = _intake()
    body["description"] += "x" * (size - len(json.dumps(body)))
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return body["description"], raw


def test_bodies_over_the_configured_limit_get_413(secured):
    json_type = {"content-type": "application/json"}
    with ExitStack() as stack:
        small = another_app(stack, secured, max_body_bytes=1500)
        with httpx.Client(base_url=small.base_url, timeout=60) as c:
            _, fits = _padded(1500)
            assert c.post("/api/v1/requests", content=fits, headers=json_type).status_code == 201
            description, over = _padded(1501)
            r = c.post("/api/v1/requests", content=over, headers=json_type)
            assert "1500" in assert_problem(r, 413, "body")["detail"]

            def chunked():  # no Content-Length: counted as it arrives
                for i in range(0, len(over), 500):
                    yield over[i : i + 500]

            assert_problem(c.post("/api/v1/requests", content=chunked(), headers=json_type), 413, "body")
            assert _stored(secured, description) == 0
    with httpx.Client(base_url=secured.base_url, timeout=60) as c:  # the default: 1 MiB
        description, big = _padded(1024 * 1024 + 1)
        assert_problem(c.post("/api/v1/requests", content=big, headers=json_type), 413, "body")
        _, fits = _padded(1024 * 1024)
        assert_problem(c.post("/api/v1/requests", content=fits, headers=json_type), 422, "description")  # too long


def test_json_nested_too_deep_is_refused_naming_the_body(secured, admin):
    grid = admin.get("/api/v1/grids").json()["features"][0]
    for depth in (100, 100_000):
        nested = "[" * depth + "]" * depth
        doc = (
            f'{{"grids": [{{"id": {grid["id"]}, "version": {grid["properties"]["version"]}, '
            f'"geometry": {{"type": "Polygon", "coordinates": {nested}}}}}], "comment": "deep"}}'
        )
        r = admin.post("/api/v1/grids/preview", content=doc, headers={"content-type": "application/json"})
        assert "deeper than" in assert_problem(r, 422, "body")["detail"]
        r = admin.post(
            "/api/v1/requests",
            content=json.dumps(_intake())[:-1] + f', "attributes": {nested}}}',
            headers={"content-type": "application/json"},
        )
        assert_problem(r, 422, "body")
    # Brackets inside strings are text, not nesting.
    ok = admin.post("/api/v1/requests", json=_intake(description="[" * 500 + "{" * 500))
    assert ok.status_code == 201, ok.text
    # A real GeoJSON MultiPolygon is far from the limit.
    multi = mapping(MultiPolygon(list(getattr(shape(grid["geometry"]), "geoms", [shape(grid["geometry"])]))))
    body = {
        "grids": [{"id": grid["id"], "version": grid["properties"]["version"], "geometry": multi}],
        "comment": "multi",
    }
    r = admin.post("/api/v1/grids/preview", json=body)
    assert r.status_code < 500 and "deeper than" not in r.text


def test_text_that_is_not_utf8_is_refused_naming_the_field(secured, admin):
    gbk = "楼道水管漏水".encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        gbk.decode("utf-8")
    body = _intake()
    raw = json.dumps(body, ensure_ascii=False).encode().replace(body["description"].encode(), gbk)
    assert_problem(
        admin.post("/api/v1/requests", content=raw, headers={"content-type": "application/json"}), 400, "body"
    )
    # A JSON body declaring another charset: JSON is UTF-8 (RFC 8259).
    declared = json.dumps(body, ensure_ascii=False).encode("gbk")
    r = admin.post("/api/v1/requests", content=declared, headers={"content-type": "application/json; charset=gbk"})
    assert "UTF-8" in assert_problem(r, 415, "Content-Type")["detail"]
    assert _stored(secured, body["description"]) == 0
    # Query strings and form bodies whose percent-escapes are GBK.
    escaped = "".join(f"%{b:02X}" for b in gbk)
    assert_problem(admin.get(f"/api/v1/requests?category={escaped}"), 400, "category")
    assert_problem(admin.get(f"/api/v1/grids/locate?lon=117.7&lat=24.6&coord_type={escaped}"), 400, "coord_type")
    form = f"username={escaped}&password=x".encode()
    r = admin.post("/api/v1/auth/token", content=form, headers={"content-type": "application/x-www-form-urlencoded"})
    assert_problem(r, 400, "username")
    form = f"service_code=noise&lat=24.6221&long=117.7552&description={escaped}".encode()
    r = admin.post(
        "/open311/v2/requests.json", content=form, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_problem(r, 400, "description")
    # UTF-8 escapes are of course fine.
    assert admin.get("/api/v1/requests", params={"category": "楼道"}).status_code == 200


@pytest.mark.parametrize(
    "content_type, content",
    [
        ("application/x-www-form-urlencoded", "category=noise&description=form&lon=117.7552&lat=24.6221"),
        ("text/plain", json.dumps(_intake())),
        ("application/xml", "<request><category>noise</category></request>"),
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="category"\r\n\r\nnoise\r\n--x--',
        ),
    ],
)
def test_json_routes_refuse_other_content_types_with_415(secured, admin, content_type, content):
    headers = {"content-type": content_type}
    for url in ("/api/v1/requests", "/api/v1/stations", "/api/v1/users", "/api/v1/grids/preview"):
        r = admin.post(url, content=content, headers=headers)
        detail = assert_problem(r, 415, "Content-Type")["detail"]
        assert "application/json" in detail, (url, detail)
    with secured.db.reader() as s:
        assert not s.scalar(select(func.count()).where(ServiceRequest.description == "form"))


def test_numbers_as_strings_and_non_finite_numbers_are_refused_naming_the_field(secured, admin):
    ctx = Ctx(secured)
    try:
        station = ctx.station_body()
        cases = [
            ("POST", "/api/v1/stations", station | {"lon": str(station["lon"])}, "lon"),
            ("POST", "/api/v1/stations", station | {"capacity": "12"}, "capacity"),
            ("POST", "/api/v1/points/catalogue", {"name_zh": "理发", "price": "5"}, "price"),
            (
                "POST",
                "/api/v1/community-events",
                {
                    "title_zh": "活动",
                    "starts_at": "2026-11-01T09:00:00Z",
                    "hours": "1.5",
                    "community_id": ctx.worker_community,
                },
                "hours",
            ),
        ]
        for method, url, payload, field in cases:
            assert_problem(admin.request(method, url, json=payload), 422, field)
        # NaN and Infinity: not JSON (RFC 8259), but Python's parser takes them.
        raw = json.dumps(station)[:-1] + ', "capacity": NaN}'
        raw = raw.replace(json.dumps(station["lat"]), "Infinity", 1)
        r = admin.post("/api/v1/stations", content=raw, headers={"content-type": "application/json"})
        assert_problem(r, 422, "lat")
        grid = admin.get("/api/v1/grids").json()["features"][0]
        polygon = shape(grid["geometry"])
        ring = [list(xy) for xy in (polygon.geoms[0] if hasattr(polygon, "geoms") else polygon).exterior.coords]
        doc = json.dumps(
            {
                "grids": [
                    {
                        "id": grid["id"],
                        "version": grid["properties"]["version"],
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
                "comment": "nan",
            }
        )
        first = json.dumps(ring[1][0])
        r = admin.post(
            "/api/v1/grids/preview", content=doc.replace(first, "NaN", 1), headers={"content-type": "application/json"}
        )
        assert_problem(r, 422, "grids[0].geometry")
        for url, field in (
            ("/api/v1/grids/locate?lon=nan&lat=24.6", "lon"),
            ("/api/v1/grids/locate?lon=117.7&lat=inf", "lat"),
            ("/api/v1/stations/nearby?lon=-Infinity&lat=24.6", "lon"),
            ("/api/v1/wishes/nearby?lon=117.7&lat=NaN", "lat"),
            ("/api/v1/grids/locate?lon=117.7&lat=24.6e999", "lat"),
        ):
            assert_problem(admin.get(url), 422, field)
    finally:
        ctx.close()


# -- SQL-looking input -----------------------------------------------------------------------------------


def test_sql_in_text_fields_is_stored_literally(secured, admin):
    ctx = Ctx(secured)
    try:
        for text in SQL:
            name = f"{text[:30]}（报告人）"  # not equal to the other texts: a person's name to the privacy sweep
            made = ctx.new_case(description=text, reporter_name=name)
            got = ctx.ok("dispatcher", "GET", f"/api/v1/requests/{made['id']}")
            assert got["description"] == text and got["reporter_name"] == name
            station = ctx.ok("planner", "POST", "/api/v1/stations", json=ctx.station_body() | {"name_zh": text})
            assert ctx.ok(None, "GET", f"/api/v1/stations/{station['id']}")["properties"]["name_zh"] == text
            wish = ctx.ok(
                "resident",
                "POST",
                "/api/v1/wishes",
                json={"category": "repair", "title": text, "lon": ctx.point[0], "lat": ctx.point[1]},
            )
            assert ctx.ok("resident", "GET", f"/api/v1/wishes/{wish['id']}")["title"] == text
            user = ctx.ok("admin", "PATCH", f"/api/v1/users/{ctx.throwaway_user}", json={"display_name": text})
            assert user["display_name"] == text
            # Logging in with it is a wrong password, not a way in.
            r = ctx.http.post("/api/v1/auth/token", data={"username": ROLE_USERS["admin"], "password": text})
            assert r.status_code == 401
            r = ctx.http.post("/api/v1/auth/token", data={"username": text, "password": text})
            assert r.status_code == 401
    finally:
        ctx.close()
    with secured.db.reader() as s:
        tables = {User.__tablename__, ServiceRequest.__tablename__, "audit_log"}
        assert tables <= set(inspect(s.get_bind()).get_table_names())
        assert s.scalar(select(func.count()).select_from(User)) >= len(ROLE_USERS)


def _size(r: httpx.Response):
    """What a filter selected: the number of rows or features, or the whole body."""
    if "json" not in r.headers.get("content-type", ""):
        return len(r.content)
    body = r.json()
    if isinstance(body, dict):
        for key in ("features", "items", "requests", "results", "grids", "communities"):
            if isinstance(body.get(key), list):
                return len(body[key])
        return {k: v for k, v in body.items() if k not in ("now", "timeStamp", "links", "generated_at")}
    return len(body) if isinstance(body, list) else body


def _caller(key: str) -> str | None:
    rule = RULES[key]
    if rule.anonymous:
        return None
    return next(
        r for r in ("admin", "dispatcher", "planner", "grid_worker", "volunteer", "resident") if r in rule.allowed
    )


def _filters(ctx: Ctx) -> Iterator[tuple[str, str | None, str]]:
    """(url, caller, parameter) for every query filter: the string parameters of the GET operations
    of /openapi.json without path parameters (``{fmt}`` taken as ``json``), and every parameter of
    every OGC API items operation (/ogc/api: property filters, bbox, datetime, limit…)."""
    for path, item in sorted(ctx.http.get("/openapi.json").json()["paths"].items()):
        op, key = item.get("get"), f"GET {path}"
        url = path.replace("{fmt}", "json")
        if not op or "{" in url or key not in RULES or path in ("/api/v1/events", "/metrics"):
            continue
        for param in op.get("parameters", []):
            types = {param["schema"].get("type")} | {s.get("type") for s in param["schema"].get("anyOf", [])}
            if param["in"] == "query" and "string" in types and "enum" not in param["schema"]:
                yield url, _caller(key), param["name"]
    for path, item in sorted(ctx.http.get("/ogc/api").json()["paths"].items()):
        if path.endswith("/items") and "{" not in path:
            for param in item["get"].get("parameters", []):
                if "name" in param and param["name"] != "f":
                    yield f"/ogc{path}", None, param["name"]


@pytest.mark.slow
def test_sql_in_every_query_filter_is_a_literal(secured):
    """Every query filter (see ``_filters``) gets each SQL-looking value; the answer must be a 422
    naming the parameter, or exactly what an unmatched plain word gets (same status, same number of
    rows): never more rows, never a 5xx, never slow (``pg_sleep``)."""
    ctx = Ctx(secured)
    checked = set()
    differ = []
    try:
        for url, who, name in _filters(ctx):
            baseline = ctx.send(who, Call("GET", url, params={name: "zzqx-no-such-value"}))
            for value in SQL:
                started = time.perf_counter()
                r = ctx.send(who, Call("GET", url, params={name: value}))
                elapsed = time.perf_counter() - started
                checked.add((url, name))
                assert r.status_code < 500, (url, name, value, r.text[:300])
                if r.status_code == 422 and name in r.json()["detail"]:
                    continue  # refused, naming the parameter (too long, not a date, …)
                if r.status_code != baseline.status_code or (r.is_success and _size(r) != _size(baseline)):
                    differ.append(
                        f"{url}?{name}={value!r}: {r.status_code} {str(_size(r))[:100]} "
                        f"vs {baseline.status_code} {str(_size(baseline))[:100]}"
                    )
                assert elapsed < 3, f"{url}?{name}={value!r} took {elapsed:.1f} s"
    finally:
        ctx.close()
    assert ("/api/v1/requests", "category") in checked and ("/ogc/collections/requests/items", "category") in checked
    assert ("/open311/v2/requests.json", "service_code") in checked and len(checked) > 30
    assert not differ, "\n".join(differ)
    with secured.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(User)) >= len(ROLE_USERS)


def test_what_the_fuzzer_found_is_a_client_error(secured, admin):
    """Schemathesis found these 500s (tests/security/test_schemathesis.py); each is now a 4xx."""
    # A reference to a row that does not exist (the database's foreign key refused it).
    r = admin.post("/api/v1/points/catalogue", json={"name_zh": "理发", "price": 5, "community_id": 4515426})
    body = assert_problem(r, 422)
    assert "does not exist" in body["detail"]
    if secured.name == "postgis":  # PostgreSQL names the constraint, SQLite does not
        assert body["errors"][0]["field"] == "community_id"
    # An offset past any database integer.
    for url in ("/api/v1/requests", "/api/v1/audit", "/api/v1/wishes"):
        assert_problem(admin.get(url, params={"offset": 34447028250069352579072}), 422, "offset")
    # Moving a station to null.
    station = admin.get("/api/v1/stations").json()["features"][0]["id"]
    before = admin.get(f"/api/v1/stations/{station}").json()["properties"]["capacity"]
    r = admin.patch(f"/api/v1/stations/{station}", json={"lon": None, "lat": None, "capacity": (before or 0) + 1})
    assert_problem(r, 422, "lon")
    assert admin.get(f"/api/v1/stations/{station}").json()["properties"]["capacity"] == before  # nothing changed
