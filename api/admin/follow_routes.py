"""Follow routes: declare them (name, LINE account, window, actions), read their short URL and
QR code, and their report (JSON, or the days as CSV); archive and restore them."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody, OpenApiResponses
from api.deps import AppSettings, CurrentShop, DbSession
from core import csvfile
from core.clock import utcnow
from core.ids import RowId
from growth import queries, routes
from growth.schemas import RouteIn, RouteList, RouteOut, RouteReport, RouteVisitors

router = APIRouter(tags=["follow routes"])

NOT_FOUND: OpenApiResponses = {404: {"model": ErrorBody, "description": "No such route"}}
EXISTS: OpenApiResponses = {
    409: {"model": ErrorBody, "description": "The shop has a route by that name"}
}
NO_CHANNEL: OpenApiResponses = {
    404: {"model": ErrorBody, "description": "No such route, or no such channel in this shop"}
}


@router.get("/routes", summary="List follow routes")
def list_routes(
    session: DbSession,
    shop: CurrentShop,
    settings: AppSettings,
    archived: Annotated[bool, Query(description="true: the archived routes instead")] = False,
) -> RouteList:
    """The shop's follow routes in use by name, each with its short URL and QR codes."""
    return RouteList(
        items=[
            queries.route_out(session, r, public_url=settings.public_url)
            for r in queries.routes_of(session, shop.id, archived=archived)
        ]
    )


@router.post(
    "/routes", summary="Create a follow route", status_code=201, responses=EXISTS | NO_CHANNEL
)
def create_route(
    body: RouteIn, session: DbSession, shop: CurrentShop, settings: AppSettings, actor: Actor
) -> RouteOut:
    """A new route with a fresh short code; audited with the token's name."""
    route = routes.create_route(session, shop_id=shop.id, spec=body, actor=actor)
    return queries.route_out(session, route, public_url=settings.public_url)


@router.get("/routes/{route_id}", summary="Get a follow route", responses=NOT_FOUND)
def get_route(
    route_id: RowId, session: DbSession, shop: CurrentShop, settings: AppSettings
) -> RouteOut:
    route = routes.get_route(session, shop_id=shop.id, route_id=route_id)
    return queries.route_out(session, route, public_url=settings.public_url)


@router.put("/routes/{route_id}", summary="Change a follow route", responses=NO_CHANNEL | EXISTS)
def update_route(
    route_id: RowId,
    body: RouteIn,
    session: DbSession,
    shop: CurrentShop,
    settings: AppSettings,
    actor: Actor,
) -> RouteOut:
    """Replace the route's name, window and actions; its code and QR code stay."""
    route = routes.get_route(session, shop_id=shop.id, route_id=route_id)
    routes.update_route(session, route=route, spec=body, actor=actor)
    return queries.route_out(session, route, public_url=settings.public_url)


@router.post("/routes/{route_id}/archive", summary="Archive a follow route", responses=NOT_FOUND)
def archive_route(
    route_id: RowId, session: DbSession, shop: CurrentShop, settings: AppSettings, actor: Actor
) -> RouteOut:
    """Out of the lists; its URL answers a page saying it ended (410) and records no visit.
    Its visits, friends and report are kept."""
    route = routes.get_route(session, shop_id=shop.id, route_id=route_id)
    routes.archive_route(session, route=route, actor=actor, now=utcnow())
    return queries.route_out(session, route, public_url=settings.public_url)


@router.post("/routes/{route_id}/restore", summary="Restore an archived route", responses=NOT_FOUND)
def restore_route(
    route_id: RowId, session: DbSession, shop: CurrentShop, settings: AppSettings, actor: Actor
) -> RouteOut:
    """Back in use with the same code: printed QR codes work again."""
    route = routes.get_route(session, shop_id=shop.id, route_id=route_id)
    routes.restore_route(session, route=route, actor=actor)
    return queries.route_out(session, route, public_url=settings.public_url)


@router.get("/routes/{route_id}/report", summary="A follow route's report", responses=NOT_FOUND)
def route_report(
    route_id: RowId, session: DbSession, shop: CurrentShop, settings: AppSettings
) -> RouteReport:
    """Visits, new and returning friends, blocks within 7 and 30 days, links, purchases and
    revenue after joining; and visits and friends by day (the channel's timezone)."""
    route = routes.get_route(session, shop_id=shop.id, route_id=route_id)
    found = queries.report(session, route)
    return RouteReport(
        route=queries.route_out(session, route, public_url=settings.public_url),
        totals=found.totals,
        days=found.days,
    )


@router.get(
    "/routes/{route_id}/friends", summary="A route's visits per friend", responses=NOT_FOUND
)
def route_friends(
    route_id: RowId,
    session: DbSession,
    shop: CurrentShop,
    after: Annotated[int | None, Query(ge=0, description="`next_after` of the last page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RouteVisitors:
    """How many times each friend opened the route's URL, and when last (by friend id)."""
    route = routes.get_route(session, shop_id=shop.id, route_id=route_id)
    items, next_after = queries.visitors(session, route, after=after, limit=limit)
    return RouteVisitors(items=items, next_after=next_after)


@router.get(
    "/routes/{route_id}/report.csv",
    summary="A follow route's days as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **NOT_FOUND},
)
def route_report_csv(route_id: RowId, session: DbSession, shop: CurrentShop) -> Response:
    """One row per day with visits, new friends and returning friends."""
    route = routes.get_route(session, shop_id=shop.id, route_id=route_id)
    text = csvfile.write_rows(
        queries.csv_rows(queries.report(session, route).days), queries.CSV_COLUMNS
    )
    return csvfile.download(io.BytesIO(text.encode("utf-8")), f"route-{route.code}.csv")
