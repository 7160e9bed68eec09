"""``GET /r/{code}``: a tracked link (hex code) records the click, fires the tag rules on it
and redirects to the link's address; a follow route (a code with other letters) serves its
page (``api.follow_routes``)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from api import follow_routes
from api.deps import AppSettings, DbSession
from core.errors import NotFound
from growth.tagrules import events as tag_rule_events
from messaging.compose import links

router = APIRouter(tags=["tracked links"])

TRACKED_LINK = re.compile(r"^[0-9a-f]{8,32}$")


class UnknownLink(NotFound):
    """No tracked link has this code (mistyped, or from another hub)."""


@router.get(
    "/r/{code}",
    summary="Follow a tracked link or open a follow route",
    response_class=Response,
    responses={
        200: {"description": "A follow route's page", "content": {"text/html": {}}},
        302: {"description": "To the tracked link's address"},
        404: {"description": "Unknown"},
        410: {"description": "An archived follow route: a page saying it ended"},
    },
)
def follow(
    session: DbSession,
    settings: AppSettings,
    request: Request,
    code: Annotated[str, Path(pattern=r"^[0-9a-z]{6,32}$")],
) -> Response:
    """Count the click (tagging the friend on their first) and send the browser on; or serve
    the follow route's page."""
    if not TRACKED_LINK.match(code):
        return follow_routes.route_page(session, settings, code)
    click = links.record_click(session, code=code, user_agent=request.headers.get("user-agent"))
    if click is None:
        raise UnknownLink(f"no tracked link {code}")
    tag_rule_events.on_click(session, click)
    return RedirectResponse(click.url, status_code=302)
