"""Tracked links: ``GET /r/{code}`` records the click and redirects to the link's address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse

from api.deps import DbSession
from core.errors import NotFound
from messaging.compose import links

router = APIRouter(tags=["tracked links"])


class UnknownLink(NotFound):
    """No tracked link has this code (mistyped, or from another hub)."""


@router.get(
    "/r/{code}",
    summary="Follow a tracked link",
    response_class=RedirectResponse,
    status_code=302,
    responses={302: {"description": "To the link's address"}, 404: {"description": "Unknown"}},
)
def follow(
    session: DbSession,
    request: Request,
    code: Annotated[str, Path(pattern=r"^[0-9a-f]{8,32}$")],
) -> RedirectResponse:
    """Count the click (tagging the friend on their first) and send the browser on."""
    url = links.record_click(session, code=code, user_agent=request.headers.get("user-agent"))
    if url is None:
        raise UnknownLink(f"no tracked link {code}")
    return RedirectResponse(url, status_code=302)
