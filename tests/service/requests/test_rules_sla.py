"""Deadlines, colours and escalation as functions of the case and the time (sla.py), and the
escalation that puts a case on the joint-meeting list (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from service.requests import sla
from service.requests.models import HandlingLevel, JointMeetingItem, ServiceRequest, Status, WarningLevel
from service.requests.workflow import escalate_to
from tests.service.requests.rules import raise_case, rolled_back

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DUE = sla.deadlines(T0, response_minutes=5, onsite_minutes=30, resolve_hours=24)


@pytest.fixture
def session(backend):
    yield from rolled_back(backend)


def clock(**stamps) -> sla.Clock:
    values = {"accepted_at": None, "on_site_at": None, "resolved_at": None} | stamps
    return sla.Clock(
        reported_at=T0,
        due_response_at=DUE.response,
        due_onsite_at=DUE.onsite,
        due_resolve_at=DUE.resolve,
        **values,
    )


def test_deadlines_count_from_the_report():
    assert (DUE.response, DUE.onsite, DUE.resolve) == (
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=30),
        T0 + timedelta(hours=24),
    )


def test_each_stage_stops_its_clock():
    assert [n for n, _ in sla.running_deadlines(clock())] == ["response", "onsite", "resolve"]
    assert [n for n, _ in sla.running_deadlines(clock(accepted_at=T0))] == ["onsite", "resolve"]
    assert [n for n, _ in sla.running_deadlines(clock(accepted_at=T0, on_site_at=T0))] == ["resolve"]
    assert sla.running_deadlines(clock(accepted_at=T0, resolved_at=T0)) == []


def test_breaches_are_the_running_deadlines_passed():
    assert sla.breached(clock(), T0 + timedelta(minutes=4)) == []
    assert sla.breached(clock(), T0 + timedelta(minutes=6)) == ["response"]
    assert sla.breached(clock(accepted_at=T0), T0 + timedelta(minutes=31)) == ["onsite"]


def test_colour_by_severity_impact_and_time():
    def colour(severity, households, at, status=Status.REPORTED):
        return sla.warning_level(severity=severity, households=households, clock=clock(), now=at, status=status)

    assert colour(1, 1, T0) is WarningLevel.BLUE
    assert colour(1, 30, T0) is WarningLevel.YELLOW  # a whole building
    assert colour(1, 300, T0) is WarningLevel.ORANGE  # a compound
    assert colour(1, 1, T0 + timedelta(minutes=3)) is WarningLevel.YELLOW  # over half the response time
    assert colour(1, 1, T0 + timedelta(minutes=6)) is WarningLevel.ORANGE  # breached
    assert colour(4, 300, T0) is WarningLevel.RED  # capped
    assert colour(1, 1, T0 + timedelta(minutes=6), Status.RESOLVED) is WarningLevel.BLUE  # finished: no time


def test_only_an_open_case_runs_its_deadlines():
    open_case = ServiceRequest(status=Status.REOPENED, reported_at=T0, accepted_at=T0, **due_columns())
    assert sla.running_now(open_case) == ["onsite", "resolve"]
    rejected = ServiceRequest(status=Status.REJECTED, reported_at=T0, **due_columns())
    assert sla.running_now(rejected) == []


def due_columns() -> dict:
    return {"due_response_at": DUE.response, "due_onsite_at": DUE.onsite, "due_resolve_at": DUE.resolve}


def test_escalating_to_township_opens_one_joint_meeting_item(backend, session):
    req = raise_case(session, backend.settings, backend.clock())
    escalate_to(session, req, HandlingLevel.COMMUNITY, backend.clock())
    session.flush()
    items = lambda: list(session.scalars(select(JointMeetingItem).where(JointMeetingItem.request_id == req.id)))  # noqa: E731
    assert req.level is HandlingLevel.COMMUNITY and items() == []
    escalate_to(session, req, HandlingLevel.TOWNSHIP, backend.clock())
    escalate_to(session, req, HandlingLevel.DEPARTMENT, backend.clock())
    session.flush()
    [item] = items()
    assert item.level is HandlingLevel.DEPARTMENT and item.closed_at is None
    escalate_to(session, req, HandlingLevel.COMPOUND, backend.clock())  # never down
    assert req.level is HandlingLevel.DEPARTMENT
