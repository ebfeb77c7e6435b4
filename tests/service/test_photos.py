"""Photos on requests: only real images, within the size limit, for the reporter and staff."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

from tests.service.helpers import assert_problem

BODY = {"category": "sanitation", "description": "楼道堆放垃圾", "lon": 117.7531, "lat": 24.6233, "channel": "wechat"}


def tiny_png() -> bytes:
    """A valid 1x1 PNG, built here so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )


def test_reporter_adds_a_photo_with_the_tracking_code_and_staff_see_it(backend, anon):
    created = anon.post("/api/v1/requests", json=BODY).json()
    png = tiny_png()
    r = anon.post(
        f"/api/v1/requests/{created['id']}/photos",
        data={"tracking_code": created["tracking_code"]},
        files={"file": ("p.png", io.BytesIO(png), "image/png")},
    )
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "image/png"
    with backend.client("dispatcher") as d:
        listed = d.get(f"/api/v1/requests/{created['id']}/photos").json()
        assert [p["id"] for p in listed] == [r.json()["id"]]
        got = d.get(listed[0]["url"])
        # Stored re-encoded without metadata (tests/security/test_photos_security.py): the same kind
        # of image, and the bytes the row's hash and size describe.
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        assert got.content.startswith(b"\x89PNG\r\n\x1a\n") and len(got.content) == r.json()["size"]
        assert hashlib.sha256(got.content).hexdigest() == r.json()["sha256"]


def test_strangers_cannot_add_or_see_photos(backend, anon):
    created = anon.post("/api/v1/requests", json=BODY).json()
    files = {"file": ("p.png", io.BytesIO(tiny_png()), "image/png")}
    assert_problem(anon.post(f"/api/v1/requests/{created['id']}/photos", files=files), 401)
    assert_problem(
        anon.post(
            f"/api/v1/requests/{created['id']}/photos",
            data={"tracking_code": "WRONG123"},
            files={"file": ("p.png", io.BytesIO(tiny_png()), "image/png")},
        ),
        401,
    )
    with backend.client("resident1") as resident:
        assert_problem(resident.get(f"/api/v1/requests/{created['id']}/photos"), 403)


def test_non_images_and_oversized_files_are_refused(backend, anon):
    created = anon.post("/api/v1/requests", json=BODY).json()
    code = {"tracking_code": created["tracking_code"]}
    fake = anon.post(
        f"/api/v1/requests/{created['id']}/photos",
        data=code,
        files={"file": ("x.png", io.BytesIO(b"<script>alert(1)</script>"), "image/png")},
    )
    assert_problem(fake, 415, "file")
    big = b"\xff\xd8\xff" + b"0" * (backend.settings.max_photo_bytes + 10)
    assert_problem(
        anon.post(
            f"/api/v1/requests/{created['id']}/photos",
            data=code,
            files={"file": ("big.jpg", io.BytesIO(big), "image/jpeg")},
        ),
        413,
        "file",
    )
    assert_problem(
        anon.post(
            f"/api/v1/requests/{created['id']}/photos",
            data=code | {"stage": "selfie"},
            files={"file": ("p.png", io.BytesIO(tiny_png()), "image/png")},
        ),
        422,
        "stage",
    )
    with backend.client("dispatcher") as d:
        assert d.get(f"/api/v1/requests/{created['id']}/photos").json() == []
