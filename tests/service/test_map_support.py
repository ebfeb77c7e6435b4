"""What the web maps need from the API: the service's clock in request lists, missed deadlines in
live events, and the attribution of stored OpenStreetMap data."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import delete

from service.buildings.models import Building
from tests.support.sse import SseReader

POINT = {"lon": 117.7552, "lat": 24.6221}


def test_request_lists_carry_the_service_clock(backend):
    """Deadlines count down against the service's clock, which may differ from the browser's."""
    with backend.client("dispatcher") as c:
        try:
            backend.clock.advance(timedelta(hours=3))
            for fmt in ("json", "geojson"):
                body = c.get("/api/v1/requests", params={"limit": 1, "format": fmt}).json()
                now = datetime.fromisoformat(body["now"])
                assert abs((now - backend.clock()).total_seconds()) < 5, fmt
        finally:
            backend.clock.reset()


def test_live_events_say_which_deadlines_were_missed(backend):
    """The map flashes a breached case from the event alone, whatever the browser's clock says."""
    token = {"Authorization": f"Bearer {backend.token('dispatcher')}"}
    reader = SseReader(backend.base_url, "/api/v1/events", headers=token)
    with backend.client("dispatcher") as staff:
        created = staff.post(
            "/api/v1/requests",
            json={"category": "littering", "description": "map support test", "channel": "phone", **POINT},
        ).json()
        try:
            fresh = reader.wait_for(lambda e: e.data.get("id") == created["id"], timeout=5)
            assert fresh.data["breached"] == []
            backend.clock.advance(timedelta(minutes=6))  # past the 5-minute response deadline
            late = reader.wait_for(lambda e: e.data.get("id") == created["id"] and e.data["breached"], timeout=10)
            assert late.data["breached"] == ["response"] and late.data["action"] == "breach"
        finally:
            backend.clock.reset()
            reader.close()
            for _ in range(5):  # settle it (a scheduler tick may bump the version meanwhile)
                current = staff.get(f"/api/v1/requests/{created['id']}").json()
                r = staff.post(
                    f"/api/v1/requests/{created['id']}/transitions",
                    json={"action": "reject", "reason": "test cleanup", "version": current["version"]},
                )
                if r.status_code != 409:
                    break


def test_attribution_names_openstreetmap_only_when_its_data_is_stored(backend):
    with backend.client() as anon:
        assert anon.get("/api/v1/attribution").json() == {"sources": []}  # the demo is our own data
        with backend.db.transaction() as s:
            s.add(
                Building(
                    ref="osm:way/4242",
                    households=0,
                    geom=from_shape(MultiPolygon([box(24.94, 60.17, 24.9401, 60.1701)]), srid=4326),
                )
            )
        try:
            sources = anon.get("/api/v1/attribution").json()["sources"]
            assert [s["name"] for s in sources] == ["OpenStreetMap"]
            assert sources[0]["layers"] == ["buildings"] and "ODbL" in sources[0]["licence"]
            assert "OpenStreetMap contributors" in sources[0]["attribution"]
        finally:
            with backend.db.transaction() as s:
                s.execute(delete(Building).where(Building.ref == "osm:way/4242"))


def test_a_new_request_reaches_the_stream_at_once_not_at_the_next_poll(backend):
    """The live map's promise (a new request on screen within 1 s) rests on the commit waking the
    stream. Intake inserts in a savepoint: releasing it must not wake the stream before the data
    is committed (it then read nothing and waited for the next poll, 3 s in these tests)."""
    assert backend.settings.events_poll_seconds >= 3
    token = {"Authorization": f"Bearer {backend.token('dispatcher')}"}
    reader = SseReader(backend.base_url, "/api/v1/events", headers=token)
    created = []
    try:
        with backend.client() as anon:
            for i in range(3):
                r = anon.post("/api/v1/requests", json={"category": "noise", "description": f"wake {i}", **POINT})
                posted = time.monotonic()
                created.append(r.json())
                reader.wait_for(lambda e, rid=created[-1]["id"]: e.data.get("id") == rid, timeout=10)
                assert time.monotonic() - posted < 1.0, f"request {i} reached the stream only at the poll"
    finally:
        reader.close()
        with backend.client("dispatcher") as staff:
            for c in created:
                staff.post(
                    f"/api/v1/requests/{c['id']}/transitions",
                    json={"action": "reject", "reason": "test cleanup", "version": c["version"]},
                )
