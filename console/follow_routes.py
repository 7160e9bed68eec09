"""流入経路: the shop's follow routes with their numbers (the archived ones apart); a route's QR
code to download, its report (totals, a daily chart, CSV), its editor and its archiving (admins
and owners). Same services as the
admin API."""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.context import PREFIX, console_context, render
from core import csvfile
from core.clock import utcnow
from core.errors import HubError
from core.ids import RowId
from core.tenancy import shop_timezone
from growth import queries, routes
from growth.models import FollowRoute
from growth.schemas import ActionKind, ActionWhen, RouteIn, RouteOut
from staff.permissions import Action

router = APIRouter()

# Empty action rows the editor offers beyond the route's own.
SPARE_ACTIONS = 3
# Friends listed with their visit counts on the route's page (the admin API pages through all).
VISITORS_SHOWN = 50


def _out(request: Request, session: Session, route: FollowRoute) -> RouteOut:
    public_url = console_context(request).settings.public_url
    return queries.route_out(session, route, public_url=public_url)


def _list(
    request: Request,
    staff: Staff,
    session: Session,
    *,
    archived: bool = False,
    error: str | None = None,
) -> Response:
    found = queries.routes_of(session, staff.shop.id, archived=archived)
    numbers = queries.summaries(session, staff.shop.id)
    return render(
        request,
        "routes/list.html",
        {
            "routes": [
                (_out(request, session, r), numbers.get(r.id, queries.RouteSummary()))
                for r in found
            ],
            "archived": archived,
            "archived_count": queries.archived_count(session, staff.shop.id),
            "channels": queries.channels_of(session, staff.shop.id),
            "can_manage": staff.can(Action.MANAGE_ROUTES),
            "error": error,
        },
        status_code=400 if error else 200,
    )


@router.get("/routes")
def routes_page(
    request: Request, staff: CurrentStaff, session: DbSession, archived: bool = False
) -> Response:
    """Every follow route in use with its visits and new friends, a form for a new one; or,
    with ``?archived=true``, the archived routes."""
    staff.require(Action.READ_FRIENDS)
    return _list(request, staff, session, archived=archived)


async def _spec(request: Request) -> RouteIn:
    """The editor's form as the admin API's body (ValidationError when it does not hold one)."""
    form = await request.form()

    def texts(name: str) -> list[str]:
        return [v.strip() for v in form.getlist(name) if isinstance(v, str)]

    rows = zip(
        texts("action_kind"),
        texts("action_target"),
        texts("action_value"),
        texts("action_when"),
        strict=False,
    )
    actions = [
        {"kind": kind, "target": target, "value": value or None, "when": when}
        for kind, target, value, when in rows
        if kind and (target or kind == ActionKind.RICH_MENU)
    ]
    return RouteIn.model_validate(
        {
            "name": str(form.get("name") or "").strip(),
            "channel": form.get("channel") or None,
            "window_hours": form.get("window_hours") or 24,
            "destination_url": str(form.get("destination_url") or "").strip() or None,
            "actions": actions,
        }
    )


def _reasons(exc: ValidationError) -> str:
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())


@router.post("/routes")
async def create_route(request: Request, staff: FormStaff, session: DbSession) -> Response:
    """A new route; its page (QR code, editor) next."""
    staff.require(Action.MANAGE_ROUTES)
    try:
        spec = await _spec(request)
        with session.begin_nested():
            route = routes.create_route(
                session, shop_id=staff.shop.id, spec=spec, actor=staff.actor, ip=client_ip(request)
            )
    except ValidationError as exc:
        return _list(request, staff, session, error=_reasons(exc))
    except HubError as exc:
        return _list(request, staff, session, error=exc.detail)
    return RedirectResponse(f"{PREFIX}/routes/{route.id}?done=created", status_code=303)


def _detail(
    request: Request,
    staff: Staff,
    session: Session,
    route: FollowRoute,
    *,
    error: str | None = None,
) -> Response:
    out = _out(request, session, route)
    found = queries.report(session, route)
    days = queries.chart_days(found.days)
    values: dict[str, Any] = {
        "route": out,
        "totals": found.totals,
        "days": days,
        "peak": max([max(d.visits, d.new_friends + d.returning_friends) for d in days] or [0]),
        "action_rows": [*out.actions, *[None] * SPARE_ACTIONS],
        "visitors": queries.visitors(session, route, after=None, limit=VISITORS_SHOWN)[0],
        "kinds": list(ActionKind),
        "whens": list(ActionWhen),
        "channels": queries.channels_of(session, staff.shop.id),
        "can_manage": staff.can(Action.MANAGE_ROUTES),
        "zone": shop_timezone(session, staff.shop.id),
        "error": error,
        "done": request.query_params.get("done"),
    }
    return render(request, "routes/detail.html", values, status_code=400 if error else 200)


@router.get("/routes/{route_id}")
def route_page(
    request: Request, route_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """The route's short URL and QR code (PNG for print, SVG), its report and its editor."""
    staff.require(Action.READ_FRIENDS)
    route = routes.get_route(session, shop_id=staff.shop.id, route_id=route_id)
    return _detail(request, staff, session, route)


@router.post("/routes/{route_id}")
async def save_route(
    request: Request, route_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    """Save the route's name, window and actions; its code and QR code stay."""
    staff.require(Action.MANAGE_ROUTES)
    route = routes.get_route(session, shop_id=staff.shop.id, route_id=route_id)
    try:
        spec = await _spec(request)
        with session.begin_nested():
            routes.update_route(
                session, route=route, spec=spec, actor=staff.actor, ip=client_ip(request)
            )
    except ValidationError as exc:
        return _detail(request, staff, session, route, error=_reasons(exc))
    except HubError as exc:
        session.refresh(route)
        return _detail(request, staff, session, route, error=exc.detail)
    return RedirectResponse(f"{PREFIX}/routes/{route.id}?done=saved", status_code=303)


@router.post("/routes/{route_id}/archive")
def archive_route(
    request: Request, route_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    """Take the route out of use; its history stays on its page."""
    staff.require(Action.MANAGE_ROUTES)
    route = routes.get_route(session, shop_id=staff.shop.id, route_id=route_id)
    routes.archive_route(
        session, route=route, actor=staff.actor, now=utcnow(), ip=client_ip(request)
    )
    return RedirectResponse(f"{PREFIX}/routes/{route.id}?done=archived", status_code=303)


@router.post("/routes/{route_id}/restore")
def restore_route(
    request: Request, route_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    """Bring an archived route back, with the same QR code."""
    staff.require(Action.MANAGE_ROUTES)
    route = routes.get_route(session, shop_id=staff.shop.id, route_id=route_id)
    routes.restore_route(session, route=route, actor=staff.actor, ip=client_ip(request))
    return RedirectResponse(f"{PREFIX}/routes/{route.id}?done=restored", status_code=303)


@router.get("/routes/{route_id}/report.csv")
def route_csv(route_id: RowId, staff: CurrentStaff, session: DbSession) -> Response:
    """The route's days as CSV: visits, new friends, returning friends."""
    staff.require(Action.READ_FRIENDS)
    route = routes.get_route(session, shop_id=staff.shop.id, route_id=route_id)
    text = csvfile.write_rows(
        queries.csv_rows(queries.report(session, route).days), queries.CSV_COLUMNS
    )
    return csvfile.download(io.BytesIO(text.encode("utf-8")), f"route-{route.code}.csv")
