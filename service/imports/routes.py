"""``/api/v1/imports``: load a city's own files (areas, grids, buildings, stations, people)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from sqlalchemy import select

from service.areas.models import AreaLevel
from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.grids.models import GridLayer
from service.imports.models import ImportRun
from service.imports.options import options_from
from service.imports.registry import KINDS
from service.imports.schemas import ImportKind, ImportReport, ImportRunOut
from service.imports.service import kind_spec, run_import, settled

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])

Planner = Annotated[User, Depends(require_roles(Role.PLANNER, Role.ADMIN))]


@router.get("/kinds", summary="The kinds of import and the columns each reads", response_model=list[ImportKind])
def import_kinds(_user: Planner) -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "summary": spec.summary,
            "geometry": spec.geometry,
            "fields": [
                {
                    "name": name,
                    "aliases": list(f.aliases),
                    "required": f.required,
                    "type": f.type,
                    "description": f.description,
                }
                for name, f in spec.fields.items()
            ],
        }
        for spec in KINDS.values()
    ]


@router.get("", summary="Saved imports, newest first", response_model=list[ImportRunOut])
def import_runs(
    session: ReadSession,
    _user: Planner,
    kind: str | None = Query(None, max_length=40),
    limit: int = Query(50, ge=1, le=500),
) -> list[ImportRun]:
    query = select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(ImportRun.kind == kind)
    return list(session.scalars(query))


@router.post(
    "/{kind}",
    summary="Import a file of areas, grids, buildings, stations, grid workers, volunteers or teams",
    response_model=ImportReport,
    responses={422: {"description": "refused: the problem body carries the whole report under `report`"}},
)
def import_file(
    kind: str,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: Planner,
    file: Annotated[UploadFile, File(description="GeoJSON, GeoPackage, zipped Shapefile, CSV or .xlsx")],
    comment: Annotated[str | None, Form(max_length=1000, description="why; required to save")] = None,
    coord_type: Annotated[str | None, Form(max_length=20, description="wgs84, gcj02, bd09, cgcs2000, epsg:N")] = None,
    encoding: Annotated[str | None, Form(max_length=40)] = None,
    mapping: Annotated[str | None, Form(max_length=4000, description='JSON, e.g. {"code": "XZQDM"}')] = None,
    code_field: Annotated[str | None, Form(max_length=100)] = None,
    name_field: Annotated[str | None, Form(max_length=100)] = None,
    parent_field: Annotated[str | None, Form(max_length=100)] = None,
    level: Annotated[AreaLevel | None, Form(description="areas: the level of every feature")] = None,
    layer: Annotated[GridLayer, Form(description="grids: the layer the file holds")] = GridLayer.ONE_NETWORK,
    dry_run: Annotated[bool, Form()] = False,
    retire_missing: Annotated[bool, Form()] = False,
    repair: Annotated[bool, Form(description="accept make_valid's repair of invalid polygons")] = False,
    sheet: Annotated[str | None, Form(max_length=100)] = None,
) -> dict[str, Any]:
    """Checks every feature and reports every problem and warning; saves all or nothing, in one
    transaction (nothing with ``dry_run``). Re-importing a file changes nothing; changed features get
    a new version; features the file no longer lists are retired only with ``retire_missing``.

    A plain ``def``: FastAPI runs it in the thread pool, so reading and checking a large file never
    holds up the event loop; the session is first used after the file is read."""
    kind_spec(kind)  # 404 before reading the upload
    options = options_from(
        mapping=mapping,
        fields={"code": code_field, "name": name_field, "parent": parent_field},
        coord_type=coord_type,
        encoding=encoding,
        level=level,
        layer=layer,
        dry_run=dry_run,
        comment=comment,
        retire_missing=retire_missing,
        repair=repair,
        sheet=sheet,
    )
    data = file.file.read(settings.import_upload_max_bytes + 1)  # the upload's own cap (413 in the reader)
    with settled(session, dry_run=options.dry_run):
        report = run_import(
            session,
            kind=kind,
            data=data,
            filename=file.filename or "",
            options=options,
            by=user.username,
            actor=user,
            now=clock(),
            settings=settings,
        )
    return report
