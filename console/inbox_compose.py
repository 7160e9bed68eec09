"""The composer's image and templates: staff upload a JPEG or PNG and it is sent to the friend
(a refused file is explained in place, and nothing is kept or sent), or send one of the shop's
saved message templates, filled for the friend."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from console.auth import DbSession, FormStaff, client_ip
from console.context import console_context
from console.inbox import after_sending, conversation_for, conversation_view
from core.ids import RowId
from idlink.media import sent
from idlink.media.sent import ImageRefused
from inbox import compose
from inbox.compose import TemplateReplyIn
from inbox.replies import ReplyConflict, ReplyMeta
from staff.permissions import Action

router = APIRouter()


def declared_length(request: Request) -> None:
    """Refuse a body larger than any accepted image before it is read (or its form parsed)."""
    settings = console_context(request).settings
    sent.check_declared_length(
        request.headers.get("content-length"), max_bytes=settings.reply_image_max_bytes
    )


@router.post(
    "/inbox/conversations/{conversation_id}/images", dependencies=[Depends(declared_length)]
)
def send_image(
    request: Request,
    conversation_id: RowId,
    staff: FormStaff,
    session: DbSession,
    meta: Annotated[ReplyMeta, Form()],
    image: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Send the uploaded image; if someone answered meanwhile, show what they sent and ask for
    the image again."""
    conversation = conversation_for(session, staff, conversation_id, Action.SEND_MESSAGES)
    settings = console_context(request).settings
    data = image.file.read(settings.reply_image_max_bytes + 1) if image is not None else b""
    try:
        done = compose.send_image(
            session,
            conversation=conversation,
            meta=meta,
            data=data,
            actor=staff.actor,
            settings=settings,
            ip=client_ip(request),
        )
    except ReplyConflict as conflict:
        return conversation_view(
            request,
            staff,
            session,
            conversation,
            status_code=409,
            conflict=conflict.sent,
            pending_image=meta,
        )
    except ImageRefused as refused:
        return conversation_view(
            request,
            staff,
            session,
            conversation,
            status_code=refused.status_code,
            image_error=refused.reason,
        )
    return after_sending(conversation, done)


@router.post("/inbox/conversations/{conversation_id}/templates")
def send_template(
    request: Request,
    conversation_id: RowId,
    staff: FormStaff,
    session: DbSession,
    body: Annotated[TemplateReplyIn, Form()],
) -> Response:
    """Send the chosen template; if someone answered meanwhile, show what they sent and ask."""
    conversation = conversation_for(session, staff, conversation_id, Action.SEND_MESSAGES)
    try:
        done = compose.send_template(
            session,
            conversation=conversation,
            reply=body,
            actor=staff.actor,
            settings=console_context(request).settings,
            ip=client_ip(request),
        )
    except ReplyConflict as conflict:
        return conversation_view(
            request,
            staff,
            session,
            conversation,
            status_code=409,
            conflict=conflict.sent,
            pending_template=body,
        )
    return after_sending(conversation, done)
