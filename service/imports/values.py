"""Turning a file's cells into typed values: one parser per field type, for every kind."""

from __future__ import annotations

import math
import re
from typing import Any

from service.imports.spec import FieldSpec

_TRUE = {"true", "t", "yes", "y", "1", "是", "√", "✓"}
_FALSE = {"false", "f", "no", "n", "0", "否", "×", ""}
#: List cells: commas, semicolons, the Chinese enumeration comma, pipes and slashes.
LIST_SEPARATORS = re.compile(r"[,;，；、|/]+")


class BadValue(ValueError):
    """A cell that is not a value of its field's type; the message never repeats the cell."""


def blank(value: Any) -> bool:
    """An empty cell: None, NaN, or only white space."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def parse_value(value: Any, spec: FieldSpec) -> Any:
    """The cell as ``spec.type`` (None for an empty cell); BadValue says what was expected."""
    if blank(value):
        return None
    if spec.type == "str":
        text = _text(value)
        if len(text) > spec.max_length:
            raise BadValue(f"longer than {spec.max_length} characters")
        return text
    if spec.type == "int":
        number = _number(value, "a whole number")
        if number != int(number) or number < 0:
            raise BadValue("must be a whole number, 0 or more")
        return int(number)
    if spec.type == "float":
        number = _number(value, "a number")
        if number < 0:
            raise BadValue("must be a number, 0 or more")
        return number
    if spec.type == "bool":
        text = _text(value).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise BadValue("must be yes/no (true/false, 1/0, 是/否)")
    items = value if isinstance(value, list) else LIST_SEPARATORS.split(_text(value))
    out = [_text(v) for v in items if not blank(v)]
    if any(len(v) > spec.max_length for v in out):
        raise BadValue(f"has an item longer than {spec.max_length} characters")
    return out


def _text(value: Any) -> str:
    if isinstance(value, float) and value == int(value):
        return str(int(value))  # a code read as 350625.0 by a spreadsheet
    return str(value).strip()


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise BadValue(f"must be {what}")
    try:
        number = float(value if not isinstance(value, str) else value.strip().replace(",", ""))
    except (TypeError, ValueError):
        raise BadValue(f"must be {what}") from None
    if not math.isfinite(number):
        raise BadValue(f"must be {what}")
    return number
