"""Versions sent in ``If-Match`` (``"7"`` or ``W/"7"``): one reader for every endpoint that takes one."""

from __future__ import annotations

from service.common.errors import Invalid


def if_match_version(value: str | None, *, what: str, example: int) -> int | None:
    """The version an ``If-Match`` header names (None when none was sent); Invalid naming
    ``If-Match`` when it names none, e.g. ``what="grid's ETag"`` for grids."""
    if value is None:
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise Invalid(f'If-Match must be the {what}, e.g. "{example}"', field="If-Match") from None
