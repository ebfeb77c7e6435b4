"""The request policy as plain functions: what a caller may do with a case now, and when the
reporter may reopen it. No database: cases and accounts are built in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.auth.models import Role, User
from service.requests.models import DepartmentStatus, HandlingLevel, ServiceRequest, Status
from service.requests.policy import Actor, allowed_actions, can_reopen, reopen_refusal

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def case(status: Status, **fields) -> ServiceRequest:
    values = {"status": status, "level": HandlingLevel.GRID, "reporter_user_id": 7} | fields
    return ServiceRequest(**values)


def staff(role: Role, user_id: int = 1) -> Actor:
    return Actor(User(id=user_id, username=f"{role.value}-{user_id}", role=role))


REPORTER = Actor(None, is_reporter=True)
DISPATCHER = staff(Role.DISPATCHER)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.REPORTED, ["accept", "reject", "merge", "escalate"]),
        (Status.ACCEPTED, ["reject", "merge", "dispatch", "escalate"]),
        (Status.DISPATCHED, ["arrive", "resolve", "escalate"]),
        (Status.ON_SITE, ["resolve", "escalate"]),
        (Status.RESOLVED, ["redispatch", "verify", "reopen"]),
        (Status.VERIFIED, ["reopen", "close"]),
        (Status.EVALUATED, ["reopen", "close"]),
        (Status.CLOSED, ["reopen"]),
        (Status.REOPENED, ["dispatch", "escalate"]),
        (Status.REJECTED, []),
        (Status.MERGED, []),
    ],
)
def test_a_dispatcher_is_offered_the_table_s_actions_for_each_status(status, expected):
    assert allowed_actions(case(status), DISPATCHER, NOW) == expected


def test_a_grid_worker_may_not_close_and_pledges_on_a_dispatched_case():
    worker = staff(Role.GRID_WORKER)
    assert allowed_actions(case(Status.VERIFIED), worker, NOW) == []
    assert allowed_actions(case(Status.DISPATCHED), worker, NOW) == ["pledge", "arrive", "resolve", "escalate"]


def test_out_of_scope_staff_are_offered_nothing():
    worker = staff(Role.GRID_WORKER)
    assert allowed_actions(case(Status.REPORTED), worker, NOW, in_scope=False) == []


def test_a_volunteer_pledges_arrives_and_resolves():
    volunteer = staff(Role.VOLUNTEER)
    assert allowed_actions(case(Status.DISPATCHED), volunteer, NOW) == ["pledge", "arrive", "resolve"]
    assert allowed_actions(case(Status.ON_SITE), volunteer, NOW) == ["pledge", "resolve"]


def test_a_department_accepts_or_refuses_only_a_pending_hand_off():
    department = staff(Role.DEPARTMENT)
    pending = case(Status.DISPATCHED, department_status=DepartmentStatus.PENDING)
    accepted = case(Status.DISPATCHED, department_status=DepartmentStatus.ACCEPTED)
    assert allowed_actions(pending, department, NOW) == ["department_accept", "department_refuse", "arrive", "resolve"]
    assert allowed_actions(accepted, department, NOW) == ["arrive", "resolve"]


def test_escalation_stops_at_the_top_level():
    top = case(Status.ACCEPTED, level=HandlingLevel.DEPARTMENT)
    assert "escalate" not in allowed_actions(top, DISPATCHER, NOW)
    assert "escalate" in allowed_actions(case(Status.ACCEPTED, level=HandlingLevel.TOWNSHIP), DISPATCHER, NOW)


def test_the_reporter_evaluates_a_resolved_or_verified_case_and_may_reopen_it():
    assert allowed_actions(case(Status.RESOLVED), REPORTER, NOW) == ["evaluate", "reopen"]
    assert allowed_actions(case(Status.VERIFIED), REPORTER, NOW) == ["evaluate", "reopen"]
    assert allowed_actions(case(Status.DISPATCHED), REPORTER, NOW) == []
    # outside the staff's scope the reporter still acts on its own case
    assert allowed_actions(case(Status.RESOLVED), REPORTER, NOW, in_scope=False) == ["evaluate", "reopen"]


def test_a_signed_in_resident_who_did_not_report_the_case_is_offered_nothing():
    resident = staff(Role.RESIDENT, user_id=99)
    assert allowed_actions(case(Status.RESOLVED), resident, NOW) == []


@pytest.mark.parametrize(
    ("status", "satisfaction", "closed_days_ago", "expected"),
    [
        (Status.RESOLVED, None, None, True),
        (Status.VERIFIED, None, None, True),
        (Status.EVALUATED, 2, None, True),
        (Status.EVALUATED, 1, None, True),
        (Status.EVALUATED, 3, None, False),
        (Status.EVALUATED, None, None, False),  # no rating counts as content
        (Status.CLOSED, 2, 29, True),
        (Status.CLOSED, 2, 31, False),  # past the 30-day window: raise a new request
        (Status.CLOSED, 5, 1, False),
        (Status.DISPATCHED, None, None, False),
        (Status.REJECTED, 1, None, False),
    ],
)
def test_can_reopen(status, satisfaction, closed_days_ago, expected):
    closed_at = NOW - timedelta(days=closed_days_ago) if closed_days_ago is not None else None
    req = case(status, satisfaction=satisfaction, closed_at=closed_at)
    assert can_reopen(req, NOW) is expected
    assert ("reopen" in allowed_actions(req, REPORTER, NOW)) is expected


def test_reopen_refusals_say_why():
    assert reopen_refusal(case(Status.EVALUATED, satisfaction=4), NOW) == (
        "only a rating of 2 or less can reopen an evaluated case"
    )
    old = case(Status.CLOSED, satisfaction=1, closed_at=NOW - timedelta(days=40))
    assert reopen_refusal(old, NOW) == "the case closed more than 30 days ago; raise a new request"


def test_dispatchers_reopen_without_the_reporter_s_limits():
    old = case(Status.CLOSED, satisfaction=5, closed_at=NOW - timedelta(days=400))
    assert "reopen" in allowed_actions(old, DISPATCHER, NOW)
    assert "reopen" not in allowed_actions(old, REPORTER, NOW)
