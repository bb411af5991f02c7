"""Photos from the field: checked by content, re-encoded, stored by the sha256 of the stored bytes.

Nothing a client sends is stored as sent. The type comes from decoding the bytes (not the file name or the
declared content type); the image is fully decoded (a truncated or corrupt file is refused), turned upright
from its EXIF orientation, and encoded anew without EXIF (GPS position, phone serial), XMP, ICC or comments.
So a polyglot (an HTML page that is also a JPEG) and any metadata die with the original bytes.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

# Decoded format → (media type, extension, how it is re-encoded).
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/jpeg", "jpg")}
JPEG_QUALITY = 85
# Photos are kept at most this many pixels on their long side: plenty to see a broken manhole cover. A large
# JPEG is decoded straight at a reduced scale (its DCT allows 1/2, 1/4, 1/8), so a 48-megapixel phone photo
# costs a fraction of its full decode in time and memory.
MAX_SIDE = 4096
# PNG and WebP cannot be decoded at a reduced scale: a large one costs its full size in memory (a 6320×6320
# PNG of 233 KB decodes to 160 MB). Phone photos are JPEG; screenshots are far below this.
MAX_LOSSLESS_PIXELS = 16_777_216
SHA256_HEX = frozenset("0123456789abcdef")


class UploadRefused(ValueError):
    """Why a file is refused, for the 4xx answer; `status` is 413 for size, 415 for type, 422 otherwise."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    media_type: str
    extension: str
    sha256: str

    def attachment(self) -> dict:
        return {"sha256": self.sha256, "media_type": self.media_type, "url": f"/media/{self.sha256}"}


def clean(data: bytes, max_bytes: int, max_pixels: int) -> CleanImage:
    """Decode, check and re-encode one uploaded image; raise UploadRefused with a reason a person can act on."""
    if not data:
        raise UploadRefused("the file is empty")
    if len(data) > max_bytes:
        raise UploadRefused(f"the file is {len(data)} bytes; at most {max_bytes} are accepted", 413)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            kind = image.format
            if kind not in FORMATS:
                raise UploadRefused(f"{kind or 'this'} files are not accepted; send a JPEG, PNG or WebP photo", 415)
            width, height = image.size
            if width * height > max_pixels:
                raise UploadRefused(f"the image has {width}×{height} pixels; at most {max_pixels} are accepted", 413)
            if kind != "JPEG" and width * height > MAX_LOSSLESS_PIXELS:
                raise UploadRefused(f"the {kind} image has {width}×{height} pixels; at most {MAX_LOSSLESS_PIXELS} "
                                    "are accepted for PNG and WebP (send a JPEG photo)", 413)
            if kind == "JPEG" and max(width, height) > MAX_SIDE:
                # Decode at 1/2, 1/4 … scale, never below half of MAX_SIDE: an 8000×6000 photo arrives as 4000×3000.
                image.draft("RGB", (MAX_SIDE // 2, MAX_SIDE // 2))
            image.load()
    except UploadRefused:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise UploadRefused("the image is too large when decoded", 413) from None
    except UnidentifiedImageError:
        raise UploadRefused("not an image (the content is not JPEG, PNG or WebP)", 415) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UploadRefused(f"the image cannot be decoded ({exc}); it may be truncated or corrupt") from None
    media_type, extension = FORMATS[kind]
    upright = ImageOps.exif_transpose(image)
    if max(upright.size) > MAX_SIDE:
        upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=2.0)
    mode = "RGBA" if media_type == "image/png" and upright.mode in ("RGBA", "LA", "P") else "RGB"
    pixels = upright.convert(mode)
    pixels.info = {}  # Pillow re-writes comment, XMP, ICC and EXIF it finds here: start from pixels only
    out = io.BytesIO()
    if media_type == "image/png":
        pixels.save(out, "PNG", optimize=True)
    else:
        pixels.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    stored = out.getvalue()
    return CleanImage(stored, media_type, extension, hashlib.sha256(stored).hexdigest())


def store(image: CleanImage, media_dir: Path) -> Path:
    """Write atomically under the content hash; storing the same photo twice is a no-op."""
    media_dir.mkdir(parents=True, exist_ok=True)
    path = media_dir / f"{image.sha256}.{image.extension}"
    if path.exists():
        return path
    fd, tmp = tempfile.mkstemp(dir=media_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(image.data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def find(media_dir: Path, sha256: str) -> tuple[Path, str] | None:
    """The stored file and its media type for a hash; None for unknown or malformed hashes (no traversal)."""
    if len(sha256) != 64 or not set(sha256) <= SHA256_HEX:
        return None
    for extension, media_type in (("jpg", "image/jpeg"), ("png", "image/png")):
        path = media_dir / f"{sha256}.{extension}"
        if path.is_file():
            return path, media_type
    return None
