"""How a kept medium is served to staff: which types a browser may show in place, and the
headers that keep a hostile file from running as the console's own page."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from idlink.media.models import Media

# Shown in place (an <img>, <video> or <audio>); everything else is only ever downloaded.
INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "audio/mp4",
        "audio/x-m4a",
        "audio/m4a",
        "audio/aac",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
    }
)
# A served file is a document of its own: no script, no plug-in, no form, no frame around it.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self'; media-src 'self'; frame-ancestors 'none'; sandbox"
)
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "audio/x-m4a": "m4a",
    "audio/mp4": "m4a",
}
_UNSAFE_IN_QUOTES = re.compile(r"[^A-Za-z0-9._ ()-]")


def shown_inline(media: Media) -> bool:
    return media.kind != "file" and (media.content_type or "") in INLINE_TYPES


def file_name(media: Media) -> str:
    """The name the browser saves it as: the sent file's, or ``line-image-123.jpg``."""
    if media.file_name:
        return media.file_name
    extension = _EXTENSIONS.get(media.content_type or "", "bin")
    if media.message_id is None:
        return f"sent-{media.kind}-{media.id}.{extension}"
    return f"line-{media.kind}-{media.message_id}.{extension}"


def headers(media: Media) -> dict[str, str]:
    """Content type, disposition, caching and isolation headers of a served medium."""
    name = file_name(media)
    disposition = "inline" if shown_inline(media) else "attachment"
    fallback = _UNSAFE_IN_QUOTES.sub("_", name) or "download"
    return {
        "content-type": media.content_type or "application/octet-stream",
        "content-disposition": (
            f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
        ),
        "x-content-type-options": "nosniff",
        "content-security-policy": CONTENT_SECURITY_POLICY,
        # Personal data: the browser may keep it, no shared cache may.
        "cache-control": "private, max-age=3600",
        "etag": f'"{media.sha256}"',
        "cross-origin-resource-policy": "same-origin",
    }


@dataclass(frozen=True, slots=True)
class Served:
    status: int
    headers: dict[str, str]
    body: bytes


def serve(
    media: Media,
    content: Callable[[], bytes],
    *,
    if_none_match: str | None = None,
    byte_range: str | None = None,
) -> Served:
    """The answer to a request for the medium: 304 when the browser has it, 206 for one byte
    range (a phone's video player asks for ranges), 416 for a range past the end, else 200."""
    base = headers(media) | {"accept-ranges": "bytes"}
    if if_none_match and f'"{media.sha256}"' in if_none_match:
        return Served(304, base, b"")
    data = content()
    wanted = _range(byte_range, len(data))
    if wanted is None:
        return Served(200, base, data)
    if wanted == UNSATISFIABLE:
        return Served(416, base | {"content-range": f"bytes */{len(data)}"}, b"")
    start, end = wanted
    part = base | {"content-range": f"bytes {start}-{end}/{len(data)}"}
    return Served(206, part, data[start : end + 1])


UNSATISFIABLE = (-1, -1)
_BYTE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b``, ``a-`` or ``-n`` range as (first, last); None serves it all (no
    header, several ranges, or one that does not parse, as RFC 9110 allows)."""
    found = _BYTE_RANGE.match((header or "").strip())
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.group(1), found.group(2)
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return UNSATISFIABLE
    return start, end
