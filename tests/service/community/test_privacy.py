"""Key households are the most sensitive data: asserted over EVERY GET endpoint of the app (taken
from its OpenAPI description, so a new endpoint is swept too), per role, in JSON, GeoJSON, CSV,
GeoPackage and XML answers, in the live event stream, and in the request a visit raises."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from service.app import create_app
from tests.service.community.support import building_entrance, new_account
from tests.service.helpers import assert_problem
from tests.support.sse import SseReader


def get_paths(backend) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every GET path of the app with its parameters, from the app's own OpenAPI description."""
    app = create_app(backend.settings, database=backend.db, clock=backend.clock)
    try:
        spec = app.openapi()
    except Exception:  # the /metrics route's annotation breaks schema generation (not ours); skip it
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != "/metrics"]
        app.openapi_schema = None
        spec = app.openapi()
    out = [(path, ops["get"].get("parameters", [])) for path, ops in spec["paths"].items() if "get" in ops]
    if not any(path == "/metrics" for path, _ in out):
        out.append(("/metrics", []))
    return out


@pytest.fixture
def secret_household(api, backend, demo, town):
    """A key household in gridworker1's grid with distinctive details, visited by the dispatcher; a
    need found became a request. Taken off the register afterwards."""
    tag = uuid.uuid4().hex[:6]
    building_id = next(b for b, p in sorted(town.building_props.items()) if p["grid_id"] == demo.worker1_grid)
    secrets = {
        "head_name": f"隐私户主{tag}",
        "phone": f"170-0009-{int(tag, 16) % 10000:04d}",
        "unit_label": f"9单元9{tag[:2]}",
        "notes": f"secret-note-{tag}",
    }
    made = api.as_("dispatcher").post(
        "/api/v1/key-households",
        json={"building_id": building_id, "kinds": ["seriously_ill"], "caretaker_worker_id": demo.worker1, **secrets},
    )
    assert made.status_code == 201, made.text
    hh = made.json()
    yield hh, secrets, building_id, tag
    api.as_("dispatcher").patch(f"/api/v1/key-households/{hh['id']}", json={"active": False})


def visit_with_need(api, hh: dict, tag: str) -> dict:
    r = api.as_("dispatcher").post(
        f"/api/v1/key-households/{hh['id']}/visits",
        json={
            "notes": f"visit-secret-{tag}",
            "needs": [
                {"description": "楼道灯坏了 stair light broken", "category": "street_lighting", "raise_request": True}
            ],
        },
    )
    assert r.status_code == 201, r.text
    visit = r.json()
    api.created.append(visit["needs"][0]["request_id"])
    return visit


def fill(path: str, params: list[dict], ids: dict[str, Any]) -> list[tuple[str, dict]]:
    """Concrete calls for a path: its ids filled in, required/known query parameters given, and each
    output format tried."""
    variants = [path]
    for name in re.findall(r"{(\w+)}", path):
        values = ids.get(name, [1])
        variants = [v.replace("{" + name + "}", str(x)) for v in variants for x in values]
    query: dict[str, Any] = {}
    formats: list[str] = []
    for p in params:
        if p.get("in") != "query":
            continue
        name = p["name"]
        if name in ("lon", "lat"):
            query[name] = ids["lonlat"][0 if name == "lon" else 1]
        elif name == "limit":
            query[name] = 5000 if "ogc" not in path else 1000
        elif name == "layers":
            query[name] = "communities,compounds,grids,buildings,stations,service_areas"
        elif name == "format":
            formats = ["json", "geojson", "csv", "gpkg"]
        elif name == "type" and "coverage" in path:
            query[name] = "elderly_care_centre"
    calls = [(v, dict(query)) for v in variants]
    calls += [(v, query | {"format": f}) for v in variants for f in formats]
    return calls


def leaks(response, secrets: list[str]) -> list[str]:
    body = response.content
    return [s for s in secrets if s.encode() in body]


#: The live stream is swept below with a real client.
SKIP = ("/api/v1/events",)
#: Callers with households of their own: their list answers, without this household.
HAVE_OWN = ("volunteer1", "grid worker of another grid")
#: Formats the register does not offer: refused as bad input before anything is read.
BAD = ("csv", "gpkg")


def test_no_endpoint_leaks_a_key_household_to_anyone_not_allowed(api, backend, demo, secret_household):
    hh, secrets, building_id, tag = secret_household
    visit = visit_with_need(api, hh, tag)
    request_id = visit["needs"][0]["request_id"]
    tracking = visit["needs"][0]["tracking_code"]
    words = [*secrets.values(), f"visit-secret-{tag}"]
    # The allowed see it (so the sweep below looks for strings that do exist).
    detail = api.as_("dispatcher").get(f"/api/v1/key-households/{hh['id']}")
    assert not set(words) - {w for w in words if w in detail.text}

    collections = [c["id"] for c in api.as_(None).get("/ogc/collections").json()["collections"]]
    ids = {
        "lonlat": building_entrance(backend, building_id),
        "building_id": [building_id],
        "request_id": [request_id],
        "service_request_id": [request_id],
        "tracking_code": [tracking],
        "grid_id": [demo.worker1_grid],
        "household_id": [hh["id"]],
        "volunteer_id": [demo.volunteer1],
        "collection_id": collections,
        "feature_id": [request_id, building_id],
        "fmt": ["json", "xml"],
        "service_code": ["street_lighting"],
        "area_id": [1],
        "token": ["x"],
    }
    outsider = new_account(backend, "grid_worker", worker_grid=demo.other_grid)
    stranger = new_account(backend, "volunteer", volunteer=True)
    clients = {
        "anonymous": api.as_(None),
        "resident1": api.as_("resident1"),
        "planner": api.as_("planner"),
        "dept_zjj": api.as_("dept_zjj"),
        "volunteer1": api.as_("volunteer1"),  # a caretaker, but not of this household
        "stranger volunteer": stranger.client(backend),
        "grid worker of another grid": outsider.client(backend),
    }
    found, calls, ok = [], 0, 0
    for path, params in get_paths(backend):
        if path in SKIP:
            continue
        for url, query in fill(path, params, ids):
            for who, client in clients.items():
                r = client.get(url, params=query)
                calls += 1
                ok += r.status_code == 200
                if path.startswith("/api/v1/key-households") and not (who in HAVE_OWN and "{" not in path):
                    refused = r.status_code in (401, 403) or (r.status_code == 422 and query.get("format") in BAD)
                    assert refused, (who, url, query, r.status_code)
                found += [(who, url, query.get("format"), s) for s in leaks(r, words)]
    for c in ("stranger volunteer", "grid worker of another grid"):
        clients[c].close()
    assert not found, found[:10]
    assert calls > 500 and ok > 200, (calls, ok)  # the sweep really reached the data
    # The raised request itself says nothing about the household to those who may see it.
    for user in ("planner", "dispatcher", "admin", "gridworker1"):
        listed = api.as_(user).get("/api/v1/requests", params={"limit": 5000})
        assert request_id in {i["id"] for i in listed.json()["items"]}, user
        assert not leaks(listed, words) and not leaks(api.as_(user).get(f"/api/v1/requests/{request_id}"), words)
    # Staff endpoints other than the register stay clean too.
    for user in ("dispatcher", "admin", "gridworker1"):
        for path in (
            "/api/v1/buildings",
            f"/api/v1/buildings/{building_id}",
            "/api/v1/requests",
            f"/api/v1/track/{tracking}",
            "/api/v1/wishes",
            "/api/v1/volunteers",
            "/api/v1/follow-ups",
        ):
            assert not leaks(api.as_(user).get(path), words), (user, path)
    assert not leaks(api.as_("admin").get("/api/v1/audit", params={"limit": 1000}), words)


def test_the_event_stream_never_names_a_household(api, backend, demo, secret_household):
    """A visit announces only its grid, and only to those who see the grid's key households (the
    dispatcher, the grid's worker; not planners, who see the request it raised but no household);
    the request carries nothing of the household."""
    hh, secrets, _building_id, tag = secret_household
    readers = {
        who: SseReader(backend.base_url, "/api/v1/events", headers={"Authorization": f"Bearer {backend.token(who)}"})
        for who in ("dispatcher", "gridworker1", "planner")
    }
    seen: dict[str, list] = {who: [] for who in readers}
    try:
        visit = visit_with_need(api, hh, tag)
        request_id = visit["needs"][0]["request_id"]
        for who in ("dispatcher", "gridworker1"):
            created = readers[who].wait_for(
                lambda e, who=who: seen[who].append(e) or (e.event == "request.created" and e.data["id"] == request_id)
            )
            visited = readers[who].wait_for(
                lambda e, who=who: seen[who].append(e) or e.event == "key_household.visited"
            )
            assert set(visited.data) == {"grid_id"} and visited.data["grid_id"] == demo.worker1_grid
        readers["planner"].wait_for(
            lambda e: seen["planner"].append(e) or (e.event == "request.created" and e.data["id"] == request_id)
        )
        with backend.client() as anon:  # a later event: whatever the planner got of the visit came before it
            body = {"category": "noise", "description": f"after {tag}", "lon": 117.7552, "lat": 24.6221}
            later = anon.post("/api/v1/requests", json=body).json()["id"]
        readers["planner"].wait_for(lambda e: seen["planner"].append(e) or e.data.get("id") == later)
    finally:
        for reader in readers.values():
            reader.close()
    assert not [e for e in seen["planner"] if e.event.startswith("key_household.")]
    assert created.data["lon"], created.data["lat"]
    text = str([e.data for events in seen.values() for e in events])
    for word in [*secrets.values(), f"visit-secret-{tag}", "key_household", str(hh["id"])]:
        if word == str(hh["id"]):
            assert not any(e.data.get("household_id") for events in seen.values() for e in events)
            continue
        assert word not in str(created.data), word
        assert word not in text.replace("key_household.visited", ""), word


def test_roles_that_never_see_households_get_a_clear_refusal(api, demo):
    for user in ("resident1", "planner", "dept_zjj"):
        for method, url, payload in (
            ("get", "/api/v1/key-households", None),
            ("get", f"/api/v1/key-households/{demo.all_households[0]}", None),
            ("post", f"/api/v1/key-households/{demo.all_households[0]}/visits", {"notes": "x"}),
            ("patch", f"/api/v1/key-households/{demo.all_households[0]}", {"notes": "x"}),
        ):
            r = getattr(api.as_(user), method)(url, **({"json": payload} if payload else {}))
            assert_problem(r, 403)
