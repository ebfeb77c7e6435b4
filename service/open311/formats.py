"""Open311 answers in JSON and XML, as GeoReport v2 spells them.

JSON answers are arrays (even for one request); XML wraps the same records in a plural root
(``<services>``, ``<service_requests>``, …). Errors are an array of ``{code, description}``.
Characters XML 1.0 cannot carry (control characters such as ``\u000b``, lone surrogates) are
dropped from every text on output, so a stored value can never make an answer ill-formed.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree as ET

from service.common.errors import DomainError

#: list root -> item element, for XML
_ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "discovery": None,
    "service_definition": None,
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "keywords": "keyword",
}


#: Everything outside XML 1.0's Char production (https://www.w3.org/TR/xml/#charsets).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """``value`` without the characters an XML 1.0 document may not contain."""
    return _NOT_XML.sub("", value)


def _xml_value(parent: ET.Element, key: str, value: Any) -> None:
    if isinstance(value, list):
        holder = ET.SubElement(parent, key)
        item_tag = _ITEM.get(key) or key.rstrip("s")
        for item in value:
            _xml_value(holder, item_tag, item)
    elif isinstance(value, dict):
        node = ET.SubElement(parent, key)
        for k, v in value.items():
            _xml_value(node, k, v)
    else:
        node = ET.SubElement(parent, key)
        if value is not None:
            node.text = xml_text(str(value).lower() if isinstance(value, bool) else str(value))


def to_xml(root: str, body: Any) -> bytes:
    element = ET.Element(root)
    if isinstance(body, list):
        item_tag = _ITEM.get(root) or root.rstrip("s")
        for item in body:
            _xml_value(element, item_tag, item)
    else:
        for k, v in body.items():
            _xml_value(element, k, v)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="utf-8")


#: The media type of each format's answers.
MEDIA_TYPES = {"json": "application/json", "xml": "text/xml; charset=utf-8"}


def encode(fmt: str, root: str, body: Any) -> bytes:
    """``body`` as GeoReport spells it in ``fmt``: JSON as it is, XML under ``root``."""
    return to_xml(root, body) if fmt == "xml" else json.dumps(body, ensure_ascii=False).encode()


class Open311Error(DomainError):
    """An Open311 refusal (400, 403 or 404), answered in the request's format as an array of
    ``{code, description}`` (the Open311 routes' own handler, not problem+json)."""

    def __init__(self, status: int, description: str, fmt: str = "json") -> None:
        super().__init__(description, status=status)
        self.description = description
        self.fmt = fmt

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.status, "description": self.description}]
