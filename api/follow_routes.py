"""A follow route's public side: the page its short URL opens (a LIFF page that identifies the
LINE user, records the visit and goes on to the add-friend screen), and its QR code."""

from __future__ import annotations

import html
import json
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from api.admin.schemas import OpenApiResponses
from api.deps import AppSettings, DbSession
from api.idlink import render_page
from core.clock import utcnow
from core.errors import NotSetUp
from core.tenancy import Channel, Shop
from growth import qr, routes
from growth.schemas import RouteCode, VisitIn, VisitOut

router = APIRouter(tags=["follow routes"])


def route_url(public_url: str, code: str) -> str:
    """The short URL printed on the poster."""
    return f"{public_url}/r/{code}"


def route_page(session: DbSession, settings: AppSettings, code: str) -> HTMLResponse:
    """The page ``GET /r/{code}`` serves for a follow route (``api.redirects`` dispatches)."""
    route = routes.route_of_code(session, code)
    channel = session.get_one(Channel, route.channel_id)
    if route.archived_at is not None:
        shop = session.get_one(Shop, channel.shop_id)
        ended = render_page("follow_route_ended.html", shop_name=html.escape(shop.name))
        return HTMLResponse(ended, status_code=410)
    if not channel.liff_id:
        raise NotSetUp(
            "this link is not available yet",
            hint=f"channel {channel.line_channel_id} has no LIFF app: set liff_id with "
            f"PATCH /api/admin/v1/channels/{channel.line_channel_id}/linking",
        )
    shop = session.get_one(Shop, channel.shop_id)
    # Where the page still lets the visitor go when LINE cannot identify them (no visit then).
    fallback = route.destination_url or routes.add_friend_url(
        session, channel=channel, settings=settings
    )
    config = {
        "code": code,
        "liffId": channel.liff_id,
        "visitUrl": "/api/routes/visit",
        "fallbackUrl": fallback,
    }
    body = render_page(
        "follow_route.html",
        shop_name=html.escape(shop.name),
        liff_sdk_url=html.escape(settings.liff_sdk_url),
        config_json=json.dumps(config).replace("<", "\\u003c"),
    )
    return HTMLResponse(body)


@router.post(
    "/api/routes/visit",
    summary="Record a follow route's visit",
    responses={
        401: {"description": "ID token refused"},
        404: {"description": "No such route"},
        409: {"description": "`NotSetUp`: the channel's LINE Login is not set"},
        410: {"description": "`RouteEnded`: the route was archived"},
    },
)
def visit(body: VisitIn, session: DbSession, settings: AppSettings) -> VisitOut:
    """Called by the route page with the visitor's LIFF ID token: the visit is recorded (a
    friend's runs the route's actions now) and the add-friend screen's URL returned."""
    return routes.record_visit(
        session, code=body.code, id_token=body.id_token, settings=settings, now=utcnow()
    )


_QR: OpenApiResponses = {404: {"description": "Unknown"}}


def _qr(
    settings: AppSettings, session: DbSession, code: str, kind: str, scale: int, download: bool
) -> Response:
    route = routes.route_of_code(session, code)
    image = qr.render(route_url(settings.public_url, route.code), kind=kind, scale=scale)
    headers = {"cache-control": "public, max-age=3600"}
    if download:
        headers["content-disposition"] = f'attachment; filename="route-{route.code}.{kind}"'
    return Response(image, media_type=qr.MEDIA_TYPES[kind], headers=headers)


Scale = Annotated[int, Query(ge=1, le=qr.MAX_SCALE, description="Pixels per module.")]


@router.get(
    "/r/{code}/qr.svg",
    summary="A follow route's QR code (SVG)",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **_QR},
)
def qr_svg(
    code: RouteCode,
    session: DbSession,
    settings: AppSettings,
    scale: Scale = 10,
    download: bool = False,
) -> Response:
    """The QR code of the route's short URL as SVG: sharp at any print size."""
    return _qr(settings, session, code, "svg", scale, download)


@router.get(
    "/r/{code}/qr.png",
    summary="A follow route's QR code (PNG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **_QR},
)
def qr_png(
    code: RouteCode,
    session: DbSession,
    settings: AppSettings,
    scale: Scale = 10,
    download: bool = False,
) -> Response:
    """The QR code as PNG at ``scale`` pixels per module (``?download=true`` saves a file)."""
    return _qr(settings, session, code, "png", scale, download)
