"""Connect the domains' hooks: the one place that knows which domain reacts to which.

Called by ``create_app`` and by the CLI before any work; calling it again changes nothing.
Each line connects a higher domain's handler to a lower domain's ``Hook``, so the lower domain
never imports the higher (see ``service.common.hooks`` and docs/architecture.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.config import Settings
from service.followups.service import on_request_closed
from service.grids import occupants
from service.points.models import SourceType
from service.points.sources import register_source
from service.requests.models import ServiceRequest
from service.requests.regrid import OpenRequests
from service.requests.workflow import request_closed
from service.wishes.earning import wish_source


def _follow_up_key_case(session: Session, req: ServiceRequest, now: datetime, settings: Settings) -> None:
    """A key case that closes gets the secretary's follow-up (service.followups)."""
    on_request_closed(session, req, now=now, settings=settings)


def connect_domains() -> None:
    """Connect every hook's handlers (idempotent)."""
    request_closed.connect(_follow_up_key_case)
    occupants.register(occupants.OPEN_REQUESTS, OpenRequests())
    register_source(SourceType.WISH, wish_source)  # a fulfilled wish earns its claimant points
