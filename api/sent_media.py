"""``GET /m/{token}``: an image staff sent a friend, for LINE to fetch and show. LINE sends no
credentials, so the token (256 random bits) is the only key; nothing lists the tokens, and an
unknown, purged or malformed one is a plain 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path
from fastapi.responses import Response

from api.deps import DbSession
from idlink.media import queries as media_queries
from idlink.media import serving

router = APIRouter(tags=["sent media"])

# What LINE's fetcher (or anyone given the address) needs, and nothing that would let the
# address travel further or be indexed.
PUBLIC_HEADERS = {
    "cross-origin-resource-policy": "cross-origin",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex, nofollow",
}


@router.get(
    "/m/{token}",
    summary="An image sent to a friend, for LINE to fetch",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "The image"},
        206: {"description": "The one byte range asked for with `Range: bytes=…`"},
        304: {"description": "Not modified: the `If-None-Match` ETag is this image's"},
        404: {"description": "No such image (or no longer kept)"},
        416: {"description": "The range asked for starts past the end of the image"},
    },
)
def sent_image(
    session: DbSession,
    token: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{43}$")],
    if_none_match: Annotated[str | None, Header()] = None,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """The bytes, with their type (JPEG or PNG), as long as the hub keeps them."""
    media = media_queries.sent(session, token)
    served = serving.serve(
        media,
        lambda: media_queries.content_of(session, media),
        if_none_match=if_none_match,
        byte_range=range_,
    )
    return Response(served.body, status_code=served.status, headers=served.headers | PUBLIC_HEADERS)
