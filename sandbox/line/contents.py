"""Content simulated users sent: what ``api-data.line.me/v2/bot/message/{id}/content`` serves.

LINE keeps a message's content for a while only, and serves it to the channel the message was
sent to; video and audio are prepared (transcoded) before they can be downloaded.
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass

from sandbox.line.errors import LineApiError, not_found

# LINE deletes content after a period it does not publish; the sandbox keeps it two weeks.
CONTENT_TTL_SECONDS = 14 * 24 * 3600
MEDIA_KINDS = ("image", "video", "audio", "file")
DEFAULT_CONTENT_TYPES = {
    "image": "image/png",
    "video": "video/mp4",
    "audio": "audio/x-m4a",
    "file": "application/octet-stream",
}
TRANSCODING_STATES = ("processing", "succeeded", "failed")


@dataclass
class StoredContent:
    """One message's content as the platform keeps it for the channel it was sent to."""

    channel_id: str
    message_id: str
    kind: str
    data: bytes
    content_type: str
    expires_at: float
    transcoding: str = "succeeded"


class ContentStore:
    """Message contents by message id, behind their own lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contents: dict[str, StoredContent] = {}

    def add(self, content: StoredContent) -> None:
        """Keep a message's content (it expires at ``content.expires_at``)."""
        if content.kind not in MEDIA_KINDS:
            raise ValueError(f"kind must be one of {MEDIA_KINDS}, not {content.kind!r}")
        with self._lock:
            self._contents[content.message_id] = content

    def get(self, channel_id: str, message_id: str, now: float) -> StoredContent:
        """The content, or LINE's 404 when unknown, expired or sent to another channel."""
        with self._lock:
            content = self._contents.get(message_id)
        if content is None or content.channel_id != channel_id or content.expires_at <= now:
            raise not_found()
        return content

    def expire(self, message_id: str) -> None:
        """Delete a message's content now, as LINE does after its keeping period."""
        with self._lock:
            if self._contents.pop(message_id, None) is None:
                raise KeyError(f"no content for message {message_id}")

    def set_transcoding(self, message_id: str, status: str) -> None:
        """Say how far LINE has prepared a video or audio (``processing``, ``succeeded``...)."""
        if status not in TRANSCODING_STATES:
            raise ValueError(f"status must be one of {TRANSCODING_STATES}, not {status!r}")
        with self._lock:
            content = self._contents.get(message_id)
            if content is None:
                raise KeyError(f"no content for message {message_id}")
            content.transcoding = status


def downloadable(content: StoredContent) -> bool:
    """Video and audio can be downloaded once prepared; images and files at once.

    Raises LINE's 400 for content whose preparation failed."""
    if content.transcoding == "failed":
        raise LineApiError(400, "Failed to prepare the content")
    return content.transcoding == "succeeded"


def sample_png(
    width: int = 48, height: int = 48, rgb: tuple[int, int, int] = (6, 199, 85)
) -> bytes:
    """A small, valid PNG of one colour: the picture a simulated user sends by default."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
