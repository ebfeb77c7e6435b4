"""Photo uploads cannot fill the disk, leak where a home is, or be served as something else.

* Quotas, on apps of their own with small limits: photos per request and stage (409), photos and
  bytes per client IP and hour (429 with Retry-After; counted in the database, so a second app —
  another worker — on the same database sees the first one's uploads; staff are not counted), and
  the storage budget for all photos together (507).
* What is stored is the re-encoded pixels: a JPEG with GPS EXIF comes back with no EXIF at all and
  with its orientation applied; a PNG's text and EXIF chunks are gone.
* What is not really an image is refused (415), and so is a decompression bomb (422), before any
  row or file is written.
* A photo is served inline under a fixed name, sandboxed, never sniffed.
"""

from __future__ import annotations

import io
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select

from service.requests.models import RequestPhoto
from tests.reliability.harness import another_app
from tests.service.helpers import assert_problem

BODY = {"category": "sanitation", "description": "楼道堆放垃圾 photo quota", "lon": 117.7531, "lat": 24.6233}
#: A home's position, as a phone camera writes it (24°37'24"N 117°45'11"E).
GPS = {1: "N", 2: (24.0, 37.0, 24.0), 3: "E", 4: (117.0, 45.0, 11.0)}


def jpeg_with_gps(width: int = 40, height: int = 20, orientation: int = 6) -> bytes:
    """A JPEG whose EXIF holds a GPS position, a camera and an orientation (6: rotate 90° to show)."""
    img = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone 12 Pro"  # Model
    exif[0x0112] = orientation
    exif[0x8825] = GPS  # GPSInfo IFD
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, comment=b"home of the reporter")
    return out.getvalue()


def png_with_metadata() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "24.6233,117.7531 home")
    exif = Image.Exif()
    exif[0x8825] = GPS
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 120, 0)).save(out, "PNG", pnginfo=info, exif=exif)
    return out.getvalue()


def plain_png(colour: tuple[int, int, int] = (0, 0, 255), size: int = 16) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


def new_request(client: httpx.Client) -> dict:
    r = client.post("/api/v1/requests", json=BODY | {"channel": "web"})
    assert r.status_code == 201, r.text
    return r.json()


def upload(client: httpx.Client, req: dict, data: bytes, name: str = "p.png", **form) -> httpx.Response:
    return client.post(
        f"/api/v1/requests/{req['id']}/photos",
        data={"tracking_code": req["tracking_code"], **form},
        files={"file": (name, io.BytesIO(data), "application/octet-stream")},
    )


def recent_from(backend, ip: str = "127.0.0.1") -> tuple[int, int]:
    """(photos, bytes) stored from ``ip`` in the last hour: earlier tests on this database count too."""
    since = datetime.now(UTC) - timedelta(hours=1)
    with backend.db.reader() as s:
        n, size = s.execute(
            select(func.count(), func.coalesce(func.sum(RequestPhoto.size), 0)).where(
                RequestPhoto.uploader_ip == ip, RequestPhoto.uploaded_at > since
            )
        ).one()
    return int(n), int(size)


def test_a_request_holds_a_limited_number_of_photos_per_stage(secured):
    with ExitStack() as stack:
        app = another_app(stack, secured, photo_max_per_request=2)
        with app.client() as anon, app.client("dispatcher") as staff:
            req = new_request(anon)
            for i in range(2):
                assert upload(anon, req, plain_png((i, 0, 0))).status_code == 201
            assert_problem(upload(anon, req, plain_png((9, 0, 0))), 409, "file")
            # Staff's resolution evidence has room of its own: a reporter cannot crowd it out.
            r = upload(staff, req, plain_png((0, 9, 0)), stage="resolution")
            assert r.status_code == 201, r.text
            # The reporter's own uploads are report photos only.
            assert_problem(upload(anon, req, plain_png((0, 0, 9)), stage="resolution"), 403, "stage")


def test_photos_per_ip_and_hour_are_counted_in_the_database_across_workers(secured):
    """Two apps on one database stand for two worker processes: the second counts the first's."""
    n, _ = recent_from(secured)
    with ExitStack() as stack:
        first = another_app(stack, secured, photo_uploads_per_ip_hour=n + 3)
        second = another_app(stack, secured, photo_uploads_per_ip_hour=n + 3)
        with first.client() as a, second.client() as b, second.client("dispatcher") as staff:
            req, other = new_request(a), new_request(b)
            assert [upload(c, r, plain_png((i, 1, 1))).status_code for i, (c, r) in enumerate(
                [(a, req), (b, other), (a, other)]
            )] == [201, 201, 201]  # fmt: skip
            refused = upload(b, req, plain_png((7, 7, 7)))
            assert_problem(refused, 429)
            assert 1 <= int(refused.headers["Retry-After"]) <= 3600
            assert_problem(upload(a, other, plain_png((8, 8, 8))), 429)
            # Staff are not counted (and so not limited) per address.
            assert upload(staff, req, plain_png((6, 6, 6)), stage="resolution").status_code == 201


def test_bytes_per_ip_and_hour_are_limited(secured):
    _, used = recent_from(secured)
    photo = plain_png((3, 3, 3), size=64)
    with ExitStack() as stack:
        app = another_app(stack, secured, photo_bytes_per_ip_hour=used + len(photo) + 50)
        with app.client() as anon:
            req = new_request(anon)
            assert upload(anon, req, photo).status_code == 201
            refused = upload(anon, req, plain_png((4, 4, 4), size=64))
            assert_problem(refused, 429)
            assert int(refused.headers["Retry-After"]) >= 1


def test_the_storage_budget_is_a_507(secured):
    with secured.db.reader() as s:
        total = int(s.scalar(select(func.coalesce(func.sum(RequestPhoto.size), 0))))
    photo = plain_png((5, 5, 5), size=64)
    with ExitStack() as stack:
        app = another_app(stack, secured, photo_storage_budget_bytes=total + len(photo) + 50)
        with app.client() as anon:
            req = new_request(anon)
            assert upload(anon, req, photo).status_code == 201
            assert_problem(upload(anon, req, plain_png((6, 5, 5), size=64)), 507)


def test_gps_exif_and_other_metadata_are_stripped_and_orientation_applied(secured):
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the test's photo has a position
    with secured.client() as anon, secured.client("dispatcher") as staff:
        req = new_request(anon)
        r = upload(anon, req, original, "home.jpg")
        assert r.status_code == 201, r.text
        got = staff.get(r.json()["url"])
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
        img = Image.open(io.BytesIO(got.content))
        assert img.format == "JPEG" and dict(img.getexif()) == {}
        assert "exif" not in img.info and "comment" not in img.info
        assert b"Exif" not in got.content and b"PhoneMaker" not in got.content and b"home of" not in got.content
        assert img.size == (20, 40)  # orientation 6 applied to the pixels, since the tag is gone
        assert r.json()["size"] == len(got.content)

        r = upload(anon, req, png_with_metadata())
        assert r.status_code == 201, r.text
        png = staff.get(r.json()["url"]).content
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and dict(img.getexif()) == {} and "Comment" not in img.info
        assert b"home" not in png and b"eXIf" not in png and b"tEXt" not in png


def test_what_is_not_really_an_image_is_refused(secured):
    with secured.client() as anon, secured.client("dispatcher") as staff:
        req = new_request(anon)
        html = b"\xff\xd8\xff\xe0<html><script>alert(document.cookie)</script></html>"
        assert_problem(upload(anon, req, html, "x.jpg"), 415, "file")
        broken = plain_png()[:40]  # a PNG cut short
        assert_problem(upload(anon, req, broken), 415, "file")
        bomb = io.BytesIO()
        Image.new("1", (10_000, 10_000)).save(bomb, "PNG")  # 100 megapixels in a few kilobytes
        assert len(bomb.getvalue()) < 100_000
        assert_problem(upload(anon, req, bomb.getvalue()), 422, "file")
        assert staff.get(f"/api/v1/requests/{req['id']}/photos").json() == []


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_photos_are_served_inline_sandboxed_and_never_sniffed(secured, kind):
    data = plain_png() if kind == "png" else jpeg_with_gps(orientation=1)
    with secured.client() as anon:
        req = new_request(anon)
        r = upload(anon, req, data)
        assert r.status_code == 201, r.text
        got = anon.get(r.json()["url"], params={"tracking_code": req["tracking_code"]})
        assert got.status_code == 200
        ext = "png" if kind == "png" else "jpg"
        assert (
            got.headers["content-disposition"] == f'inline; filename="request-{req["id"]}-photo-{r.json()["id"]}.{ext}"'
        )
        assert got.headers["content-security-policy"] == "sandbox"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-type"] == f"image/{kind}"
