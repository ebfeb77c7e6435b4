"""The public feeds (Open311, OGC API without a token) show only what a resident agreed to publish.

* A key household's need raised by a grid worker on a visit (channel ``patrol``) and a request a
  dispatcher typed in for a caller never appear: not in a list, not by id, not by token, not as an
  OGC feature; each such id answers exactly as an id that never existed (same status, same body).
* A resident's published request appears, located at its building or a 50 m grid, its description
  with phone and ID numbers and the reporter's name masked when its category allows text at all,
  and without a description when the category does not (a neighbour dispute). One not published
  does not appear.
* Published ids older than ``public_feed_days`` answer as absent, whatever ``start_date`` says.
* A control character (``\\u000b``) in a stored description leaves every XML answer well-formed.
* Links (OGC API, Open311 discovery) come from ``public_url`` when it is set and never from a
  forged Host; without it, a Host outside ``allowed_hosts`` gets a 400, not a link to it.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta
from xml.etree import ElementTree as ET

import httpx
import pytest
from sqlalchemy import update

from service.requests.models import ServiceRequest
from tests.reliability.harness import another_app
from tests.security.endpoints import Ctx, unique

NEVER = 2**31 - 1  # an id no request will reach in a test database
NEVER_TOKEN = "ZZZZZZZZZZZZ"


def publish(ctx: Ctx, category: str, description: str, *, public: bool = True, **extra) -> dict:
    """A request an anonymous resident raises through the web form, ticking "publish" or not."""
    lon, lat = ctx.point
    body = {"category": category, "description": description, "lon": lon, "lat": lat, "channel": "web"}
    r = ctx.http.post("/api/v1/requests", json=body | {"public": public} | extra)
    assert r.status_code == 201, r.text
    return r.json()


def assert_absent(http: httpx.Client, template: str, value: int | str, never: int | str = NEVER, **kw) -> None:
    """``template`` for ``value`` answers exactly as for an id that never existed."""
    got, ref = http.get(template.format(value), **kw), http.get(template.format(never), **kw)
    assert ref.status_code == 404, ref.text
    assert got.status_code == ref.status_code, (template, value, got.status_code, got.text[:300])
    assert got.headers["content-type"] == ref.headers["content-type"]
    assert got.text == ref.text.replace(str(never), str(value)), (got.text, ref.text)


def public_ids(http: httpx.Client, **params) -> set[str]:
    r = http.get("/open311/v2/requests.json", params=params)
    assert r.status_code == 200, r.text
    return {x["service_request_id"] for x in r.json()}


def ogc_ids(http: httpx.Client, **params) -> set[int]:
    r = http.get("/ogc/collections/requests/items", params={"limit": 10000} | params)
    assert r.status_code == 200, r.text
    return {f["id"] for f in r.json()["features"]}


def assert_never_public(ctx: Ctx, request_id: int, tracking_code: str) -> None:
    http = ctx.http
    rid = str(request_id)
    assert rid not in public_ids(http)
    assert rid not in public_ids(http, start_date="2000-01-01T00:00:00Z")
    assert public_ids(http, service_request_id=rid) == set()
    assert rid not in {e.findtext("service_request_id") for e in _xml(http, "/open311/v2/requests.xml")}
    assert_absent(http, "/open311/v2/requests/{}.json", request_id)
    assert_absent(http, "/open311/v2/requests/{}.xml", request_id)
    assert_absent(http, "/open311/v2/tokens/{}.json", tracking_code, never=NEVER_TOKEN)
    assert request_id not in ogc_ids(http)
    assert_absent(http, "/ogc/collections/requests/items/{}", request_id)


def _xml(http: httpx.Client, path: str, **params) -> list[ET.Element]:
    r = http.get(path, params=params)
    assert r.status_code == 200, r.text
    return ET.fromstring(r.content).findall("request")


def test_a_key_households_need_raised_on_a_visit_is_never_public(ctx):
    need = unique("独居老人，腿脚不便，需要每周送药 13700002222")
    visit = ctx.ok(
        "grid_worker",
        "POST",
        f"/api/v1/key-households/{ctx.household}/visits",
        json={"notes": "visited", "needs": [{"description": need, "category": "elderly_help", "raise_request": True}]},
    )
    raised = visit["needs"][0]
    assert raised["request_id"]
    assert_never_public(ctx, raised["request_id"], raised["tracking_code"])
    # Its grid worker still reads it through Open311 and OGC, as in the REST list.
    with httpx.Client(base_url=ctx.b.base_url, headers=ctx.auth("grid_worker"), timeout=30) as worker:
        assert str(raised["request_id"]) in public_ids(worker)
        assert raised["request_id"] in ogc_ids(worker)


def test_staff_intake_and_unpublished_requests_are_never_public(ctx):
    lon, lat = ctx.point
    typed_in = ctx.ok(
        "dispatcher",
        "POST",
        "/api/v1/requests",
        json={"category": "pipe_leak", "description": unique("caller's leak"), "lon": lon, "lat": lat,
              "channel": "phone", "public": True},
    )  # fmt: skip
    assert_never_public(ctx, typed_in["id"], typed_in["tracking_code"])
    private = publish(ctx, "pipe_leak", unique("漏水，不要公开"), public=False)
    assert_never_public(ctx, private["id"], private["tracking_code"])


def test_a_published_request_shows_masked_text_only_where_its_category_allows(ctx):
    text = unique("3号楼水管漏水，找欧阳春花 13912345678，身份证 350625199001011234")
    leak = publish(ctx, "pipe_leak", text, reporter_name="欧阳春花", reporter_phone="13912345678")
    rid = str(leak["id"])
    assert rid in public_ids(ctx.http) and leak["id"] in ogc_ids(ctx.http)
    for body in (
        ctx.http.get(f"/open311/v2/requests/{rid}.json").json()[0],
        next(r for r in ctx.http.get("/open311/v2/requests.json").json() if r["service_request_id"] == rid),
    ):
        shown = body["description"]
        assert "3号楼水管漏水" in shown and "139****5678" in shown, shown
        for secret in ("13912345678", "350625199001011234", "欧阳春花"):
            assert secret not in shown
        assert (body["long"], body["lat"]) != pytest.approx((leak["lon"], leak["lat"]), abs=1e-7)
    xml = ET.fromstring(ctx.http.get(f"/open311/v2/requests/{rid}.xml").content)
    assert "13912345678" not in (xml.findtext("request/description") or "")
    assert ctx.http.get(f"/open311/v2/tokens/{leak['tracking_code']}.json").json()[0]["service_request_id"] == rid

    dispute = publish(ctx, "neighbour_dispute", unique("楼上302天天吵架"))
    shown = ctx.http.get(f"/open311/v2/requests/{dispute['id']}.json").json()[0]
    assert shown["service_code"] == "neighbour_dispute" and not shown["description"]
    listed = {e.findtext("service_request_id"): e for e in _xml(ctx.http, "/open311/v2/requests.xml")}
    assert not listed[str(dispute["id"])].findtext("description")


def test_published_ids_older_than_the_window_answer_as_absent(ctx, secured):
    secured.clock.advance(timedelta(days=-(secured.settings.public_feed_days + 5)))
    try:
        old = publish(ctx, "littering", unique("old litter"))
    finally:
        secured.clock.reset()
    recent = publish(ctx, "littering", unique("new litter"))
    assert str(recent["id"]) in public_ids(ctx.http)
    assert_never_public(ctx, old["id"], old["tracking_code"])
    assert public_ids(ctx.http, service_request_id=f"{old['id']},{recent['id']}") == {str(recent["id"])}
    # Staff still find it through Open311 with an explicit start date, as in their REST list.
    with httpx.Client(base_url=ctx.b.base_url, headers=ctx.auth("dispatcher"), timeout=30) as staff:
        assert str(old["id"]) in public_ids(staff, start_date="2000-01-01T00:00:00Z")


def test_a_control_character_in_a_stored_description_leaves_xml_well_formed(ctx, secured):
    case = publish(ctx, "sanitation", unique("bad"))
    # Stored as an old row would be (intake now refuses such characters).
    with secured.db.transaction() as s:
        s.execute(
            update(ServiceRequest).where(ServiceRequest.id == case["id"]).values(description="垃圾\u000b没人收\x01")
        )
    for path in ("/open311/v2/requests.xml", f"/open311/v2/requests/{case['id']}.xml"):
        r = ctx.http.get(path)
        assert r.status_code == 200
        root = ET.fromstring(r.content)  # raises on an ill-formed document
        texts = {e.findtext("service_request_id"): e.findtext("description") for e in root.findall("request")}
        assert texts[str(case["id"])] == "垃圾没人收"


def _links(body) -> list[str]:
    out = []
    if isinstance(body, dict):
        for k, v in body.items():
            out += [v] if k in ("href", "url") and isinstance(v, str) else _links(v)
    elif isinstance(body, list):
        for v in body:
            out += _links(v)
    return out


LINKED = (
    "/ogc/",
    "/ogc/collections",
    "/ogc/collections/requests",
    "/ogc/collections/buildings/items?limit=2&offset=2",
    "/ogc/api",
    "/open311/v2/discovery.json",
)


def test_links_come_from_public_url_and_never_from_a_forged_host(secured):
    with ExitStack() as stack:
        configured = another_app(stack, secured, public_url="https://grid.example.cn/")
        with httpx.Client(base_url=configured.base_url, timeout=30) as http:
            for path in LINKED:
                r = http.get(path, headers={"Host": "attacker.example", "X-Forwarded-Host": "attacker.example"})
                assert r.status_code == 200, (path, r.text[:300])
                assert "attacker" not in r.text, path
                links = _links(r.json()) or [s["url"] for s in r.json().get("servers", [])]
                assert links and all(link.startswith("https://grid.example.cn/") for link in links), (path, links)
            discovery = ET.fromstring(
                http.get("/open311/v2/discovery.xml", headers={"Host": "attacker.example"}).content
            )
            assert discovery.findtext("endpoints/endpoint/url") == "https://grid.example.cn/open311/v2/"
    # Without public_url: links follow an allowed (loopback) Host, and another Host is refused.
    with httpx.Client(base_url=secured.base_url, timeout=30) as http:
        links = _links(http.get("/ogc/").json())
        assert links and all(link.startswith(secured.base_url) for link in links)
        for path in LINKED:
            r = http.get(path, headers={"Host": "attacker.example"})
            assert r.status_code == 400 and "attacker.example/" not in r.text, (path, r.status_code, r.text[:300])
