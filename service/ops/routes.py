"""Operations: liveness and readiness probes, Prometheus metrics, the audit log (admins) and the
credit the stored map data's licences require."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.audit import service as audit_service
from service.audit.schemas import AuditEntryOut
from service.auth.deps import AdminUser
from service.common.params import OffsetParam
from service.deps import ReadSession
from service.ops import service
from service.ops.schemas import Attribution, Health, NotReady

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": NotReady}},
    summary="The database is reachable and migrations are current",
)
def readyz(request: Request) -> JSONResponse:
    ready = service.readiness(request.app.state.db)
    status = 200 if ready.status == "ready" else 503
    return JSONResponse(ready.model_dump(exclude_none=True), status_code=status)


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/audit", response_model=list[AuditEntryOut], summary="Audit log entries, newest first (admins)")
def audit_log(
    session: ReadSession,
    _admin: AdminUser,
    entity: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OffsetParam = 0,
) -> list[AuditEntryOut]:
    found = audit_service.entries(
        session, entity=entity, entity_id=entity_id, actor=actor, action=action, limit=limit, offset=offset
    )
    return [AuditEntryOut.of(e) for e in found]


@router.get(
    "/api/v1/attribution",
    response_model=Attribution,
    summary="Where the stored map data comes from, and the credit its licence requires",
)
def attribution(session: ReadSession) -> Attribution:
    """``sources`` lists each outside source with the layers holding its data; maps must show its
    ``attribution`` whenever those layers are on them (OpenStreetMap: ODbL 1.0)."""
    return service.attribution(session)
