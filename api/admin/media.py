"""Media friends sent (images, videos, audio, files): what became of each, and its content."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from api.admin.schemas import ErrorBody
from api.deps import CurrentShop, DbSession
from core.ids import RowId
from idlink.media import queries as media_queries
from idlink.media import serving
from idlink.media.queries import MediaOut

router = APIRouter(tags=["media"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "`MediaNotFound`: the message has no media here"}
}
CONTENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/octet-stream": {}},
        "description": "The bytes, with the type LINE gave (images: their real type)",
    },
    206: {"description": "The one byte range asked for with `Range: bytes=…`"},
    304: {"description": "Not modified: the `If-None-Match` ETag is this content's"},
    404: {
        "model": ErrorBody,
        "description": "`MediaNotFound`, or `MediaContentMissing`: not fetched yet, refused, "
        "too large, failed or purged (the medium's `state` says which)",
    },
    416: {"description": "The range asked for starts past the end of the content"},
}


@router.get("/media/{message_id}", summary="Get a message's media", responses=NOT_FOUND)
def get_media(message_id: RowId, session: DbSession, shop: CurrentShop) -> MediaOut:
    """What the hub knows of a conversation message's image, video, audio or file: its state
    (pending, stored, external, too_large, refused, failed, purged), type, size and name."""
    return media_queries.out(media_queries.of_message(session, shop.id, message_id))


@router.get(
    "/media/{message_id}/content",
    summary="Download a message's media",
    response_class=Response,
    responses=CONTENT_RESPONSES,
)
def get_media_content(
    message_id: RowId,
    session: DbSession,
    shop: CurrentShop,
    if_none_match: Annotated[str | None, Header()] = None,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """The content as kept by the hub, with the headers the console serves it with."""
    media = media_queries.of_message(session, shop.id, message_id)
    served = serving.serve(
        media,
        lambda: media_queries.content_of(session, media),
        if_none_match=if_none_match,
        byte_range=range_,
    )
    return Response(served.body, status_code=served.status, headers=served.headers)
