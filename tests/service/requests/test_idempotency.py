"""An ``Idempotency-Key`` makes a retried intake return the same request and never store a second row."""

from __future__ import annotations

import threading
import uuid

import httpx
from sqlalchemy import func, select

from service.requests.intake import scoped_idempotency_key
from service.requests.models import ServiceRequest
from tests.service.helpers import assert_problem
from tests.service.requests.api import Api, body
from tests.support.town import Town


def rows_with_key(api: Api, key: str, scope: str = "ip:127.0.0.1") -> int:
    """Rows stored for ``key`` sent by ``scope`` (keys are the caller's own; these tests post
    anonymously from the loopback address)."""
    stored = scoped_idempotency_key(scope, key)
    with api.backend.db.reader() as s:
        return s.scalar(
            select(func.count()).select_from(ServiceRequest).where(ServiceRequest.idempotency_key == stored)
        )


def test_a_retry_with_the_same_key_returns_the_same_request(api, town: Town):
    """The replay answers with the same request and says so in ``Idempotent-Replayed``."""
    key = f"retry-{uuid.uuid4()}"
    payload = body("littering", town.inner_point(sorted(town.grids)[3]), reporter_phone="13812345678")
    first = api.post(payload, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = api.post(payload, headers={"Idempotency-Key": key})
    assert again.status_code in (200, 201), again.text
    assert again.headers["idempotent-replayed"] == "true"
    a, b = first.json(), again.json()
    assert (b["id"], b["tracking_code"], b["reported_at"]) == (a["id"], a["tracking_code"], a["reported_at"])
    assert rows_with_key(api, key) == 1
    other = api.post(payload, headers={"Idempotency-Key": f"retry-{uuid.uuid4()}"})
    assert other.status_code == 201 and other.json()["id"] != a["id"]


def test_concurrent_retries_store_exactly_one_row(api, town: Town):
    """Eight clients firing the same key at the same moment all get the one request."""
    key = f"burst-{uuid.uuid4()}"
    payload = body("littering", town.inner_point(sorted(town.grids)[5]))
    n = 8
    barrier = threading.Barrier(n)
    responses: list[httpx.Response] = []
    errors: list[BaseException] = []
    client = api.as_(None)

    def fire() -> None:
        try:
            barrier.wait(timeout=10)
            responses.append(client.post("/api/v1/requests", json=payload, headers={"Idempotency-Key": key}))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=fire) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert [r.status_code for r in responses if r.status_code not in (200, 201)] == [], [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    api.created.extend(ids)
    assert len(ids) == 1
    assert rows_with_key(api, key) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == n - 1


def test_the_same_key_with_a_different_body_is_refused(api, town: Town):
    """Reusing a key for another request is a client error naming the header; nothing is stored."""
    key = f"reuse-{uuid.uuid4()}"
    payload = body("littering", town.inner_point(sorted(town.grids)[7]))
    first = api.create(payload, headers={"Idempotency-Key": key})
    changed = payload | {"description": payload["description"] + " (edited)"}
    assert_problem(api.post(changed, headers={"Idempotency-Key": key}), 422, "Idempotency-Key")
    moved = payload | {"lon": payload["lon"] + 0.001}
    assert_problem(api.post(moved, headers={"Idempotency-Key": key}), 422, "Idempotency-Key")
    assert rows_with_key(api, key) == 1
    assert api.get(first["id"])["description"] == payload["description"]
