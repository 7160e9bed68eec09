"""The images, videos, audio and files friends sent, served to signed-in staff only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from console.auth import CurrentStaff, DbSession
from core.ids import RowId
from idlink.media import queries as media_queries
from idlink.media import serving
from staff.permissions import Action

router = APIRouter()


@router.get("/media/{message_id}")
def media_content(
    message_id: RowId,
    staff: CurrentStaff,
    session: DbSession,
    if_none_match: Annotated[str | None, Header()] = None,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """The content of a conversation message's image, video, audio or file."""
    staff.require(Action.READ_FRIENDS)
    media = media_queries.of_message(
        session, staff.shop.id, message_id, channel_scope=staff.channel_scope
    )
    served = serving.serve(
        media,
        lambda: media_queries.content_of(session, media),
        if_none_match=if_none_match,
        byte_range=range_,
    )
    return Response(served.body, status_code=served.status, headers=served.headers)
