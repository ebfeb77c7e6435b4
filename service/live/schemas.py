"""What the event-stream endpoints answer (the stream itself is ``text/event-stream``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Ticket(BaseModel):
    ticket: str = Field(description="pass as ?ticket= to GET /api/v1/events; valid for one stream")
    expires_in: int = Field(description="seconds until the ticket expires")
