"""KPIs of the national digital city-management practice, per grid, community and period.

* closure rate (结案率) = closed / due to close; a case is due to close when its resolve deadline
  has passed or it is already closed;
* on-time closure rate (按期结案率) = closed by the resolve deadline / due to close;
* mean minutes to response (accepted) and to on site;
* satisfaction rate = ratings of 4 or 5 / ratings; rework rate (返工率) = reopened / closed.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from statistics import mean

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.common.times import Period
from service.requests.models import CLOSED_STATUSES, OPEN_STATUSES, ServiceRequest, Status
from service.requests.schemas import StatsOut


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _closed_at(r: ServiceRequest) -> datetime | None:
    return r.verified_at or r.evaluated_at or r.closed_at


def compute_stats(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    grid_id: int | None = None,
    community_id: int | None = None,
) -> StatsOut:
    query = select(ServiceRequest).where(ServiceRequest.reported_at >= start, ServiceRequest.reported_at < end)
    if grid_id is not None:
        query = query.where(ServiceRequest.grid_id == grid_id)
    if community_id is not None:
        query = query.where(ServiceRequest.community_id == community_id)
    rows = list(session.scalars(query))

    live = [r for r in rows if r.status not in (Status.MERGED, Status.REJECTED)]
    closed = [r for r in live if r.status in CLOSED_STATUSES]
    due = [r for r in live if r.status in CLOSED_STATUSES or r.due_resolve_at <= now]
    on_time = [r for r in closed if (_closed_at(r) or now) <= r.due_resolve_at]
    responses = [(r.accepted_at - r.reported_at).total_seconds() / 60 for r in rows if r.accepted_at]
    onsite = [(r.on_site_at - r.reported_at).total_seconds() / 60 for r in rows if r.on_site_at]
    rated = [r.satisfaction for r in rows if r.satisfaction is not None]
    overdue = [r for r in rows if r.status in OPEN_STATUSES and r.due_resolve_at <= now]

    return StatsOut(
        period=Period.of(start, end),
        grid_id=grid_id,
        community_id=community_id,
        total=len(rows),
        open=sum(r.status in OPEN_STATUSES for r in rows),
        closed=len(closed),
        due_to_close=len(due),
        closure_rate=_ratio(len(closed), len(due)),
        on_time_rate=_ratio(len(on_time), len(due)),
        mean_response_minutes=round(mean(responses), 2) if responses else None,
        mean_onsite_minutes=round(mean(onsite), 2) if onsite else None,
        response_within_sla_rate=_ratio(
            sum(r.accepted_at is not None and r.accepted_at <= r.due_response_at for r in rows),
            sum(r.accepted_at is not None for r in rows),
        ),
        onsite_within_sla_rate=_ratio(
            sum(r.on_site_at is not None and r.on_site_at <= r.due_onsite_at for r in rows),
            sum(r.on_site_at is not None for r in rows),
        ),
        satisfaction_rate=_ratio(sum(s >= 4 for s in rated), len(rated)),
        mean_satisfaction=round(mean(rated), 2) if rated else None,
        rework_rate=_ratio(sum(r.reopen_count > 0 for r in closed), len(closed)),
        overdue_open=len(overdue),
        by_category=dict(sorted(Counter(r.category.code for r in rows).items())),
        by_channel=dict(sorted(Counter(r.channel.value for r in rows).items())),
        by_status=dict(sorted(Counter(r.status.value for r in rows).items())),
        by_warning_level=dict(sorted(Counter(r.warning_level.value for r in rows).items())),
    )
