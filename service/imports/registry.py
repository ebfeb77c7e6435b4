"""Every kind of import by its name in the URL and the CLI (``/api/v1/imports/{kind}``)."""

from __future__ import annotations

from service.imports.kinds.areas import KIND as AREAS
from service.imports.spec import KindSpec

KINDS: dict[str, KindSpec] = {spec.name: spec for spec in (AREAS,)}
