"""What the composer sends besides a text or a sticker: an image staff upload, kept by the hub
and fetched by LINE from its public address, or one of the shop's saved message templates,
filled for the friend as campaigns fill theirs. Every reply goes through ``send_messages``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from config import Settings
from core.clock import utcnow
from core.tenancy import Channel
from idlink.media import sent
from idlink.media.sent import CheckedImage
from idlink.models import Friend
from inbox.models import Conversation
from inbox.replies import (
    ReplyMeta,
    ReplyOut,
    delivery_key,
    earlier_reply,
    reachable_friend,
    send_messages,
)
from messaging.compose import library
from messaging.compose.compose import Links, TemplateSend, render_for


class TemplateReplyIn(ReplyMeta):
    """One of the shop's saved message templates, for the conversation's friend."""

    template_id: int = Field(ge=1, description="A saved template (`GET /message-templates`).")


def send_template(
    session: Session,
    *,
    conversation: Conversation,
    reply: TemplateReplyIn,
    actor: str,
    settings: Settings,
    ip: str | None = None,
) -> ReplyOut:
    """Send the template with the friend's variables filled and its links tracked."""
    earlier = earlier_reply(session, conversation, reply.key)
    if earlier is not None:
        return earlier
    friend = reachable_friend(session, conversation)
    template = library.get(session, conversation.shop_id, reply.template_id)
    send = TemplateSend(
        channel=session.get_one(Channel, conversation.channel_id),
        template=template.messages,
        source=actor[:100],
        links=Links(public_url=settings.public_url),
        due_at=utcnow(),
    )
    key = delivery_key(conversation, reply.key)
    return send_messages(
        session,
        conversation=conversation,
        friend=friend,
        meta=reply,
        messages=lambda: render_for(session, send, friend_id=friend.id, key=key),
        summary=f"({template.name})",
        actor=actor,
        lifetime=timedelta(seconds=settings.reply_token_seconds),
        ip=ip,
    )


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
