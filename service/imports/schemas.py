"""What the import endpoints answer: the report, the kinds and their fields, past runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class IssueAt(BaseModel):
    """Where an issue is, in the file's own coordinates and in WGS84 (lon, lat)."""

    file: list[float]
    wgs84: list[float]
    crs: str


class ImportIssue(BaseModel):
    """One problem (the import is refused) or warning (saved with it)."""

    feature: int | None = Field(description="the feature's index in the file (0-based), None for the whole file")
    field: str | None
    code: str = Field(description="machine-readable, e.g. missing, duplicate_code, outside_parent, crs_offset")
    message: str
    at: IssueAt | None
    feature_code: str | None
    repair: dict[str, Any] | None = Field(default=None, description="make_valid's repair of an invalid polygon")


class ImportCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    retired: int


class ImportReport(BaseModel):
    """The answer of every import, dry run or not (a refusal carries it in its problem body)."""

    kind: str
    dry_run: bool
    saved: bool
    run_id: int | None
    source: dict[str, Any]
    counts: ImportCounts
    problems: list[ImportIssue]
    warnings: list[ImportIssue]


class KindField(BaseModel):
    name: str
    aliases: list[str]
    required: bool
    type: str
    description: str


class ImportKind(BaseModel):
    """A kind of import and the fields it reads (the columns it looks for, in order)."""

    name: str
    summary: str
    geometry: str
    fields: list[KindField]


class ImportRunOut(BaseModel):
    """One saved import."""

    id: int
    kind: str
    at: datetime
    by: str
    comment: str
    filename: str | None
    sha256: str
    retire_missing: bool
    counts: dict[str, int]
    warnings: int
