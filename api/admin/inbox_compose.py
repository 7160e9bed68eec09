"""The composer for scripts: an image uploaded and sent to the friend of a conversation (never
twice for one key), as the console's composer does."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, UploadFile

from api.admin.auth import Actor
from api.admin.inbox import NOT_FOUND, REPLY_CONFLICT
from api.admin.schemas import ErrorBody
from api.deps import AppSettings, CurrentShop, DbSession
from core.ids import RowId
from idlink.media import sent
from inbox import compose, queries
from inbox.replies import ReplyMeta, ReplyOut

router = APIRouter(tags=["inbox"])

IMAGE_REFUSED: dict[int | str, dict[str, Any]] = {
    411: {"model": ErrorBody, "description": "`UploadLengthRequired`: no `Content-Length`"},
    413: {"model": ErrorBody, "description": "`ImageTooLarge`: over the size or pixel limit"},
    415: {"model": ErrorBody, "description": "`UnsupportedImage`: not a JPEG or PNG"},
}


def declared_length(
    settings: AppSettings, content_length: Annotated[str | None, Header()] = None
) -> None:
    """Refuse a body larger than any accepted image before it is read."""
    sent.check_declared_length(content_length, max_bytes=settings.reply_image_max_bytes)


@router.post(
    "/conversations/{conversation_id}/images",
    summary="Send an image in a conversation",
    status_code=201,
    dependencies=[Depends(declared_length)],
    responses={
        **NOT_FOUND,
        **REPLY_CONFLICT,
        **IMAGE_REFUSED,
    },
)
def send_image(
    conversation_id: RowId,
    image: Annotated[UploadFile, File(description="A JPEG or PNG, at most 10 MB.")],
    meta: Annotated[ReplyMeta, Form()],
    session: DbSession,
    shop: CurrentShop,
    actor: Actor,
    settings: AppSettings,
) -> ReplyOut:
    """The image is checked by its bytes (JPEG or PNG, within `TSUNAGU_REPLY_IMAGE_MAX_BYTES`;
    `EmptyImage` and `BrokenImage` answer 422), kept with a preview, and sent as an image
    message LINE fetches from the hub's `/m/{token}` address. The same `key` again sends
    nothing twice."""
    conversation = queries.find_conversation(session, shop.id, conversation_id)
    return compose.send_image(
        session,
        conversation=conversation,
        meta=meta,
        data=image.file.read(settings.reply_image_max_bytes + 1),
        actor=actor,
        settings=settings,
    )
