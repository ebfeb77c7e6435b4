"""Reopening and closing on the service functions (no HTTP): the reporter's limits (a low rating,
the 30-day window), the dispatcher's freedom, and the automatic close by the system."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from service.requests import workflow
from service.requests.models import RequestEvent, Status
from service.requests.policy import REOPEN_WINDOW
from service.requests.workflow import Actor, TransitionError, TransitionInput, apply_transition
from tests.service.requests.rules import account, raise_case, rolled_back


@pytest.fixture
def session(backend):
    yield from rolled_back(backend)


def finished(backend, session, status: Status, *, satisfaction=None, closed_days_ago=None):
    """A case in ``status`` as the workflow would leave it (set directly: the trail is not the point)."""
    req = raise_case(session, backend.settings, backend.clock())
    req.status = status
    req.satisfaction = satisfaction
    if closed_days_ago is not None:
        req.closed_at = backend.clock() - timedelta(days=closed_days_ago)
    session.flush()
    return req


def reopen(backend, session, req, actor, now=None):
    data = TransitionInput(action="reopen", reason="还是不行")
    now = now or backend.clock()
    return apply_transition(session, req=req, data=data, actor=actor, now=now, settings=backend.settings)


REPORTER = Actor(None, is_reporter=True)


def test_the_reporter_reopens_a_low_rated_case_with_fresh_deadlines(backend, session):
    req = finished(backend, session, Status.EVALUATED, satisfaction=2)
    now = backend.clock()
    reopen(backend, session, req, REPORTER, now)
    assert req.status is Status.REOPENED and req.reopen_count == 1 and req.satisfaction is None
    assert req.due_onsite_at == now + timedelta(minutes=backend.settings.onsite_minutes)
    assert not req.onsite_breached and not req.resolve_breached


@pytest.mark.parametrize(
    ("status", "satisfaction", "days", "message"),
    [
        (Status.EVALUATED, 4, None, "only a rating of 2 or less can reopen an evaluated case"),
        (Status.CLOSED, 1, REOPEN_WINDOW.days + 1, "the case closed more than 30 days ago; raise a new request"),
    ],
)
def test_the_reporter_s_limits(backend, session, status, satisfaction, days, message):
    req = finished(backend, session, status, satisfaction=satisfaction, closed_days_ago=days)
    with pytest.raises(TransitionError) as refused:
        reopen(backend, session, req, REPORTER)
    assert (refused.value.status, refused.value.field, refused.value.message) == (409, "action", message)


def test_a_dispatcher_reopens_beyond_the_reporter_s_limits(backend, session):
    req = finished(backend, session, Status.CLOSED, satisfaction=5, closed_days_ago=REOPEN_WINDOW.days * 3)
    reopen(backend, session, req, Actor(account(session, "dispatcher")))
    assert req.status is Status.REOPENED


def test_the_automatic_close_is_the_table_s_close_by_the_system(backend, session):
    req = finished(backend, session, Status.VERIFIED)
    now = backend.clock()
    assert workflow.close_automatically(session, req, now=now, settings=backend.settings)
    assert req.status is Status.CLOSED and req.closed_at == now
    last = session.scalars(
        select(RequestEvent).where(RequestEvent.request_id == req.id).order_by(RequestEvent.id.desc())
    ).first()
    assert last is not None
    assert (last.action, last.from_status, last.to_status, last.actor, last.actor_user_id, last.note) == (
        "close",
        "verified",
        "closed",
        "system",
        None,
        "closed automatically",
    )
    # a case no longer verified or evaluated is left alone
    assert not workflow.close_automatically(session, req, now=backend.clock(), settings=backend.settings)


def test_closing_fires_request_closed_once(backend, session):
    seen = []
    handler = workflow.request_closed.connect(lambda s, r, now, settings: seen.append(r.id))
    try:
        req = finished(backend, session, Status.EVALUATED, satisfaction=4)
        apply_transition(
            session,
            req=req,
            data=TransitionInput(action="close"),
            actor=Actor(account(session, "dispatcher")),
            now=backend.clock(),
            settings=backend.settings,
        )
    finally:
        workflow.request_closed._handlers.remove(handler)
    assert seen == [req.id]
