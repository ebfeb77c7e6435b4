"""Open311 GeoReport v2: the PyPI client `georeport`, every rule of the spec, answers against schemas."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from georeport import GeoReport
from jsonschema import Draft4Validator
from referencing import Registry, Resource

from geo.coords import from_wgs84

SCHEMAS = Path(__file__).parent / "schemas"
POINT = (117.7553, 24.6212)


def validator(name: str) -> Draft4Validator:
    registry = Registry().with_resources(
        (
            p.name,
            Resource.from_contents(json.loads(p.read_text()) | {"$schema": "http://json-schema.org/draft-04/schema#"}),
        )
        for p in SCHEMAS.glob("*.json")
    )
    return Draft4Validator(json.loads((SCHEMAS / name).read_text()), registry=registry)


def check(schema: str, body) -> None:
    errors = sorted(validator(schema).iter_errors(body), key=str)
    assert not errors, [e.message for e in errors[:5]]


@pytest.fixture(scope="module")
def api_key(backend) -> str:
    with backend.client("admin") as admin:
        r = admin.post("/api/v1/api-clients", json={"name": f"civic-app-{uuid.uuid4().hex[:6]}"})
        assert r.status_code == 201
        return r.json()["api_key"]


def post(anon, key, **fields):
    """A request through Open311 whose reporter agreed to publish it (``public=true``), so that the
    public reads below see it (unpublished ones are tested in tests/security/test_public_feeds.py)."""
    form = {
        "api_key": key,
        "service_code": "littering",
        "lat": POINT[1],
        "long": POINT[0],
        "description": "open311 " + uuid.uuid4().hex[:6],
        "public": "true",
    } | fields
    return anon.post("/open311/v2/requests.json", data={k: v for k, v in form.items() if v is not None})


def test_the_georeport_client_reads_services_and_requests(backend, anon, api_key):
    client = GeoReport(f"{backend.base_url}/open311/v2", api_key=api_key)
    services = client.get_service_list()
    check("services.json", services)
    codes = {s["service_code"] for s in services}
    assert {"pipe_leak", "lift_failure", "neighbour_dispute"} <= codes
    definition = client.get_service_definition("lift_failure")
    check("service-definition.json", definition)
    assert {a["code"] for a in definition["attributes"]} == {"floor", "trapped"}
    created = post(anon, api_key).json()
    requests = client.get_service_requests(service_request_id=created[0]["service_request_id"])
    check("requests.json", requests)
    assert [r["service_request_id"] for r in requests] == [created[0]["service_request_id"]]


def test_post_goes_through_the_native_intake(backend, anon, api_key):
    key = uuid.uuid4().hex
    form = {
        "api_key": api_key,
        "service_code": "pipe_leak",
        "lat": POINT[1],
        "long": POINT[0],
        "description": "水管漏了",
        "phone": "13700001234",
        "first_name": "李",
        "public": "true",
    }
    first = anon.post("/open311/v2/requests.json", headers={"Idempotency-Key": key}, data=form)
    assert first.status_code == 200
    check("post-response.json", first.json())
    again = anon.post("/open311/v2/requests.json", headers={"Idempotency-Key": key}, data=form)
    assert again.json()[0]["service_request_id"] == first.json()[0]["service_request_id"]
    rid = int(first.json()[0]["service_request_id"])
    with backend.client("dispatcher") as d:
        native = d.get(f"/api/v1/requests/{rid}").json()
    assert native["channel"] == "open311" and native["grid_id"] and native["volunteer_id"]
    assert native["reporter_phone"] == "13700001234"
    assert first.json()[0]["token"] == native["tracking_code"]
    token = anon.get(f"/open311/v2/tokens/{native['tracking_code']}.json").json()
    assert token == [{"service_request_id": str(rid), "token": native["tracking_code"]}]


def test_gcj02_extension_lands_where_wgs84_does(anon, api_key):
    wgs = post(anon, api_key).json()[0]["service_request_id"]
    lon, lat = from_wgs84(*POINT, "gcj02")
    shifted = post(anon, api_key, lat=lat, long=lon, coord_type="gcj02").json()[0]["service_request_id"]
    a, b = (anon.get(f"/open311/v2/requests/{i}.json").json()[0] for i in (wgs, shifted))
    assert (a["lat"], a["long"]) == (b["lat"], b["long"])
    assert a["agency_responsible"] == b["agency_responsible"]


def test_status_maps_to_open_and_closed_with_notes_and_deadline(backend, anon, api_key):
    rid = post(anon, api_key).json()[0]["service_request_id"]
    one = anon.get(f"/open311/v2/requests/{rid}.json").json()
    assert isinstance(one, list) and len(one) == 1
    check("requests.json", one)
    assert one[0]["status"] == "open" and one[0]["status_notes"].startswith("reported")
    with backend.client("dispatcher") as d:
        native = d.get(f"/api/v1/requests/{rid}").json()
        assert one[0]["expected_datetime"] == native["due_resolve_at"]
        for action in (
            {"action": "accept"},
            {"action": "dispatch"},
            {"action": "resolve", "note": "done"},
            {"action": "verify"},
        ):
            assert d.post(f"/api/v1/requests/{rid}/transitions", json=action).status_code == 200
    closed = anon.get(f"/open311/v2/requests/{rid}.json").json()[0]
    assert closed["status"] == "closed" and "verified" in closed["status_notes"]
    open_only = {
        r["service_request_id"] for r in anon.get("/open311/v2/requests.json", params={"status": "open"}).json()
    }
    assert rid not in open_only
    assert rid in {
        r["service_request_id"] for r in anon.get("/open311/v2/requests.json", params={"status": "closed"}).json()
    }


def test_default_window_is_90_days(backend, anon, api_key):
    """The default window is 90 days; the public cannot reach past it, staff can with start_date."""
    rid = post(anon, api_key).json()[0]["service_request_id"]
    assert rid in {r["service_request_id"] for r in anon.get("/open311/v2/requests.json").json()}
    backend.clock.advance(timedelta(days=91))
    try:
        recent = {r["service_request_id"] for r in anon.get("/open311/v2/requests.json").json()}
        assert rid not in recent
        params = {"start_date": "2020-01-01T00:00:00Z"}
        old = anon.get("/open311/v2/requests.json", params=params).json()
        assert rid not in {r["service_request_id"] for r in old}
        with backend.client("dispatcher") as staff:
            old = staff.get("/open311/v2/requests.json", params=params).json()
        assert rid in {r["service_request_id"] for r in old} and len(old) <= 1000
    finally:
        backend.clock.reset()


def test_xml_is_well_formed_and_mirrors_json(anon, api_key):
    rid = post(anon, api_key).json()[0]["service_request_id"]
    services = ET.fromstring(anon.get("/open311/v2/services.xml").content)
    assert services.tag == "services" and services.find("service/service_code") is not None
    reqs = ET.fromstring(anon.get(f"/open311/v2/requests/{rid}.xml").content)
    assert reqs.tag == "service_requests" and reqs.find("request/service_request_id").text == rid
    definition = ET.fromstring(anon.get("/open311/v2/services/lift_failure.xml").content)
    assert [a.findtext("code") for a in definition.findall("attributes/attribute")] == ["floor", "trapped"]
    error = ET.fromstring(anon.get("/open311/v2/requests/99999999.xml").content)
    assert error.tag == "errors" and error.findtext("error/code") == "404"
    ET.fromstring(anon.get("/open311/v2/discovery.xml").content)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"api_key": None}, 403),
        ({"api_key": "ng311_forged"}, 403),
        ({"service_code": "teleport"}, 400),
        ({"lat": None}, 400),
        ({"lat": "north"}, 400),
        ({"long": "nan"}, 400),
        ({"lat": "95"}, 400),
        ({"coord_type": "utm"}, 400),
        ({"service_code": "lift_failure"}, 400),  # attribute[trapped] is required
        ({"service_code": "lift_failure", "attribute[trapped]": "maybe"}, 400),
    ],
)
def test_errors_are_arrays_of_code_and_description(anon, api_key, fields, status):
    r = post(anon, api_key, **fields)
    assert r.status_code == status, r.text
    check("errors.json", r.json())
    assert r.json()[0]["code"] == status


def test_revoked_keys_stop_working(backend, anon):
    with backend.client("admin") as admin:
        made = admin.post("/api/v1/api-clients", json={"name": "temporary"}).json()
        assert post(anon, made["api_key"]).status_code == 200
        assert admin.delete(f"/api/v1/api-clients/{made['id']}").status_code == 204
    assert post(anon, made["api_key"]).status_code == 403
    with backend.client("dispatcher") as d:
        assert d.post("/api/v1/api-clients", json={"name": "x"}).status_code == 403


def test_unknown_things_are_404_and_bad_dates_400(anon):
    for path in (
        "/open311/v2/services/teleport.json",
        "/open311/v2/requests/abc.json",
        "/open311/v2/tokens/NOPE0000.json",
        "/open311/v2/services.yaml",
    ):
        r = anon.get(path)
        assert r.status_code == 404, path
        check("errors.json", r.json()) if path.endswith(".json") else None
    bad = anon.get("/open311/v2/requests.json", params={"start_date": "last week"})
    assert bad.status_code == 400
    check("errors.json", bad.json())
