"""What the operations endpoints answer."""

from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    """``ok`` (alive), ``ready``; when not ready, why (``migrations pending``, ``unavailable``)."""

    status: str


class NotReady(Health):
    detail: str | None = None


class Source(BaseModel):
    name: str
    attribution: str
    licence: str
    url: str
    layers: list[str]


class Attribution(BaseModel):
    sources: list[Source]
