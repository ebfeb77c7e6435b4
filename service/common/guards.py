"""An ASGI guard in front of every route: size limits, text that is really UTF-8, no NUL characters.

* A body over the limit gets 413 (``max_body_bytes``; uploads get ``max_photo_bytes`` plus room
  for the form; a route named in ``route_limits``, such as bulk locate, its own limit), whether or
  not it announced its length.
* A JSON body that is not UTF-8 gets 400, and one that declares another charset 415 (JSON is UTF-8,
  RFC 8259); a query string or form body whose percent-escapes are not UTF-8 gets 400 naming the
  parameter; a JSON body nested deeper than ``MAX_JSON_DEPTH`` gets 422 (the parser would give up
  with no reason given). A NUL character anywhere in a JSON string or in the query string gets 422
  naming the field. (PostgreSQL cannot store NUL in text; SQLite can. Refusing it at the edge keeps
  both backends identical.)

Everything is answered as RFC 9457 problem+json, before any route or database work happens.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: Deepest nesting of arrays and objects a JSON body may have (a GeoJSON MultiPolygon in a request
#: body needs about 8).
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_ALL_BUT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _nesting_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON body nest (vectorised: brackets kept, +1/-1 summed)."""
    brackets = body.translate(None, _ALL_BUT_BRACKETS)
    if len(brackets) <= MAX_JSON_DEPTH:
        return len(brackets)  # an upper bound, small enough
    steps = np.frombuffer(brackets, dtype=np.uint8)
    return int(np.cumsum(np.where((steps == ord("[")) | (steps == ord("{")), 1, -1)).max())


def _nests_too_deep(body: bytes) -> bool:
    if _nesting_depth(body) <= MAX_JSON_DEPTH:
        return False
    if b'"' not in body:
        return True
    return _nesting_depth(_JSON_STRING.sub(b"", body)) > MAX_JSON_DEPTH  # brackets in strings do not count


def _not_utf8(encoded: bytes) -> str | None:
    """The name of the first parameter of a query string or form body whose text is not UTF-8."""
    for pair in encoded.split(b"&"):
        key, _, value = pair.partition(b"=")
        for part in (key, value):
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return unquote_to_bytes(key).decode("utf-8", "replace") or "query"
    return None


def _nul_path(value: Any, path: str = "") -> str | None:
    """The field path of the first string holding a NUL character, or None."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            key = str(k)
            if "\x00" in key:
                return f"{path}.{key}" if path else key
            found = _nul_path(v, f"{path}.{key}" if path else key)
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _nul_path(v, f"{path}[{i}]")
            if found:
                return found
    return None


async def _problem(send: Send, status: int, title: str, detail: str, field: str | None, path: str) -> None:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": path}
    if field:
        body["errors"] = [{"field": field, "message": detail}]
    payload = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        route_limits: dict[tuple[str, str], int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        #: ``(METHOD, path) -> bytes`` for the few routes whose plain bodies may be larger.
        self.route_limits = route_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        query = scope.get("query_string", b"")
        if query and b"%00" in query.lower():
            for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if "\x00" in key or "\x00" in value:
                    field = key.replace("\x00", "") or "query"
                    await _problem(send, 422, "Invalid input", f"{field}: NUL characters are not allowed", field, path)
                    return
        if query and (b"%" in query or not query.isascii()):
            field = _not_utf8(query)
            if field:
                await _problem(send, 400, "Bad request", f"{field}: the text is not valid UTF-8", field, path)
                return
        if scope.get("method") not in _WRITE_METHODS:
            await self.app(scope, receive, send)
            return

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        content_type = headers.get("content-type", "").lower()
        limit = self.max_upload_bytes if content_type.startswith("multipart/") else self.max_body_bytes
        limit = self.route_limits.get((scope["method"], path), limit)
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await _problem(send, 413, "Content too large", f"the body is larger than {limit} bytes", "body", path)
            return

        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _problem(send, 413, "Content too large", f"the body is larger than {limit} bytes", "body", path)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)

        if content_type.startswith("application/x-www-form-urlencoded") and body:
            field = _not_utf8(body)
            if field:
                await _problem(send, 400, "Bad request", f"{field}: the text is not valid UTF-8", field, path)
                return
        if "json" in content_type and body:
            charset = next((p.split("=", 1)[1].strip().strip('"') for p in content_type.split(";")[1:]
                            if p.strip().startswith("charset=")), "utf-8")  # fmt: skip
            if charset not in ("utf-8", "utf8"):
                detail = f"Content-Type: JSON must be sent as UTF-8 (RFC 8259), not charset={charset}"
                await _problem(send, 415, "Unsupported media type", detail, "Content-Type", path)
                return
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                await _problem(send, 400, "Bad request", "the body is not valid UTF-8", "body", path)
                return
            if _nests_too_deep(body):
                detail = f"the JSON body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"
                await _problem(send, 422, "Invalid input", detail, "body", path)
                return
            if "\\u0000" in text or "\x00" in text:
                try:
                    field = _nul_path(json.loads(text))
                except ValueError:
                    field = None  # not JSON at all: the route's own parser will say so
                if field:
                    await _problem(send, 422, "Invalid input", f"{field}: NUL characters are not allowed", field, path)
                    return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
