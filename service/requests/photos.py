"""Photos attached to requests: at intake, or later (resolution and verification evidence).

The bytes go to ``media_dir/requests/<id>/<sha256>.<ext>``; the row records type, size and hash.
Only JPEG, PNG and WebP are accepted, recognised by their leading bytes, not by what the client
claims.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.requests.models import RequestPhoto, ServiceRequest

MAX_PHOTOS_PER_REQUEST = 10
STAGES = ("report", "resolution", "verification")


class PhotoError(ValueError):
    def __init__(self, status: int, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's magic bytes, or None if not a supported image."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def add_photo(
    session: Session, *, req: ServiceRequest, data: bytes, stage: str, media_dir: Path, max_bytes: int, now: datetime
) -> RequestPhoto:
    """Store the file and add its row (the caller commits; on failure it should call ``discard``)."""
    if stage not in STAGES:
        raise PhotoError(422, f"stage must be one of {', '.join(STAGES)}", "stage")
    if not data:
        raise PhotoError(422, "the file is empty")
    if len(data) > max_bytes:
        raise PhotoError(413, f"the file is larger than {max_bytes} bytes")
    kind = sniff(data)
    if kind is None:
        raise PhotoError(415, "only JPEG, PNG and WebP photos are accepted")
    count = session.scalar(select(func.count()).select_from(RequestPhoto).where(RequestPhoto.request_id == req.id))
    if count >= MAX_PHOTOS_PER_REQUEST:
        raise PhotoError(409, f"a request holds at most {MAX_PHOTOS_PER_REQUEST} photos")
    digest = hashlib.sha256(data).hexdigest()
    relative = Path("requests") / str(req.id) / f"{digest}.{kind[1]}"
    target = media_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    photo = RequestPhoto(
        request_id=req.id,
        content_type=kind[0],
        size=len(data),
        sha256=digest,
        path=str(relative),
        uploaded_at=now,
        stage=stage,
    )
    session.add(photo)
    session.flush()
    return photo


def photo_path(media_dir: Path, photo: RequestPhoto) -> Path:
    return media_dir / photo.path
