"""Intake and tracking of requests hold against the review's attacks (issue 12).

* Free text (description, reporter name, attributes, transition notes, reasons, comments) is
  stored without the characters XML cannot carry: U+000B/U+000C become line breaks, the rest go.
* Tracking codes: new ones are 12 of 31 symbols; old 8-symbol codes still work; ``/track/{code}``
  and Open311 ``/tokens/{code}`` answer 429 with Retry-After after too many lookups per minute or
  too many unknown codes per hour from one address (apps of their own with small limits).
* An Idempotency-Key is its caller's: another caller sending a resident's key and body gets a
  request of its own, never the resident's; the resident's own replay is masked as any read.
* A resident's own case shows public steps only: no staff notes, no usernames, no internal steps.
* The phone, walk-in and patrol channels need staff; ``open311`` is the Open311 endpoint's own.
"""

from __future__ import annotations

import re
import uuid
from contextlib import ExitStack

from sqlalchemy import select, update

from service.requests.models import RequestEvent, ServiceRequest
from tests.reliability.harness import another_app
from tests.service.helpers import assert_problem

POINT = {"lon": 117.7531, "lat": 24.6233}
CODE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}$")


def body(**extra) -> dict:
    return {"category": "sanitation", "description": f"楼道堆放垃圾 {uuid.uuid4().hex[:8]}", **POINT} | extra


def test_xml_illegal_characters_are_stripped_at_intake_and_in_transitions(secured):
    with secured.client() as anon, secured.client("dispatcher") as d:
        r = anon.post(
            "/api/v1/requests",
            json=body(
                description="路灯\u000b坏了 lamp\u0007 out\u000c\ufffe done",
                reporter_name="王\u001b五",
                channel="wechat",
            ),
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["description"] == "路灯\n坏了 lamp out\n done"
        assert created["reporter_name"] == "王五"
        r = d.post(
            f"/api/v1/requests/{created['id']}/transitions",
            json={"action": "reject", "reason": "重复\u000b上报\u0001 duplicate"},
        )
        assert r.status_code == 200, r.text
        trail = d.get(f"/api/v1/requests/{created['id']}").json()["trail"]
        assert trail[-1]["note"] == "重复\n上报 duplicate"
        # Nothing but the invisible characters is taken: an all-control description is empty.
        assert_problem(anon.post("/api/v1/requests", json=body(description="\u000b\u0008\u001f")), 422, "description")


def test_new_tracking_codes_are_12_symbols_and_old_ones_still_work(secured):
    with secured.client() as anon:
        created = anon.post("/api/v1/requests", json=body()).json()
        assert CODE.match(created["tracking_code"]), created["tracking_code"]
        with secured.db.writer() as s, s.begin():
            s.execute(update(ServiceRequest).where(ServiceRequest.id == created["id"]).values(tracking_code="OLD23456"))
        r = anon.get("/api/v1/track/old23456")
        assert r.status_code == 200 and r.json()["id"] == created["id"]


def test_guessing_tracking_codes_is_stopped_per_address(secured):
    with secured.client() as anon:
        real = anon.post("/api/v1/requests", json=body()).json()["tracking_code"]
    with ExitStack() as stack:
        app = another_app(stack, secured, code_misses_per_ip_hour=5, code_lookups_per_ip_minute=1000)
        with app.client() as c:
            assert c.get(f"/api/v1/track/{real}").status_code == 200  # hits do not count as guesses
            assert [c.get(f"/api/v1/track/ZZZZ{i:04d}ZZZZ").status_code for i in range(5)] == [404] * 5
            refused = c.get(f"/api/v1/track/{real}")  # once over, even a right code waits
            assert_problem(refused, 429)
            assert 1 <= int(refused.headers["Retry-After"]) <= 3600
            assert_problem(c.get("/open311/v2/tokens/ZZZZ0000ZZZZ.json"), 429)
            # A wrong code given to act on a request is a guess too.
            assert_problem(
                c.post("/api/v1/requests/1/transitions", json={"action": "evaluate", "tracking_code": real}), 429
            )
    with ExitStack() as stack:
        app = another_app(stack, secured, code_misses_per_ip_hour=3, code_lookups_per_ip_minute=1000)
        with app.client() as c:
            assert [c.get(f"/open311/v2/tokens/ZZZZ{i:04d}ZZZZ.json").status_code for i in range(3)] == [404] * 3
            refused = c.get(f"/open311/v2/tokens/{real}.json")
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    with ExitStack() as stack:
        app = another_app(stack, secured, code_lookups_per_ip_minute=3)
        with app.client() as c:
            assert [c.get(f"/api/v1/track/{real}").status_code for _ in range(3)] == [200] * 3
            refused = c.get(f"/api/v1/track/{real}")
            assert_problem(refused, 429)
            assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_an_idempotency_key_is_its_callers_own(secured):
    key = f"resident-{uuid.uuid4()}"
    payload = body(reporter_name="欧阳春花", reporter_phone="13922223333")
    with secured.client("resident1") as resident, secured.client() as anon, secured.client("volunteer1") as other:
        first = resident.post("/api/v1/requests", json=payload, headers={"Idempotency-Key": key})
        assert first.status_code == 201, first.text
        mine = first.json()
        for stranger in (anon, other):
            r = stranger.post("/api/v1/requests", json=payload, headers={"Idempotency-Key": key})
            assert r.status_code == 201, r.text
            assert "idempotent-replayed" not in r.headers
            got = r.json()
            assert got["id"] != mine["id"] and got["tracking_code"] != mine["tracking_code"]
        # The resident's own retry is a replay, answered as the resident reads the case now.
        again = resident.post("/api/v1/requests", json=payload, headers={"Idempotency-Key": key})
        assert again.status_code in (200, 201) and again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == mine["id"]
        read = resident.get(f"/api/v1/requests/{mine['id']}").json()
        assert again.json()["reporter_phone"] == read["reporter_phone"] == "139****3333"
        assert again.json()["reporter_name"] == read["reporter_name"]


def test_a_residents_own_trail_has_public_steps_only(secured):
    with secured.client("resident1") as resident, secured.client("dispatcher") as d:
        case = resident.post("/api/v1/requests", json=body(channel="wechat")).json()
        rid = case["id"]
        steps = [
            {"action": "accept", "note": "内部备注：住户有纠纷 staff only"},
            {"action": "escalate", "reason": "上报街道 internal escalation"},
        ]
        for step in steps:
            r = d.post(f"/api/v1/requests/{rid}/transitions", json=step)
            assert r.status_code == 200, r.text
        staff_view = d.get(f"/api/v1/requests/{rid}").json()["trail"]
        assert [e["action"] for e in staff_view] == ["report", "accept", "escalate"]
        assert staff_view[1]["actor"] == "dispatcher" and staff_view[1]["note"]
        for trail in (
            resident.get(f"/api/v1/requests/{rid}").json()["trail"],
            resident.get(f"/api/v1/track/{case['tracking_code']}").json()["trail"],
        ):
            assert [e["action"] for e in trail] == ["report", "accept"]
            assert all(e["actor"] is None and e["note"] is None and e["data"] == {} for e in trail)
            assert "dispatcher" not in str(trail) and "resident1" not in str(trail)
        with secured.db.reader() as s:  # the full trail is still there for staff
            assert len(s.scalars(select(RequestEvent).where(RequestEvent.request_id == rid)).all()) == 3


def test_staff_channels_need_staff(secured):
    with (
        secured.client() as anon,
        secured.client("resident1") as resident,
        secured.client("volunteer1") as volunteer,
        secured.client("gridworker1") as worker,
        secured.client("dispatcher") as d,
    ):
        for client in (anon, resident, volunteer):
            for channel in ("patrol", "phone", "walk_in", "open311"):
                assert_problem(client.post("/api/v1/requests", json=body(channel=channel)), 403, "channel")
            for channel in ("web", "wechat", "mini_program"):
                assert client.post("/api/v1/requests", json=body(channel=channel)).status_code == 201
        r = worker.post("/api/v1/requests", json=body(channel="patrol"))
        assert r.status_code == 201 and r.json()["channel"] == "patrol"
        assert d.post("/api/v1/requests", json=body(channel="phone")).status_code == 201
        assert_problem(d.post("/api/v1/requests", json=body(channel="open311")), 403, "channel")
