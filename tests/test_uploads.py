"""Photos: checked by content, re-encoded without metadata, stored by hash, served to staff only."""
from __future__ import annotations

import io
import json
import uuid

import pytest
import requests
from PIL import Image, PngImagePlugin
from sqlalchemy import text

from tests.helpers import wait_for
from web.uploads import UploadRefused, clean, find, store

MB = 1024 * 1024
NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}


def _jpeg_with_metadata() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° to view
    exif[0x8825] = {1: "N", 2: (43.0, 42.0, 45.36), 3: "E", 4: (125.0, 26.0, 19.68)}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"secret comment",
               xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://ns.adobe.com/xap/1.0/"/></x:xmpmeta>')
    return out.getvalue()


def test_jpeg_metadata_is_stripped_and_orientation_applied():
    raw = _jpeg_with_metadata()
    assert b"Exif" in raw and b"PhoneMaker" in raw and b"secret comment" in raw and b"ns.adobe.com/xap" in raw
    cleaned = clean(raw, 8 * MB, 40_000_000)
    assert cleaned.media_type == "image/jpeg"
    for marker in (b"Exif", b"PhoneMaker", b"secret comment", b"ns.adobe.com/xap"):
        assert marker not in cleaned.data
    stored = Image.open(io.BytesIO(cleaned.data))
    assert not stored.getexif() and stored.size == (48, 64), "turned upright, then EXIF dropped"


def test_png_text_chunks_are_dropped():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "张三 13800001111")
    out = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 0, 128)).save(out, "PNG", pnginfo=info)
    cleaned = clean(out.getvalue(), 8 * MB, 40_000_000)
    assert cleaned.media_type == "image/png" and b"13800001111" not in cleaned.data
    assert "Author" not in Image.open(io.BytesIO(cleaned.data)).info


@pytest.mark.parametrize("data,status,words", [
    (b"<html><script>alert(1)</script></html>", 415, "not an image"),
    (b"GIF89a" + b"\x00" * 40, 415, "not an image"),
    (b"", 422, "empty"),
])
def test_non_images_are_refused(data, status, words):
    with pytest.raises(UploadRefused, match=words) as caught:
        clean(data, 8 * MB, 40_000_000)
    assert caught.value.status == status


def test_gif_and_truncated_and_oversized_images_are_refused():
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    with pytest.raises(UploadRefused, match="GIF files are not accepted"):
        clean(out.getvalue(), 8 * MB, 40_000_000)
    jpeg = _jpeg_with_metadata()
    with pytest.raises(UploadRefused, match="cannot be decoded"):
        clean(jpeg[: len(jpeg) // 2], 8 * MB, 40_000_000)
    with pytest.raises(UploadRefused, match="at most 100 are accepted") as caught:
        clean(jpeg, 100, 40_000_000)
    assert caught.value.status == 413


def test_a_decompression_bomb_is_refused_before_decoding():
    out = io.BytesIO()
    Image.new("L", (6000, 6000)).save(out, "PNG")  # 36 Mpx of zeros: a few kB on the wire
    assert len(out.getvalue()) < 200_000
    with pytest.raises(UploadRefused, match="pixels") as caught:
        clean(out.getvalue(), 8 * MB, 10_000_000)
    assert caught.value.status == 413


def test_a_large_lossless_image_is_refused_before_decoding_even_under_the_pixel_limit():
    """The issue's six 6320×6320 PNGs (233 KB each) cost 226 MB and 4.4 s: each is now refused from its header."""
    out = io.BytesIO()
    Image.new("RGB", (6320, 6320), (90, 90, 90)).save(out, "PNG")
    assert len(out.getvalue()) < 400_000
    with pytest.raises(UploadRefused, match="PNG and WebP") as caught:
        clean(out.getvalue(), 8 * MB, 40_000_000)
    assert caught.value.status == 413


def test_a_large_jpeg_is_decoded_at_reduced_scale_and_kept_at_most_4096_pixels_on_its_long_side():
    out = io.BytesIO()
    Image.new("RGB", (8000, 6000), (40, 120, 200)).save(out, "JPEG", quality=70)
    stored = clean(out.getvalue(), 8 * MB, 50_000_000)
    with Image.open(io.BytesIO(stored.data)) as image:
        assert image.size == (4000, 3000)  # decoded at half scale, not at full size and then shrunk
    out = io.BytesIO()
    Image.new("RGB", (9000, 3000), (40, 120, 200)).save(out, "JPEG", quality=70)
    with Image.open(io.BytesIO(clean(out.getvalue(), 8 * MB, 50_000_000).data)) as image:
        assert image.size == (4096, 1365)


def test_store_is_content_addressed_and_lookup_refuses_traversal(tmp_path):
    cleaned = clean(_jpeg_with_metadata(), 8 * MB, 40_000_000)
    path = store(cleaned, tmp_path)
    assert store(cleaned, tmp_path) == path and path.name == f"{cleaned.sha256}.jpg"
    assert find(tmp_path, cleaned.sha256) == (path, "image/jpeg")
    for bad in ("../etc/passwd", "a" * 63, "A" * 64, cleaned.sha256[:-1] + "/"):
        assert find(tmp_path, bad) is None


@pytest.mark.integration
def test_multipart_report_with_photos_end_to_end(server, worker, make_user, settings, engine):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    report_id = f"ph-{uuid.uuid4().hex[:10]}"
    report = {"report_id": report_id, "category": "020102", "description": "垃圾堆放", "location": NANGUAN}
    photo = _jpeg_with_metadata()
    r = requests.post(f"{base}/api/v1/reports", timeout=10, data={"report": json.dumps(report)},
                      files=[("photos", ("IMG_0001.jpg", photo, "image/jpeg"))])
    assert r.status_code == 202, r.text
    again = requests.post(f"{base}/api/v1/reports", timeout=10, data={"report": json.dumps(report)},
                          files=[("photos", ("IMG_0001.jpg", photo, "image/jpeg"))])
    assert again.status_code == 202, "the same report with the same photo is accepted once, idempotently"

    def attachments():
        with engine.connect() as conn:
            row = conn.execute(text("SELECT envelope FROM reports WHERE report_id = :r"), {"r": report_id}).first()
        return row and row.envelope["attachments"]

    (attachment,) = wait_for(attachments, what="the stored report")
    assert attachment["media_type"] == "image/jpeg" and attachment["url"] == f"/media/{attachment['sha256']}"
    token = requests.post(f"{base}/api/v1/auth/token", json={"username": "duty", "password": "secret-pass-1"},
                          timeout=10).json()["token"]
    served = requests.get(f"{base}{attachment['url']}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff" and b"PhoneMaker" not in served.content
    assert requests.get(f"{base}{attachment['url']}", timeout=10).status_code == 401


@pytest.mark.integration
def test_a_bad_photo_is_named_and_nothing_is_kept(server, worker, settings, engine):
    base, _ = server
    before = set(settings.media_path.glob("*")) if settings.media_path.exists() else set()
    report_id = f"bad-{uuid.uuid4().hex[:10]}"
    report = {"report_id": report_id, "category": "020102", "location": NANGUAN}
    r = requests.post(f"{base}/api/v1/reports", timeout=10, data={"report": json.dumps(report)}, files=[
        ("photos", ("ok.jpg", _jpeg_with_metadata(), "image/jpeg")),
        ("photos", ("evil.jpg", b"<svg onload=alert(1)>", "image/jpeg")),
    ])
    assert r.status_code == 415 and "photos[1]" in r.json()["error"]["fields"], r.text
    bad_envelope = requests.post(f"{base}/api/v1/reports", timeout=10,
                                 data={"report": json.dumps({**report, "location": None})},
                                 files=[("photos", ("ok.jpg", _jpeg_with_metadata(), "image/jpeg"))])
    assert bad_envelope.status_code == 422
    assert (set(settings.media_path.glob("*")) if settings.media_path.exists() else set()) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM intake_log WHERE report_id = :r"), {"r": report_id}).scalar() == 0


@pytest.mark.integration
def test_a_handling_carries_its_photos_into_the_history(server, worker, make_user):
    base, _ = server
    make_user("nanguan", "department", unit="220102-WATER")  # 上水井盖: the water company
    token = requests.post(f"{base}/api/v1/auth/token", json={"username": "nanguan", "password": "secret-pass-1"},
                          timeout=10).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    report_id = f"h-{uuid.uuid4().hex[:10]}"
    requests.post(f"{base}/api/v1/reports", json={"report_id": report_id, "category": "010101", "location": NANGUAN},
                  timeout=10).raise_for_status()
    no = wait_for(lambda: requests.get(f"{base}/api/v1/reports/public/{report_id}", timeout=5).json().get("ticket_no"),
                  what="the ticket")
    uploaded = requests.post(f"{base}/api/v1/media", headers=headers, timeout=10,
                             files=[("photos", ("after.jpg", _jpeg_with_metadata(), "image/jpeg"))])
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()["attachments"][0]
    for action, extra in (("acknowledge", {}), ("handle", {"note": "井盖已补齐", "attachments": [attachment]})):
        version = requests.get(f"{base}/api/v1/tickets/{no}", headers=headers, timeout=10).json()["version"]
        r = requests.post(f"{base}/api/v1/tickets/{no}/actions", headers=headers, timeout=10,
                          json={"action": action, "version": version, **extra})
        assert r.status_code == 200, r.text
    assert r.json()["history"][-1]["data"]["attachments"] == [attachment]
    bad = requests.post(f"{base}/api/v1/tickets/{no}/actions", headers=headers, timeout=10,
                        json={"action": "comment", "version": r.json()["version"], "note": "x",
                              "attachments": [{"sha256": "0" * 64}]})
    assert bad.status_code == 422 and "attachments[0]" in bad.json()["error"]["fields"]
