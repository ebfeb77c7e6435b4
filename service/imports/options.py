"""The options of an import, the same for the API's form fields and the CLI's flags."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from service.areas.models import AreaLevel
from service.common.errors import Invalid
from service.grids.models import GridLayer

#: The field-name shortcuts (``code_field=…``) each fold into ``mapping`` as ``{"code": …}``.
FIELD_SHORTCUTS = ("code", "name", "parent", "level", "community", "grid")


class ImportOptions(BaseModel):
    """How to read the file and what to do with it."""

    coord_type: str | None = Field(
        default=None,
        max_length=20,
        description="wgs84, gcj02, bd09, cgcs2000 or epsg:NNNN; required unless the file states a projected CRS",
    )
    encoding: str | None = Field(
        default=None, max_length=40, description="text encoding of a Shapefile or CSV (default: .cpg, else detected)"
    )
    mapping: dict[str, str] = Field(
        default_factory=dict, description='which column holds each field, e.g. {"code": "XZQDM", "name": "XZQMC"}'
    )
    level: AreaLevel | None = Field(default=None, description="areas: the level of every feature (else per row)")
    layer: GridLayer = Field(default=GridLayer.ONE_NETWORK, description="grids: the layer the file holds")
    dry_run: bool = Field(default=False, description="check and report; save nothing")
    comment: str | None = Field(default=None, max_length=1000, description="why; required to save")
    retire_missing: bool = Field(default=False, description="retire what the file no longer lists")
    repair: bool = Field(default=False, description="accept make_valid's repair of invalid polygons")
    sheet: str | None = Field(default=None, max_length=100, description="Excel: the sheet (default: the first)")

    @field_validator("mapping")
    @classmethod
    def _short(cls, value: dict[str, str]) -> dict[str, str]:
        for key, column in value.items():
            if not isinstance(column, str) or not column.strip() or len(column) > 100 or len(key) > 40:
                raise ValueError(f"mapping.{key} must name a column (1-100 characters)")
        return {k: v.strip() for k, v in value.items()}

    @classmethod
    def build(cls, *, mapping: dict[str, str] | None = None, fields: dict[str, str | None] | None = None, **kw: Any):
        """Options with the ``<name>_field`` shortcuts folded into ``mapping`` (an explicit mapping wins)."""
        merged = {k: v for k, v in (fields or {}).items() if v}
        merged.update(mapping or {})
        return cls(mapping=merged, **kw)


def parse_mapping(text: str | None) -> dict[str, str]:
    """The ``mapping`` option as sent in a form field or on the command line: a JSON object."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise Invalid('mapping must be a JSON object such as {"code": "XZQDM"}', field="mapping") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise Invalid("mapping must be a JSON object of field names to column names", field="mapping")
    return value


def options_from(*, mapping: str | dict[str, str] | None, fields: dict[str, str | None], **kw: Any) -> ImportOptions:
    """ImportOptions from the API's form or the CLI's flags; Invalid names the first bad option."""
    try:
        return ImportOptions.build(
            mapping=parse_mapping(mapping) if isinstance(mapping, str) or mapping is None else mapping,
            fields=fields,
            **kw,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "options"
        raise Invalid(f"{name}: {first['msg']}", field=name) from None
