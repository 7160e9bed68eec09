"""The composer for scripts: an image uploaded, or one of the shop's saved message templates,
sent to the friend of a conversation (never twice for one key), as the console's composer does;
and the saved templates themselves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from api.admin.auth import Actor
from api.admin.inbox import NOT_FOUND, REPLY_CONFLICT
from api.admin.schemas import ErrorBody
from api.deps import AppSettings, CurrentShop, DbSession
from core.ids import RowId
from idlink.media import sent
from inbox import compose, queries
from inbox.compose import TemplateReplyIn
from inbox.replies import ReplyMeta, ReplyOut
from messaging.compose import library
from messaging.compose.library import NamedTemplateIn, TemplateOut

router = APIRouter(tags=["inbox"])

IMAGE_REFUSED: dict[int | str, dict[str, Any]] = {
    411: {"model": ErrorBody, "description": "`UploadLengthRequired`: no `Content-Length`"},
    413: {"model": ErrorBody, "description": "`ImageTooLarge`: over the size or pixel limit"},
    415: {"model": ErrorBody, "description": "`UnsupportedImage`: not a JPEG or PNG"},
}


def declared_length(request: Request, settings: AppSettings) -> None:
    """Refuse a body larger than any accepted image before it is read (the header is read
    here, not declared: the HTTP layer sets it, a client does not choose it)."""
    sent.check_declared_length(
        request.headers.get("content-length"), max_bytes=settings.reply_image_max_bytes
    )


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


TEMPLATE_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "`TemplateNotFound`, or no such conversation"}
}


@router.post(
    "/conversations/{conversation_id}/templates",
    summary="Send a saved message template in a conversation",
    status_code=201,
    responses={**TEMPLATE_NOT_FOUND, **REPLY_CONFLICT},
)
def send_template(
    conversation_id: RowId,
    body: TemplateReplyIn,
    session: DbSession,
    shop: CurrentShop,
    actor: Actor,
    settings: AppSettings,
) -> ReplyOut:
    """The template's `{{ variables }}` filled for the conversation's friend and its links
    tracked, as campaigns send it. The same `key` again sends nothing twice."""
    conversation = queries.find_conversation(session, shop.id, conversation_id)
    return compose.send_template(
        session, conversation=conversation, reply=body, actor=actor, settings=settings
    )


@router.get("/message-templates", summary="List the saved message templates")
def list_templates(session: DbSession, shop: CurrentShop) -> list[TemplateOut]:
    """By name."""
    return library.listed(session, shop.id)


@router.put("/message-templates", summary="Save a message template")
def save_template(
    body: NamedTemplateIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> TemplateOut:
    """Create the template of this name, or change it. Refused (422, `InvalidTemplate`) when a
    variable is unknown or not a field of the shop, or when LINE would refuse a message with
    every variable at its longest."""
    return library.save(session, shop_id=shop.id, body=body, actor=actor)


@router.delete(
    "/message-templates/{template_id}",
    summary="Delete a message template",
    status_code=204,
    responses={404: {"model": ErrorBody, "description": "`TemplateNotFound`"}},
)
def delete_template(
    template_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor
) -> None:
    """Replies already sent with it are kept."""
    library.delete(session, shop_id=shop.id, template_id=template_id, actor=actor)
