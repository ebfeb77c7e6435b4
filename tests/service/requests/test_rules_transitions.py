"""The workflow's rules on the service function (no HTTP): each refusal's status and field, the
stage stamps, and one trail step per transition."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.requests.models import RequestEvent, Status
from service.requests.workflow import Actor, TransitionError, TransitionInput, apply_transition
from tests.service.requests.rules import account, raise_case, rolled_back


@pytest.fixture
def session(backend):
    yield from rolled_back(backend)


def act(backend, session, req, actor, action, *, now=None, **fields):
    return apply_transition(
        session,
        req=req,
        data=TransitionInput(action=action, **fields),
        actor=actor,
        now=now or backend.clock(),
        settings=backend.settings,
    )


def refusal(backend, session, req, actor, action, **fields) -> TransitionError:
    with pytest.raises(TransitionError) as refused:
        act(backend, session, req, actor, action, **fields)
    return refused.value


def test_accept_stamps_the_case_and_records_one_step(backend, session):
    req = raise_case(session, backend.settings, backend.clock())
    dispatcher = Actor(account(session, "dispatcher"))
    now = backend.clock()
    act(backend, session, req, dispatcher, "accept", now=now, note="收到")
    assert req.status is Status.ACCEPTED and req.accepted_at == now and req.updated_at == now
    steps = session.scalars(select(RequestEvent).where(RequestEvent.request_id == req.id).order_by(RequestEvent.id))
    last = list(steps)[-1]
    assert (last.action, last.from_status, last.to_status, last.actor, last.note) == (
        "accept",
        "reported",
        "accepted",
        "dispatcher",
        "收到",
    )


def test_refusals_carry_their_status_and_field(backend, session):
    req = raise_case(session, backend.settings, backend.clock())
    dispatcher = Actor(account(session, "dispatcher"))
    unknown = refusal(backend, session, req, dispatcher, "teleport")
    assert (unknown.status, unknown.field) == (422, "action")
    wrong_state = refusal(backend, session, req, dispatcher, "verify")
    assert (wrong_state.status, wrong_state.field, wrong_state.message) == (
        409,
        "action",
        "cannot verify a request that is reported",
    )
    missing = refusal(backend, session, req, dispatcher, "reject")
    assert (missing.status, missing.field, missing.message) == (422, "reason", "reason is required to reject")
    stale = refusal(backend, session, req, dispatcher, "accept", version=req.version + 5)
    assert (stale.status, stale.field) == (409, "version")


def test_roles_are_checked_before_anything_else(backend, session):
    req = raise_case(session, backend.settings, backend.clock())
    anonymous = refusal(backend, session, req, Actor(None), "accept")
    assert anonymous.status == 401
    resident = refusal(backend, session, req, Actor(account(session, "resident1")), "accept")
    assert resident.status == 403 and resident.message.startswith("accept needs one of:")
    reporter = refusal(backend, session, req, Actor(None, is_reporter=True), "close")
    assert reporter.status == 401


def test_a_volunteer_acts_only_on_its_own_case(backend, session):
    req = raise_case(session, backend.settings, backend.clock())
    req.volunteer_id = None
    refused = refusal(backend, session, req, Actor(account(session, "volunteer1")), "resolve", note="done")
    assert (refused.status, refused.message) == (403, "volunteers act only on cases assigned to them")


def test_escalation_raises_the_level_and_stops_at_the_top(backend, session):
    req = raise_case(session, backend.settings, backend.clock())
    dispatcher = Actor(account(session, "dispatcher"))
    before = req.level
    act(backend, session, req, dispatcher, "escalate", reason="影响整栋楼")
    assert req.level.rank == before.rank + 1
    while req.level is not req.level.up():
        act(backend, session, req, dispatcher, "escalate", reason="再升级")
    top = refusal(backend, session, req, dispatcher, "escalate", reason="再升级")
    assert (top.status, top.field) == (409, "level")


def test_redispatch_clears_the_resolution(backend, session):
    req = raise_case(session, backend.settings, backend.clock())
    dispatcher = Actor(account(session, "dispatcher"))
    act(backend, session, req, dispatcher, "accept")
    act(backend, session, req, dispatcher, "dispatch", to_department=True)
    act(backend, session, req, dispatcher, "resolve", note="修好了")
    assert req.resolved_at is not None
    act(backend, session, req, dispatcher, "redispatch", reason="没修好")
    assert req.status is Status.DISPATCHED and req.resolved_at is None and req.on_site_at is None
