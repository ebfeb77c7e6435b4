"""Intake's rules on the service function (no HTTP): validation names the field at fault, the
case gets its place, deadlines, colour and one ``report`` step in its trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from service.buildings.models import Building
from service.common.errors import Forbidden, Invalid
from service.requests.intake import IdempotencyMismatch, IntakeError, NewRequest, check_channel, submit_request
from service.requests.models import Channel, RequestEvent, Status
from tests.service.requests.rules import LAT, LON, account, raise_case, rolled_back


@pytest.fixture
def session(backend):
    yield from rolled_back(backend)


def events(session, req) -> list[RequestEvent]:
    return list(session.scalars(select(RequestEvent).where(RequestEvent.request_id == req.id)))


def test_a_new_case_is_placed_timed_and_recorded_once(backend, session):
    now = backend.clock()
    req = raise_case(session, backend.settings, now)
    assert req.status is Status.REPORTED and req.grid_id is not None and req.community_id is not None
    assert req.due_response_at == now + timedelta(minutes=backend.settings.response_minutes)
    assert req.due_onsite_at == now + timedelta(minutes=backend.settings.onsite_minutes)
    assert req.due_resolve_at == now + timedelta(hours=req.category.resolve_hours)
    assert len(req.tracking_code) == 12
    [step] = events(session, req)
    assert (step.action, step.from_status, step.to_status, step.actor) == ("report", None, "reported", "reporter")
    assert step.data == {
        "channel": "wechat",
        "grid_id": req.grid_id,
        "volunteer_id": req.volunteer_id,
        "walk_m": req.volunteer_walk_m,
        "assignment": req.assignment_method,
    }


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"description": "   "}, "description", "description must not be empty"),
        ({"lat": None}, "lat", "lat is required when the other coordinate is given"),
        ({"lon": None, "lat": None}, "lon", "a location is required: lon and lat, or building_id"),
        ({"reporter_phone": "call me"}, "reporter_phone", "reporter_phone must be a phone number"),
        ({"category": "no-such-kind"}, "category", "unknown category 'no-such-kind'"),
        ({"lon": None, "lat": None, "building_id": 10**9}, "building_id", "no building with id 1000000000"),
    ],
)
def test_bad_input_names_its_field(backend, session, fields, field, message):
    with pytest.raises(IntakeError) as refused:
        raise_case(session, backend.settings, backend.clock(), **fields)
    assert isinstance(refused.value, Invalid) and refused.value.status == 422
    assert refused.value.field == field and refused.value.message.startswith(message)


def test_a_case_raised_at_a_building_sits_at_it(backend, session):
    building = session.scalars(select(Building).where(Building.households > 0).order_by(Building.id)).first()
    assert building is not None
    req = raise_case(session, backend.settings, backend.clock(), lon=None, lat=None, building_id=building.id)
    assert req.building_id == building.id and req.raw_coord_type == "building" and req.raw_lon is None
    assert req.households_affected == 1  # a single household's problem, unless the scope says more


def test_staff_channels_need_staff(backend, session):
    check_channel(Channel.WECHAT, None)
    check_channel(Channel.PHONE, account(session, "dispatcher"))
    with pytest.raises(Forbidden) as refused:
        check_channel(Channel.PHONE, None)
    assert refused.value.field == "channel" and refused.value.status == 403


def test_an_idempotent_retry_returns_the_stored_case_and_another_body_is_refused(backend, session):
    now = backend.clock()
    data = NewRequest(category="noise", description="噪音", channel=Channel.WECHAT, lon=LON, lat=LAT)
    first, replayed = submit_request(
        session, data=data, settings=backend.settings, now=now, idempotency_key="k-1", idempotency_scope="ip:x"
    )
    again, replayed_again = submit_request(
        session, data=data, settings=backend.settings, now=now, idempotency_key="k-1", idempotency_scope="ip:x"
    )
    assert (replayed, replayed_again, again.id) == (False, True, first.id)
    other = NewRequest(category="noise", description="别的", channel=Channel.WECHAT, lon=LON, lat=LAT)
    with pytest.raises(IdempotencyMismatch) as refused:
        submit_request(
            session, data=other, settings=backend.settings, now=now, idempotency_key="k-1", idempotency_scope="ip:x"
        )
    assert refused.value.field == "Idempotency-Key" and refused.value.status == 422
