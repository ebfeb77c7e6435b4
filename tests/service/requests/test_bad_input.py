"""Bad input gets 422 problem+json naming the field, and stores nothing; never a 500."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import func, select

from geo.coords import to_wgs84
from service.requests.models import ServiceRequest
from tests.service.helpers import assert_problem
from tests.service.requests.api import Api, body, check
from tests.support.town import Town

POINT = (117.7552, 24.6221)
DROP = object()  # marks a key to leave out of the body

INTAKE_CASES = {
    "unknown category": ({"category": "alien_landing"}, "category"),
    "missing category": ({"category": DROP}, "category"),
    "missing location": ({"lon": DROP, "lat": DROP}, "lon"),
    "lon without lat": ({"lat": DROP}, "lat"),
    "lat without lon": ({"lon": DROP}, "lon"),
    "lon above 180": ({"lon": 180.0001}, "lon"),
    "lon below -180": ({"lon": -181}, "lon"),
    "lat above 90": ({"lat": 90.5}, "lat"),
    "lat below -90": ({"lat": -91}, "lat"),
    "lon as a string": ({"lon": "117.7552"}, "lon"),
    "lat as a string": ({"lat": "24.6221"}, "lat"),
    "lon as a boolean": ({"lon": True}, "lon"),
    "building_id as a string": ({"lon": DROP, "lat": DROP, "building_id": "12"}, "building_id"),
    "building that does not exist": ({"lon": DROP, "lat": DROP, "building_id": 987654}, "building_id"),
    "building_id zero": ({"lon": DROP, "lat": DROP, "building_id": 0}, "building_id"),
    "description over 2000": ({"description": "漏" * 2001}, "description"),
    "description blank": ({"description": "   "}, "description"),
    "missing description": ({"description": DROP}, "description"),
    "unknown channel": ({"channel": "fax"}, "channel"),
    "unknown coord_type": ({"coord_type": "utm50n"}, "coord_type"),
    "unknown scope": ({"scope": "planet"}, "scope"),
    "phone that is not a phone": ({"reporter_phone": "call me maybe"}, "reporter_phone"),
    "unknown field": ({"priority": "urgent"}, "priority"),
}
#: Not expressible in JSON by ``json.dumps``: sent as raw text.
RAW_CASES = {
    "NaN lon": ('"lon": NaN', "lon"),
    "Infinity lat": ('"lat": Infinity', "lat"),
    "-Infinity lon": ('"lon": -Infinity', "lon"),
}


def with_changes(base: dict, changes: dict) -> dict:
    out = dict(base)
    for k, v in changes.items():
        if v is DROP:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def stored_with(api: Api, description) -> int:
    with api.backend.db.reader() as s:
        return s.scalar(
            select(func.count()).select_from(ServiceRequest).where(ServiceRequest.description == description)
        )


@pytest.mark.parametrize("case", sorted(INTAKE_CASES))
def test_bad_intake_is_422_naming_the_field(api, case):
    """The answer names the field at fault, and no request is stored."""
    changes, field = INTAKE_CASES[case]
    base = body("littering", POINT)
    r = api.post(with_changes(base, changes))
    assert_problem(r, 422, field)
    assert stored_with(api, base["description"]) == 0


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_non_finite_numbers_are_422_naming_the_field(api, case):
    """NaN and ±Infinity (accepted by lenient JSON parsers) are refused as coordinates."""
    fragment, field = RAW_CASES[case]
    base = body("littering", POINT)
    doc = json.dumps({k: v for k, v in base.items() if k not in ("lon", "lat")})
    other = "lat" if field == "lon" else "lon"
    raw = doc[:-1] + f", {fragment}, {json.dumps(other)}: {base[other]}" + "}"
    r = api.as_(None).post("/api/v1/requests", content=raw, headers={"content-type": "application/json"})
    assert_problem(r, 422, field)
    assert stored_with(api, base["description"]) == 0


def test_limits_themselves_are_accepted(api):
    """2000 characters and the extreme coordinates are valid input, outside coverage or not."""
    long = api.create(body("littering", POINT, description="漏" * 2000))
    assert len(long["description"]) == 2000
    for lon, lat in ((180.0, 90.0), (-180.0, -90.0), (0.0, 0.0)):
        far = api.create(body("littering", (lon, lat)))
        assert far["grid_id"] is None and far["outside_coverage"] is True


@pytest.mark.parametrize("point", [(117.7, -90.0), (0.0, -89.999)])
def test_bd09_input_near_a_pole_is_accepted_in_range_or_refused_by_field(backend, point):
    """Any in-range point in any declared system is stored in range or refused naming the field."""
    assert not -90 <= to_wgs84(*point, "bd09")[1] <= 90  # the conversion itself leaves the valid range
    with backend.client() as c:
        r = c.post("/api/v1/requests", json=body("littering", point, coord_type="bd09"))
    check(r.status_code in (201, 422), f"status {r.status_code}")
    if r.status_code == 422:
        assert_problem(r, 422, "lat")
    else:
        check(-90 <= r.json()["lat"] <= 90 and -180 <= r.json()["lon"] <= 180, f"stored out of range: {r.text}")


@pytest.mark.parametrize("field", ["description", "reporter_name"])
def test_nul_characters_in_free_text_are_refused_or_removed(backend, field):
    """A NUL byte is not text: refused naming the field (or dropped), the same on both backends."""
    payload = body("littering", POINT)
    payload[field] = (payload.get(field) or "王") + "\x00x"
    with backend.client() as c:
        r = c.post("/api/v1/requests", json=payload)
    check(r.status_code in (201, 422), f"status {r.status_code}")
    if r.status_code == 422:
        assert_problem(r, 422, field)
    else:
        with backend.client("dispatcher") as d:
            kept_nul = "\x00" in d.get(f"/api/v1/requests/{r.json()['id']}").json()[field]
        check(not kept_nul, f"the stored {field} still holds the NUL character")


def big_id_cases():
    big = 2**31  # one past PostgreSQL's integer
    return {
        "GET request": ("GET", f"/api/v1/requests/{big}", {}, (404, 422)),
        "transition on request": (
            "POST",
            f"/api/v1/requests/{big}/transitions",
            {"json": {"action": "accept"}},
            (404, 422),
        ),
        "dispatch candidates": ("GET", f"/api/v1/requests/{big}/volunteers", {}, (404, 422)),
        "intake building_id": (
            "POST",
            "/api/v1/requests",
            {"json": body("littering", None, building_id=big)},
            422,
        ),
        "list grid_id": ("GET", "/api/v1/requests", {"params": {"grid_id": big}}, (200, 422)),
        "stats grid_id": ("GET", "/api/v1/stats", {"params": {"grid_id": big}}, (200, 422)),
        "close joint-meeting item": ("POST", f"/api/v1/joint-meetings/{big}/close", {}, (404, 422)),
    }


@pytest.mark.parametrize("case", sorted(big_id_cases()))
def test_ids_beyond_the_database_integer_range_are_a_client_error(backend, case):
    """An id too large for the database is simply not found (or refused), never a 500."""
    method, url, kwargs, expected = big_id_cases()[case]
    with backend.client("dispatcher") as c:
        r = c.request(method, url, **kwargs)
    check(r.status_code in (expected if isinstance(expected, tuple) else (expected,)), f"status {r.status_code}")


def test_bad_transition_input_is_422_naming_the_field(api, town: Town):
    """Unknown actions, wrong types and references to nothing are refused naming the field."""
    req = api.create(body("littering", POINT))
    cases = [
        ({"action": "teleport"}, "action"),
        ({"action": "escalate", "reason": "x", "version": "1"}, "version"),
        ({"action": "escalate", "reason": "x", "level": "galaxy"}, "level"),
        ({"action": "escalate", "reason": "x", "colour": "red"}, "colour"),
        ({"action": "merge", "duplicate_of": req["id"]}, "duplicate_of"),
        ({"action": "merge", "duplicate_of": 987654}, "duplicate_of"),
    ]
    for payload, field in cases:
        r = api.as_("dispatcher").post(f"/api/v1/requests/{req['id']}/transitions", json=payload)
        assert_problem(r, 422, field)
    api.act(req["id"], "accept")
    for payload, field in (
        ({"action": "dispatch", "volunteer_id": 987654}, "volunteer_id"),
        ({"action": "dispatch", "department_id": 987654}, "department_id"),
    ):
        assert_problem(
            api.as_("dispatcher").post(f"/api/v1/requests/{req['id']}/transitions", json=payload), 422, field
        )
    resolved = api.drive(api.create(body("littering", POINT)), "resolved")
    for satisfaction in (0, 6, "5", 4.5, None):
        payload = {"action": "evaluate", "tracking_code": resolved["tracking_code"], "satisfaction": satisfaction}
        assert_problem(api.send(resolved["id"], **payload, user=None), 422, "satisfaction")
    assert api.get(resolved["id"])["status"] == "resolved"
    assert api.get(req["id"])["version"] == 2


def test_bad_stats_parameters_are_422_naming_the_field(api):
    """Dates must parse and be in order; grouping is by grid or community only."""
    stats = api.as_("dispatcher")
    assert_problem(stats.get("/api/v1/stats", params={"start": "last tuesday"}), 422, "start")
    assert_problem(stats.get("/api/v1/stats", params={"end": "2026-13-01"}), 422, "end")
    window = {"start": "2026-02-01", "end": "2026-01-01"}
    assert_problem(stats.get("/api/v1/stats", params=window), 422, "start")
    assert_problem(stats.get("/api/v1/stats", params={"group_by": "street"}), 422, "group_by")
    assert math.isfinite(stats.get("/api/v1/stats").json()["total"])


def test_an_early_end_date_without_a_start_is_not_a_server_error(backend):
    """Any parseable date is answered (empty KPIs) or refused naming the field."""
    with backend.client("dispatcher") as c:
        r = c.get("/api/v1/stats", params={"end": "0001-01-01"})
    check(r.status_code in (200, 422), f"status {r.status_code}")
