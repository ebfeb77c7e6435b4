"""Photos attached to requests: at intake, or later (resolution and verification evidence).

The bytes go to ``media_dir/requests/<id>/<sha256>.<ext>``; the row records type, size, hash and,
for uploads by anyone but staff, the client address. Only JPEG, PNG and WebP are accepted,
recognised by their leading bytes (not by what the client claims) and then decoded by Pillow: what
does not decode as that format, or is larger than ``photo_max_pixels`` (a decompression bomb), is
refused before any pixel is decoded. What is stored is the re-encoded pixels only, with the EXIF
orientation applied: no EXIF (GPS positions of homes, camera serials), XMP, ICC, comments or text
chunks survive.

Quotas, each counted from the rows in the database so that they hold across worker processes:
``photo_max_per_request`` per request and stage (409), ``photo_uploads_per_ip_hour`` and
``photo_bytes_per_ip_hour`` per client IP (429 with Retry-After; staff are not counted), and
``photo_storage_budget_bytes`` for all photos together (507).
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from service.common.errors import Conflict, DomainError, Invalid, TooLarge, TooManyRequests, UnsupportedMedia
from service.config import Settings
from service.requests.models import RequestPhoto, ServiceRequest

STAGES = ("report", "resolution", "verification")
QUOTA_WINDOW = timedelta(hours=1)
_PILLOW_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
#: Any image over this many pixels makes Pillow itself refuse to decode (its own bomb check);
#: ours (``photo_max_pixels``) runs first, on the header, and is usually lower.
Image.MAX_IMAGE_PIXELS = 200_000_000


#: The field a refused photo names: the upload itself.
FILE = "file"


class StorageFull(DomainError):
    """The photo storage budget is spent (507): the operator must act, not the client."""

    status = 507


@dataclass(frozen=True)
class CleanImage:
    """An upload decoded and re-encoded without metadata."""

    data: bytes
    content_type: str
    extension: str


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's magic bytes, or None if not a supported image."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def clean_image(data: bytes, *, max_bytes: int, max_pixels: int) -> CleanImage:
    """Check an upload and re-encode it: the pixels (orientation applied) and nothing else.

    CPU-bound (a few hundred ms for a phone photo): call it from a thread, not the event loop."""
    if not data:
        raise Invalid("the file is empty", field=FILE)
    if len(data) > max_bytes:
        raise TooLarge(f"the file is larger than {max_bytes} bytes", field=FILE)
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMedia("only JPEG, PNG and WebP photos are accepted", field=FILE)
    fmt = _PILLOW_FORMAT[kind[0]]
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            if img.width * img.height > max_pixels:
                raise Invalid(f"the image has more than {max_pixels} pixels", field=FILE)
            img.load()
            upright = ImageOps.exif_transpose(img)
    except DomainError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedMedia(f"the file is not a readable {fmt} image", field=FILE) from exc
    upright.info = {}  # ICC profile, comments, text chunks: Pillow would copy some of them from here
    out = io.BytesIO()
    if fmt == "JPEG":
        if upright.mode not in ("L", "RGB"):
            upright = upright.convert("RGB")
        upright.save(out, "JPEG", quality=90, optimize=True)
    elif fmt == "PNG":
        upright.save(out, "PNG", optimize=False)
    else:
        upright.save(out, "WEBP", quality=90)
    return CleanImage(out.getvalue(), kind[0], kind[1])


def _lock_quotas(session: Session) -> None:
    """Serialise the quota check and insert between workers. SQLite writers already queue on
    ``BEGIN IMMEDIATE``; on PostgreSQL a transaction-scoped advisory lock does it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7283011)"))


def check_quotas(
    session: Session,
    *,
    req: ServiceRequest,
    stage: str,
    size: int,
    uploader_ip: str | None,
    now: datetime,
    settings: Settings,
) -> None:
    """Raise Conflict (409), TooManyRequests (429) or StorageFull (507) when storing ``size`` more
    bytes would break a quota."""
    count = (
        session.scalar(
            select(func.count())
            .select_from(RequestPhoto)
            .where(RequestPhoto.request_id == req.id, RequestPhoto.stage == stage)
        )
        or 0
    )
    if count >= settings.photo_max_per_request:
        raise Conflict(f"a request holds at most {settings.photo_max_per_request} {stage} photos", field=FILE)
    if uploader_ip is not None and (settings.photo_uploads_per_ip_hour or settings.photo_bytes_per_ip_hour):
        since = now - QUOTA_WINDOW
        n, used, first = session.execute(
            select(
                func.count(), func.coalesce(func.sum(RequestPhoto.size), 0), func.min(RequestPhoto.uploaded_at)
            ).where(RequestPhoto.uploader_ip == uploader_ip, RequestPhoto.uploaded_at > since)
        ).one()
        over_count = settings.photo_uploads_per_ip_hour and n >= settings.photo_uploads_per_ip_hour
        over_bytes = settings.photo_bytes_per_ip_hour and used + size > settings.photo_bytes_per_ip_hour
        if over_count or over_bytes:
            wait = math.ceil(((first + QUOTA_WINDOW) - now).total_seconds()) if first is not None else 3600
            seconds = min(max(wait, 1), 3600)
            raise TooManyRequests("this address has sent its photos for this hour", retry_after=seconds, field=FILE)
    total = session.scalar(select(func.coalesce(func.sum(RequestPhoto.size), 0))) or 0
    if total + size > settings.photo_storage_budget_bytes:
        raise StorageFull("the photo storage is full; tell the service's operator", field=FILE)


def add_photo(
    session: Session,
    *,
    req: ServiceRequest,
    image: CleanImage,
    stage: str,
    uploader_ip: str | None,
    now: datetime,
    settings: Settings,
) -> RequestPhoto:
    """Check the quotas, store the file and add its row (the caller commits)."""
    if stage not in STAGES:
        raise Invalid(f"stage must be one of {', '.join(STAGES)}", field="stage")
    _lock_quotas(session)
    check_quotas(
        session, req=req, stage=stage, size=len(image.data), uploader_ip=uploader_ip, now=now, settings=settings
    )
    digest = hashlib.sha256(image.data).hexdigest()
    relative = Path("requests") / str(req.id) / f"{digest}.{image.extension}"
    target = settings.media_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        tmp = target.with_suffix(".part")
        tmp.write_bytes(image.data)
        tmp.replace(target)
    photo = RequestPhoto(
        request_id=req.id,
        content_type=image.content_type,
        size=len(image.data),
        sha256=digest,
        path=str(relative),
        uploaded_at=now,
        stage=stage,
        uploader_ip=uploader_ip,
    )
    session.add(photo)
    session.flush()
    return photo


def photo_path(media_dir: Path, photo: RequestPhoto) -> Path:
    return media_dir / photo.path
