"""Imports every domain's models so ``Base.metadata`` is complete (Alembic, create_all)."""

from service.areas.models import Area, AreaLevel
from service.audit.models import AuditEntry
from service.auth.models import RevokedToken, Role, User
from service.buildings.models import Building
from service.common.revisions import DataRevision
from service.events.models import OutboxEvent
from service.grids.models import Grid, GridLayer, GridVersion, GridWorker, grid_assignments
from service.network.models import StreetEdge, StreetNode
from service.open311.models import ApiClient
from service.organisations.models import Department, PartyOrg, PartyOrgKind, department_pairings
from service.orm import Base
from service.requests.models import (
    DuplicateSuggestion,
    JointMeetingItem,
    RequestCategory,
    RequestEvent,
    RequestPhoto,
    ServiceRequest,
)
from service.stations.models import Station, StationType
from service.volunteers.models import Volunteer

__all__ = [
    "ApiClient",
    "Area",
    "AreaLevel",
    "AuditEntry",
    "Base",
    "Building",
    "DataRevision",
    "Department",
    "DuplicateSuggestion",
    "Grid",
    "GridLayer",
    "GridVersion",
    "GridWorker",
    "JointMeetingItem",
    "OutboxEvent",
    "PartyOrg",
    "PartyOrgKind",
    "RequestCategory",
    "RequestEvent",
    "RequestPhoto",
    "RevokedToken",
    "Role",
    "ServiceRequest",
    "Station",
    "StationType",
    "StreetEdge",
    "StreetNode",
    "User",
    "Volunteer",
    "department_pairings",
    "grid_assignments",
]
