"""The live event stream, read by a real SSE client over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.service.helpers import assert_problem
from tests.support.server import free_port
from tests.support.sse import SseReader

POINT = {"lon": 117.7552, "lat": 24.6221}


def raise_request(client: httpx.Client, **extra) -> dict:
    body = {"category": "littering", "description": f"垃圾 {uuid.uuid4().hex[:6]}", "channel": "web", **POINT, **extra}
    r = client.post("/api/v1/requests", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def bearer(backend, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {backend.token(username)}"}


def test_stream_needs_a_staff_token(backend, anon):
    assert_problem(anon.get("/api/v1/events"), 401)
    with backend.client("resident1") as resident:
        assert_problem(resident.get("/api/v1/events"), 403)


def test_new_and_changed_requests_arrive_on_the_stream(backend, anon):
    reader = SseReader(backend.base_url, "/api/v1/events", headers=bearer(backend, "dispatcher"))
    try:
        assert reader.status == 200
        created = raise_request(anon)
        event = reader.wait_for(lambda e: e.data.get("id") == created["id"], timeout=5)
        assert event.event == "request.created"
        assert event.data["status"] == "reported" and event.data["lon"] == pytest.approx(POINT["lon"])
        assert "reporter_phone" not in event.data and "reporter_name" not in event.data
        with backend.client("dispatcher") as d:
            d.post(f"/api/v1/requests/{created['id']}/transitions", json={"action": "accept"}).raise_for_status()
        changed = reader.wait_for(lambda e: e.data.get("id") == created["id"] and e.data["status"] == "accepted", 5)
        assert changed.event == "request.updated" and changed.id > event.id
    finally:
        reader.close()


def test_reconnecting_with_last_event_id_misses_nothing(backend, anon):
    first = SseReader(backend.base_url, "/api/v1/events", headers=bearer(backend, "dispatcher"))
    created = raise_request(anon)
    seen = first.wait_for(lambda e: e.data.get("id") == created["id"], timeout=5)
    first.close()  # the connection drops; meanwhile two more requests come in
    missed = [raise_request(anon)["id"] for _ in range(2)]
    again = SseReader(
        backend.base_url, "/api/v1/events", headers=bearer(backend, "dispatcher") | {"Last-Event-ID": str(seen.id)}
    )
    try:
        got = [again.wait_for(lambda e, rid=rid: e.data.get("id") == rid, timeout=5) for rid in missed]
        assert all(g.id > seen.id for g in got)
        assert got[0].id < got[1].id
    finally:
        again.close()


def test_browsers_open_the_stream_with_a_short_lived_ticket(backend, anon):
    with backend.client("dispatcher") as d:
        ticket = d.post("/api/v1/events/ticket").json()["ticket"]
    reader = SseReader(backend.base_url, "/api/v1/events", params={"ticket": ticket})
    try:
        created = raise_request(anon)
        reader.wait_for(lambda e: e.data.get("id") == created["id"], timeout=5)
    finally:
        reader.close()
    assert_problem(anon.get("/api/v1/events", params={"ticket": "forged"}), 401, "ticket")


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_events_cross_processes_through_listen_notify(backend):
    """A request posted to another server process reaches this one's subscribers before the poll
    interval, so the wake-up came through PostgreSQL LISTEN/NOTIFY (SpatiaLite processes poll)."""
    port = free_port()
    env = os.environ | {
        "NEIGHBORGRID_DATABASE_URL": backend.settings.database_url,
        "NEIGHBORGRID_SECRET_KEY": backend.settings.secret_key,
        "NEIGHBORGRID_SCHEDULER_ENABLED": "false",
    }
    other = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "service.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        other_url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{other_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        reader = SseReader(backend.base_url, "/api/v1/events", headers=bearer(backend, "dispatcher"))
        try:
            with httpx.Client(base_url=other_url, timeout=10) as remote:
                started = time.monotonic()
                created = raise_request(remote)
            reader.wait_for(lambda e: e.data.get("id") == created["id"], timeout=backend.settings.events_poll_seconds)
            assert time.monotonic() - started < backend.settings.events_poll_seconds
        finally:
            reader.close()
    finally:
        other.terminate()
        other.wait(10)
