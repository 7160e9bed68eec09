"""トラッキングリンク: the shop's standalone tracked links with friends reached, friends who
clicked and clicks; a link's editor and who clicked it (admins and owners). Same services as
the admin API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.autoreply_forms import reasons
from console.context import PREFIX, console_context, render
from console.tag_rules import form_fields
from core.errors import HubError
from core.ids import RowId
from messaging.compose import link_queries, links
from messaging.compose.link_schemas import StandaloneLinkSpec
from messaging.compose.models import StandaloneLink
from staff.permissions import Action

router = APIRouter()

# Friends listed with their clicks on the link's page (the admin API pages through all).
CLICKERS_SHOWN = 50


def _spec(form: dict[str, str]) -> StandaloneLinkSpec:
    return StandaloneLinkSpec.model_validate(
        {"name": form.get("name", ""), "url": form.get("url", ""), "tag": form.get("tag") or None}
    )


def _list(
    request: Request,
    staff: Staff,
    session: Session,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    values = {
        "links": link_queries.link_list(session, staff.shop.id),
        "error": error,
        "form": form or {},
    }
    return render(request, "links/list.html", values, status_code=400 if error else 200)


@router.get("/tracked-links")
def links_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """Every standalone tracked link with its numbers; a form for a new one."""
    staff.require(Action.MANAGE_TAGS)
    return _list(request, staff, session)


@router.post("/tracked-links")
async def create_link(request: Request, staff: FormStaff, session: DbSession) -> Response:
    """A new link; its page (placeholder, clicks) next."""
    staff.require(Action.MANAGE_TAGS)
    form = await form_fields(request)
    try:
        with session.begin_nested():
            link = links.save_link(
                session,
                shop_id=staff.shop.id,
                spec=_spec(form),
                actor=staff.actor,
                ip=client_ip(request),
            )
    except ValidationError as exc:
        return _list(request, staff, session, error=reasons(exc), form=form)
    except HubError as exc:
        return _list(request, staff, session, error=exc.detail, form=form)
    return RedirectResponse(f"{PREFIX}/tracked-links/{link.id}?done=created", status_code=303)


def _detail(
    request: Request,
    staff: Staff,
    session: Session,
    link: StandaloneLink,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    out = link_queries.one_link(session, link)
    public_url = console_context(request).settings.public_url
    clickers, _ = link_queries.friend_clicks(
        session, link, public_url=public_url, limit=CLICKERS_SHOWN, cursor=None
    )
    values = {
        "link": out,
        "clickers": clickers,
        "form": form or {"name": out.name, "url": out.url, "tag": out.tag or ""},
        "error": error,
        "done": request.query_params.get("done"),
    }
    return render(request, "links/detail.html", values, status_code=400 if error else 200)


@router.get("/tracked-links/{link_id}")
def link_page(
    request: Request, link_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """The link's placeholder for templates, its numbers, who clicked and its editor."""
    staff.require(Action.MANAGE_TAGS)
    link = links.get_link(session, shop_id=staff.shop.id, link_id=link_id)
    return _detail(request, staff, session, link)


@router.post("/tracked-links/{link_id}")
async def save_link(
    request: Request, link_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    """Save the link's name, address and tag; codes already sent lead to the new address."""
    staff.require(Action.MANAGE_TAGS)
    link = links.get_link(session, shop_id=staff.shop.id, link_id=link_id)
    form = await form_fields(request)
    try:
        with session.begin_nested():
            links.save_link(
                session,
                shop_id=staff.shop.id,
                spec=_spec(form),
                actor=staff.actor,
                link=link,
                ip=client_ip(request),
            )
    except ValidationError as exc:
        return _detail(request, staff, session, link, error=reasons(exc), form=form)
    except HubError as exc:
        session.refresh(link)
        return _detail(request, staff, session, link, error=exc.detail, form=form)
    return RedirectResponse(f"{PREFIX}/tracked-links/{link.id}?done=saved", status_code=303)
