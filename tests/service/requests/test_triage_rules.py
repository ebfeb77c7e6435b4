"""The triage rule (service/requests/triage.py) as a pure function of a case's fields and now: no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from service.requests.models import WarningLevel
from service.requests.triage import LATENESS_SCALE_MINUTES, due_at, lateness, overdue_minutes, sort_key, urgency

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@dataclass
class Case:
    """The fields the rule reads, as a stored case has them."""

    id: int
    warning_level: WarningLevel
    reported_at: datetime
    due_response_at: datetime
    due_onsite_at: datetime
    due_resolve_at: datetime
    accepted_at: datetime | None = None
    on_site_at: datetime | None = None
    resolved_at: datetime | None = None


def case(level: str, *, overdue: timedelta, id: int = 1, accepted: bool = False) -> Case:
    """A case whose earliest running deadline passed ``overdue`` ago (negative: is still ahead)."""
    due = NOW - overdue
    return Case(
        id=id,
        warning_level=WarningLevel(level),
        reported_at=due - timedelta(minutes=30),
        due_response_at=due,
        due_onsite_at=due + timedelta(minutes=30),
        due_resolve_at=due + timedelta(hours=24),
        accepted_at=due - timedelta(minutes=1) if accepted else None,
    )


def ranked(*cases: Case) -> list[int]:
    return [c.id for c in sorted(cases, key=lambda c: sort_key(c, NOW))]


def test_the_issues_example_red_5_minutes_late_outranks_blue_3_days_late():
    red = case("red", overdue=timedelta(minutes=5), id=1)
    blue = case("blue", overdue=timedelta(days=3), id=2)
    assert urgency(red, NOW) > urgency(blue, NOW)
    assert ranked(blue, red) == [1, 2]


@pytest.mark.parametrize("higher,lower", [("red", "orange"), ("orange", "yellow"), ("yellow", "blue")])
def test_a_higher_level_outranks_any_lower_one_whatever_the_times(higher, lower):
    barely_due = case(higher, overdue=-timedelta(days=365))
    very_late = case(lower, overdue=timedelta(days=3650))
    assert urgency(barely_due, NOW) > urgency(very_late, NOW)


def test_within_a_level_the_more_overdue_comes_first():
    cases = [case("orange", overdue=timedelta(minutes=m), id=m) for m in (1, 60, 5, 4000, 0)]
    assert ranked(*cases) == [4000, 60, 5, 1, 0]


def test_not_yet_due_ranks_below_every_overdue_case_of_its_level_sooner_due_first():
    overdue_now = case("yellow", overdue=timedelta(0), id=1)
    soon = case("yellow", overdue=-timedelta(minutes=1), id=2)
    later = case("yellow", overdue=-timedelta(days=2), id=3)
    assert ranked(later, soon, overdue_now) == [1, 2, 3]


def test_ties_are_broken_by_the_earlier_deadline_then_the_lower_id():
    a = case("red", overdue=timedelta(minutes=10), id=7)
    b = case("red", overdue=timedelta(minutes=10), id=3)
    assert urgency(a, NOW) == urgency(b, NOW)
    assert ranked(a, b) == [3, 7]


def test_lateness_lies_in_one_to_ten_and_is_half_way_after_the_scale():
    assert lateness(0) == 5.5
    assert lateness(LATENESS_SCALE_MINUTES) == pytest.approx(7.75)
    assert 1 < lateness(-1e9) < lateness(-1) < 5.5 <= lateness(1) < lateness(1e9) < 10


def test_lateness_is_counted_against_the_earliest_running_deadline():
    c = case("blue", overdue=timedelta(minutes=20), accepted=True)  # response met: on site runs next
    assert due_at(c) == c.due_onsite_at
    assert overdue_minutes(c, NOW) == pytest.approx(-10)
    c.on_site_at = NOW - timedelta(minutes=1)
    assert due_at(c) == c.due_resolve_at
    c.resolved_at = NOW  # a reopened case runs none: its resolve deadline stands
    assert due_at(c) == c.due_resolve_at


def test_urgency_is_level_weight_times_lateness():
    c = case("orange", overdue=timedelta(minutes=90))
    assert urgency(c, NOW) == pytest.approx(100 * lateness(90))
