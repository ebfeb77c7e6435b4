"""Imports every domain's models so ``Base.metadata`` is complete (Alembic, create_all)."""

from service.areas.models import Area, AreaLevel
from service.audit.models import AuditEntry
from service.auth.models import RevokedToken, Role, User
from service.buildings.models import Building
from service.common.revisions import DataRevision
from service.duty.models import BuildingRotation, DisputeLog, PropertyRating, RotationMember
from service.events.models import OutboxEvent
from service.followups.models import FollowUp
from service.grids.models import Grid, GridLayer, GridVersion, GridWorker, grid_assignments
from service.households.models import HouseholdVisit, KeyHousehold
from service.imports.models import FeatureVersion, ImportRun
from service.network.models import StreetEdge, StreetNode
from service.open311.models import ApiClient
from service.organisations.models import Department, PartyOrg, PartyOrgKind, department_pairings
from service.orm import Base
from service.points.models import CatalogueItem, CommunityEvent, PointsEntry
from service.requests.models import (
    DuplicateSuggestion,
    JointMeetingItem,
    RequestCategory,
    RequestEvent,
    RequestPhoto,
    ServiceRequest,
)
from service.stations.models import Station, StationType
from service.teams.models import PartyRegistration, RegistrationDuty, Team, TeamMember
from service.volunteers.models import Volunteer
from service.wishes.models import Wish

__all__ = [
    "ApiClient",
    "Area",
    "AreaLevel",
    "AuditEntry",
    "Base",
    "Building",
    "BuildingRotation",
    "CatalogueItem",
    "CommunityEvent",
    "DataRevision",
    "Department",
    "DisputeLog",
    "DuplicateSuggestion",
    "FeatureVersion",
    "FollowUp",
    "Grid",
    "GridLayer",
    "GridVersion",
    "GridWorker",
    "HouseholdVisit",
    "ImportRun",
    "JointMeetingItem",
    "KeyHousehold",
    "OutboxEvent",
    "PartyOrg",
    "PartyOrgKind",
    "PartyRegistration",
    "PointsEntry",
    "PropertyRating",
    "RegistrationDuty",
    "RequestCategory",
    "RequestEvent",
    "RequestPhoto",
    "RevokedToken",
    "Role",
    "RotationMember",
    "ServiceRequest",
    "Station",
    "StationType",
    "StreetEdge",
    "StreetNode",
    "Team",
    "TeamMember",
    "User",
    "Volunteer",
    "Wish",
    "department_pairings",
    "grid_assignments",
]
