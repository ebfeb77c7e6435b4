"""What a kind of import declares: its fields (with the column names cities use for them), its
geometry, and the function that checks and saves its features."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from service.imports.context import ImportContext

FieldType = Literal["str", "int", "float", "bool", "list"]
GeometryKind = Literal["polygon", "point", "optional_point", "none"]


@dataclass(frozen=True)
class FieldSpec:
    """One field of a kind: the columns that may hold it (first match wins, case-insensitive), whether
    every feature must have it, its type, and the longest text it may be."""

    aliases: tuple[str, ...]
    required: bool = False
    type: FieldType = "str"
    max_length: int = 200
    description: str = ""


@dataclass(frozen=True)
class KindSpec:
    """A kind of import: ``run(ctx)`` records every problem first and saves only when there is none."""

    name: str
    summary: str
    geometry: GeometryKind
    fields: dict[str, FieldSpec]
    run: Callable[[ImportContext], None]
