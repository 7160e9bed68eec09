"""What the composer sends besides a text or a sticker: an image staff upload, kept by the hub
and fetched by LINE from its public address; every reply goes through ``send_messages``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from config import Settings
from idlink.media import sent
from idlink.media.sent import CheckedImage
from idlink.models import Friend
from inbox.models import Conversation
from inbox.replies import ReplyMeta, ReplyOut, earlier_reply, reachable_friend, send_messages


def send_image(
    session: Session,
    *,
    conversation: Conversation,
    meta: ReplyMeta,
    data: bytes,
    actor: str,
    settings: Settings,
    ip: str | None = None,
) -> ReplyOut:
    """Send the uploaded JPEG or PNG (``ImageRefused`` otherwise) as an image message; it is
    stored only once the reply is sure to be planned."""
    earlier = earlier_reply(session, conversation, meta.key)
    if earlier is not None:
        return earlier
    friend = reachable_friend(session, conversation)
    image = sent.check(data, max_bytes=settings.reply_image_max_bytes)
    shown = sent.preview(image)

    def messages() -> list[dict[str, Any]]:
        return [image_message(session, friend, image, shown, settings)]

    return send_messages(
        session,
        conversation=conversation,
        friend=friend,
        meta=meta,
        messages=messages,
        summary="(image)",
        actor=actor,
        lifetime=timedelta(seconds=settings.reply_token_seconds),
        ip=ip,
    )


def image_message(
    session: Session,
    friend: Friend,
    image: CheckedImage,
    shown: CheckedImage,
    settings: Settings,
) -> dict[str, Any]:
    """Keep the image (and its preview, when it is not the image itself) and the LINE image
    message that points at them."""
    original = sent.keep(session, friend=friend, image=image, settings=settings)
    preview = (
        original
        if shown is image
        else sent.keep(session, friend=friend, image=shown, settings=settings)
    )
    base = settings.public_url.rstrip("/")
    return {
        "type": "image",
        "originalContentUrl": base + sent.public_path(original),
        "previewImageUrl": base + sent.public_path(preview),
    }
