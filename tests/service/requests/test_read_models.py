"""The read models say exactly what the payloads hold (no key lost, none added, no value changed),
and the requests service's reads and refusals, below HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from service.common.errors import Conflict, Invalid, NotFound
from service.requests import service
from service.requests.intake import scoped_idempotency_key
from service.requests.models import HandlingLevel, JointMeetingItem
from service.requests.schemas import CaseOut, PublicCaseOut, RequestChange, StatsOut
from service.requests.views import event_payload, public_status, request_dict
from tests.service.requests.rules import account, raise_case, rolled_back


@pytest.fixture
def session(backend):
    yield from rolled_back(backend)


def as_json(value) -> str:
    """What a client receives: keys in order, numbers as JSON spells them."""
    return json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize("full_reporter", [True, False])
def test_the_case_model_carries_the_case_payload_unchanged(backend, session, full_reporter):
    req = raise_case(session, backend.settings, backend.clock(), reporter_name="王芳", reporter_phone="13812345678")
    for extra in ({}, {"allowed_actions": ["accept", "reject"]}):
        payload = request_dict(req, full_reporter=full_reporter, **extra)
        model = CaseOut.model_validate(payload)
        assert as_json(model.model_dump(mode="json", exclude_unset=True)) == as_json(payload)
    assert set(CaseOut.model_fields) == set(request_dict(req, full_reporter=True, allowed_actions=[]))


def test_the_public_status_and_live_event_models_carry_their_payloads_unchanged(backend, session):
    req = raise_case(session, backend.settings, backend.clock())
    public = public_status(req)
    assert as_json(PublicCaseOut.model_validate(public).model_dump(mode="json")) == as_json(public)
    event = event_payload(req, action="report")
    assert as_json(RequestChange.model_validate(event).model_dump(mode="json")) == as_json(event)
    assert set(RequestChange.model_fields) == set(event)


def test_caller_scope_names_the_account_else_the_address():
    assert service.caller_scope(user_id=7, ip="10.0.0.1") == "user:7"
    assert service.caller_scope(user_id=None, ip="127.0.0.1") == "ip:127.0.0.1"
    # the same key from two callers is stored as two keys
    a, b = (scoped_idempotency_key(service.caller_scope(user_id=u, ip="127.0.0.1"), "k") for u in (1, None))
    assert a != b


def test_a_missing_request_or_photo_is_not_found_naming_the_field(backend, session):
    with pytest.raises(NotFound) as missing:
        service.load_request(session, request_id=2**31 - 1)
    assert missing.value.field == "request_id" and missing.value.status == 404
    req = raise_case(session, backend.settings, backend.clock())
    with pytest.raises(NotFound) as photo:
        service.stored_photo(session, req=req, photo_id=2**31 - 1, settings=backend.settings)
    assert photo.value.field == "photo_id"


def test_the_list_filters_the_callers_requests_and_counts_them_all(backend, session):
    dispatcher = account(session, "dispatcher")
    req = raise_case(session, backend.settings, backend.clock(), description="read-model list case")
    session.flush()
    where = service.RequestFilter(category="noise", grid_id=req.grid_id)
    rows, total = service.list_requests(session, user=dispatcher, where=where, limit=1, offset=0)
    assert len(rows) == 1 and total >= 1 and rows[0].id == req.id  # newest first
    assert all(r.grid_id == req.grid_id for r in rows)
    _, unassigned = service.list_requests(
        session, user=dispatcher, where=service.RequestFilter(unassigned=True, grid_id=req.grid_id), limit=5, offset=0
    )
    assert unassigned == 0


def test_the_trail_shows_the_public_steps_only_to_the_public(backend, session):
    req = raise_case(session, backend.settings, backend.clock())
    session.flush()
    [staff] = service.trail(session, req=req, full=True)
    [public] = service.trail(session, req=req, full=False)
    assert staff.action == public.action == "report" and staff.actor == "reporter"
    assert (public.actor, public.note, public.data) == (None, None, {})
    assert public.model_dump(by_alias=True)["from"] is None and public.to == "reported"


def test_stats_refuse_a_period_that_ends_before_it_starts(backend, session):
    now = backend.clock()
    with pytest.raises(Invalid) as bad:
        service.stats(session, start=now.isoformat(), end=(now - timedelta(days=1)).isoformat(), now=now)
    assert bad.value.field == "start" and str(bad.value) == "start must be before end"
    with pytest.raises(Invalid) as unreadable:
        service.stats(session, start="last week", end=None, now=now)
    assert unreadable.value.field == "start"


def test_stats_group_only_when_asked(backend, session):
    now = backend.clock()
    req = raise_case(session, backend.settings, now - timedelta(hours=1))
    session.flush()
    overall = service.stats(session, start=None, end=None, now=now, grid_id=req.grid_id)
    assert isinstance(overall, StatsOut) and overall.total >= 1 and "groups" not in overall.model_fields_set
    grouped = service.stats(session, start=None, end=None, now=now, grid_id=req.grid_id, group_by="grid")
    assert [g.grid_id for g in grouped.groups or []] == [req.grid_id]
    assert grouped.groups and "groups" not in grouped.groups[0].model_fields_set


def test_a_joint_meeting_item_closes_once_and_only_when_its_case_is_done(backend, session):
    admin = account(session, "admin")
    with pytest.raises(NotFound) as missing:
        service.close_joint_meeting(session, item_id=2**31 - 1, user=admin, note=None, now=backend.clock())
    assert missing.value.field == "item_id"
    req = raise_case(session, backend.settings, backend.clock())
    item = JointMeetingItem(request_id=req.id, level=HandlingLevel.TOWNSHIP, opened_at=backend.clock())
    session.add(item)
    session.flush()
    with pytest.raises(Conflict) as open_case:
        service.close_joint_meeting(session, item_id=item.id, user=admin, note=None, now=backend.clock())
    assert str(open_case.value) == "its case is still reported; close the case first"
