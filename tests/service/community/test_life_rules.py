"""The rules of wishes, key-household visits and follow-ups, called on their services below HTTP
(both backends, in a transaction that is rolled back): each refusal is a DomainError with the
status and field a client sees, and a wish's people are left out, not nulled, for a stranger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.models import User
from service.buildings.models import Building
from service.common.errors import Conflict, DomainError, Forbidden, Invalid
from service.followups.models import FollowUp, FollowUpKind, FollowUpStatus, ResidentAnswer
from service.followups.service import record_result
from service.households.models import KeyHousehold
from service.households.service import Need, NewVisit, log_visit
from service.wishes import service as wishes
from service.wishes.models import Wish, WishKind


@pytest.fixture
def session(backend) -> Iterator[Session]:
    with backend.db.writer() as session:
        yield session
        session.rollback()


def account(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return user


def refused(call, kind: type[DomainError], status: int, field: str | None) -> DomainError:
    with pytest.raises(kind) as caught:
        call()
    assert (caught.value.status, caught.value.field) == (status, field), caught.value
    return caught.value


def a_wish(session: Session, backend, poster: User, **fields) -> Wish:
    building_id = session.scalar(select(Building.id).where(Building.grid_id.is_not(None)).order_by(Building.id))
    data = wishes.NewWish(kind=WishKind.WISH, category="shopping", title="帮忙代购", building_id=building_id)
    for name, value in fields.items():
        setattr(data, name, value)
    return wishes.post_wish(session, data=data, user=poster, settings=backend.settings, now=backend.clock())


def test_a_wish_names_its_people_to_its_poster_and_staff_only(session, backend):
    stranger = account(session, "resident1")
    wish = a_wish(session, backend, account(session, "dispatcher"), on_behalf_of="李阿婆")
    shown = wishes.wish_view(session, wish, account(session, "dispatcher")).model_dump(exclude_unset=True)
    assert shown["on_behalf_of"] == "李阿婆" and shown["claimant_volunteer_id"] is None and shown["mine"] is True
    hidden = wishes.wish_view(session, wish, stranger).model_dump(exclude_unset=True)
    assert {"on_behalf_of", "claimant_volunteer_id", "fulfil_note"}.isdisjoint(hidden) and hidden["mine"] is False


def test_wish_steps_are_refused_with_the_status_and_field_a_client_sees(session, backend):
    resident, volunteer = account(session, "resident1"), account(session, "volunteer1")
    refused(lambda: a_wish(session, backend, resident, on_behalf_of="王伯"), Forbidden, 403, "on_behalf_of")
    refused(lambda: a_wish(session, backend, resident, category="nothing"), Invalid, 422, "category")
    refused(lambda: a_wish(session, backend, resident, building_id=None, lon=118.1), Invalid, 422, "lat")
    wish = a_wish(session, backend, resident)
    now, settings = backend.clock(), backend.settings

    def step(action: str, user: User, version: int | None = None):
        return lambda: wishes.take_step(
            session, action=action, wish_id=wish.id, user=user, settings=settings, now=now, version=version
        )

    refused(step("claim", resident), Forbidden, 403, None)  # residents have no volunteer record
    refused(step("claim", volunteer, version=wish.version + 1), Conflict, 409, "version")
    refused(step("confirm", resident), Conflict, 409, "wish_id")  # not fulfilled yet
    refused(step("fulfil", volunteer), Forbidden, 403, None)  # not its claimant
    step("claim", volunteer)()
    refused(step("confirm", volunteer), Forbidden, 403, "wish_id")  # only the poster confirms
    refused(
        lambda: wishes.take_step(session, action="x", wish_id=2**31 - 1, user=resident, settings=settings, now=now),
        DomainError,
        404,
        "wish_id",
    )


def test_a_visit_is_refused_for_a_time_outside_its_window_or_a_need_without_category(session, backend):
    household = session.scalar(select(KeyHousehold).order_by(KeyHousehold.id))
    assert household is not None
    user, now = account(session, "dispatcher"), backend.clock()

    def visit(data: NewVisit):
        return lambda: log_visit(session, household=household, data=data, user=user, settings=backend.settings, now=now)

    refused(visit(NewVisit(notes="好", at=now + timedelta(hours=1))), Invalid, 422, "at")
    refused(visit(NewVisit(notes="好", at=now - timedelta(days=31))), Invalid, 422, "at")
    refused(visit(NewVisit(notes="  ")), Invalid, 422, "notes")
    refused(
        visit(NewVisit(notes="好", needs=[Need(description="修水管", raise_request=True)])),
        Invalid,
        422,
        "needs[0].category",
    )
    intake = refused(
        visit(NewVisit(notes="好", needs=[Need(description="修水管", category="nothing", raise_request=True)])),
        DomainError,
        422,
        "needs[0].category",
    )
    assert "nothing" in intake.message  # intake's own words, naming the need


def test_a_follow_up_result_is_refused_when_its_answer_contradicts_itself(session, backend):
    pending = FollowUp(request_id=1, kind=FollowUpKind.RETURN_VISIT, status=FollowUpStatus.PENDING)
    user, now = account(session, "dispatcher"), backend.clock()

    def result(answer: ResidentAnswer, satisfaction: int | None = None, reopen: bool = False, f: FollowUp = pending):
        return lambda: record_result(
            session,
            follow_up=f,
            user=user,
            answer=answer,
            result="回访",
            satisfaction=satisfaction,
            reopen=reopen,
            reason=None,
            now=now,
            settings=backend.settings,
        )

    refused(result(ResidentAnswer.RESOLVED, satisfaction=6), Invalid, 422, "satisfaction")
    refused(result(ResidentAnswer.RESOLVED, reopen=True), Invalid, 422, "reopen")
    refused(result(ResidentAnswer.NOT_RESOLVED, satisfaction=4, reopen=True), Invalid, 422, "satisfaction")
    refused(result(ResidentAnswer.UNREACHABLE, satisfaction=3), Invalid, 422, "satisfaction")
    done = FollowUp(request_id=1, kind=FollowUpKind.RETURN_VISIT, status=FollowUpStatus.DONE)
    refused(result(ResidentAnswer.RESOLVED, f=done), Conflict, 409, "follow_up_id")
