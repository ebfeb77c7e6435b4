"""The current HTTP request's id, set by the request-context middleware (service/common/middleware.py)
and carried by log records and audit entries."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
