"""Images staff send a friend: checked by their bytes (JPEG or PNG within LINE's limits), kept
like the media friends send, each with the smaller preview LINE shows in the chat, both under
an unguessable token LINE fetches them by (it sends no credentials)."""

from __future__ import annotations

import hashlib
import io
import secrets
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from config import Settings
from core.clock import utcnow
from core.errors import HubError, PayloadTooLarge, Unprocessable
from idlink.media import storage
from idlink.media.fetch import sniff_image
from idlink.media.models import Media, MediaState
from idlink.models import Friend

# What LINE's image message takes: JPEG or PNG, the original at most 10 MB, the preview 1 MB.
SENDABLE_TYPES = frozenset({"image/jpeg", "image/png"})
PREVIEW_MAX_BYTES = 1024 * 1024
PREVIEW_SIDE = 480
# Larger pictures are refused before they are decoded (a small file can unpack to gigabytes).
MAX_PIXELS = 40_000_000
TOKEN_BYTES = 32


class ImageRefused(HubError):
    """The upload is not an image LINE would show; ``reason`` names why for the console."""

    reason = "broken"


class EmptyImage(ImageRefused, Unprocessable):
    """No file was chosen, or it has no bytes."""

    reason = "empty"


class ImageTooLarge(ImageRefused, PayloadTooLarge):
    """The file is larger than the shop's limit (LINE's is 10 MB), or has too many pixels."""

    reason = "too_large"


class UnsupportedImage(ImageRefused):
    """The bytes are not a JPEG or PNG image, whatever the file is called."""

    status_code = 415
    reason = "type"


class BrokenImage(ImageRefused, Unprocessable):
    """The bytes start like a JPEG or PNG but do not decode as one."""

    reason = "broken"


@dataclass(frozen=True, slots=True)
class CheckedImage:
    data: bytes
    content_type: str
    width: int
    height: int


def check(data: bytes, *, max_bytes: int) -> CheckedImage:
    """The upload as an image LINE takes, or the ``ImageRefused`` saying why not."""
    if not data:
        raise EmptyImage("the image is empty")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"the image has {len(data)} bytes; the limit is {max_bytes}")
    content_type = sniff_image(data)
    if content_type not in SENDABLE_TYPES:
        raise UnsupportedImage(
            f"only JPEG and PNG images can be sent (this is {content_type or 'not an image'})"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageTooLarge(f"the image has {width} x {height} pixels; too many")
                image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BrokenImage(f"the image cannot be read: {exc}") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("the image has too many pixels") from exc
    return CheckedImage(data=data, content_type=content_type, width=width, height=height)


def preview(image: CheckedImage) -> CheckedImage:
    """The picture LINE shows in the chat: the image itself when small enough, else a JPEG of
    at most 480 pixels a side."""
    fits = max(image.width, image.height) <= PREVIEW_SIDE
    if fits and len(image.data) <= PREVIEW_MAX_BYTES:
        return image
    with Image.open(io.BytesIO(image.data)) as opened:
        small = opened.convert("RGBA") if opened.mode in ("P", "LA") else opened.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    if small.mode != "RGB":
        flat = Image.new("RGB", small.size, "white")
        flat.paste(small, mask=small.getchannel("A") if "A" in small.getbands() else None)
        small = flat
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=85)
    return CheckedImage(
        data=out.getvalue(), content_type="image/jpeg", width=small.width, height=small.height
    )


def keep(session: Session, *, friend: Friend, image: CheckedImage, settings: Settings) -> Media:
    """Store an image to send the friend, under a new public token (in the caller's
    transaction: if the send is not planned, nothing is kept)."""
    now = utcnow()
    media = Media(
        shop_id=friend.shop_id,
        channel_id=friend.channel_id,
        friend_id=friend.id,
        kind="image",
        state=MediaState.STORED,
        content_type=image.content_type,
        size=len(image.data),
        sha256=hashlib.sha256(image.data).hexdigest(),
        public_token=secrets.token_urlsafe(TOKEN_BYTES),
        occurred_at=now,
        fetched_at=now,
    )
    session.add(media)
    session.flush()
    store = storage.configured(settings)
    store.put(session, media, image.data)
    media.storage = store.name
    return media


def public_path(media: Media) -> str:
    """Where the hub serves a sent image to anyone holding its token: ``/m/{token}``."""
    if media.public_token is None:
        raise ValueError("only media staff sent have a public address")
    return f"/m/{media.public_token}"


# Room for a form's other fields and the multipart boundaries around the file.
FORM_ALLOWANCE = 64 * 1024


class UploadLengthRequired(ImageRefused):
    """An upload must say its length (``Content-Length``), so a too large one is refused
    before it is read."""

    status_code = 411
    reason = "too_large"


def check_declared_length(content_length: str | None, *, max_bytes: int) -> None:
    """Refuse an upload whose declared body is larger than an image of ``max_bytes`` with its
    form could be, before any of it is read."""
    if content_length is None or not content_length.isdigit():
        raise UploadLengthRequired("send the upload with its Content-Length")
    if int(content_length) > max_bytes + FORM_ALLOWANCE:
        raise ImageTooLarge(f"the upload has {content_length} bytes; the limit is {max_bytes}")
