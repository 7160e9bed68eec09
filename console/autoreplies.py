"""自動応答 in the console: keyword rules (list, editor, overlaps flagged when saved), FAQ
entries, and the tester that says which would answer a message and why. Admins and owners;
the same services as the admin API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from autoreply import queries, service
from autoreply.schemas import WEEKDAYS, Frequency, Match, TryIn
from console import autoreply_forms as forms
from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.context import PREFIX, render
from core.errors import HubError
from core.ids import RowId
from staff.permissions import Action

router = APIRouter(prefix="/auto-replies")


async def _form(request: Request) -> dict[str, Any]:
    sent = await request.form()
    values: dict[str, Any] = {
        key: value[: forms.LIMIT] for key, value in sent.items() if isinstance(value, str)
    }
    values["weekdays"] = [d for d in sent.getlist("weekdays") if d in WEEKDAYS]
    return values


def _channels(session: Session, staff: Staff) -> list[str]:
    return [c.line_channel_id for c in queries.channels(session, staff.shop.id)]


@router.get("")
def rules_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """The shop's rules, highest priority first, with hits and overlaps."""
    staff.require(Action.MANAGE_AUTO_REPLIES)
    rules = service.rule_list(session, staff.shop.id)
    saved = request.query_params.get("saved")
    return render(
        request,
        "autoreplies/rules.html",
        {
            "rules": rules,
            "saved": next((r for r in rules if r.name == saved), None),
            "done": request.query_params.get("done"),
        },
    )


def _editor(
    request: Request,
    staff: Staff,
    session: Session,
    values: dict[str, Any],
    *,
    rule_id: int | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "autoreplies/rule.html",
        {
            "form": values,
            "rule_id": rule_id,
            "channels": _channels(session, staff),
            "matches": list(Match),
            "frequencies": list(Frequency),
            "weekdays": WEEKDAYS,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/new")
def new_rule(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_AUTO_REPLIES)
    channels = _channels(session, staff)
    return _editor(request, staff, session, forms.new_rule_form(channels[0] if channels else ""))


@router.get("/rules/{rule_id}")
def edit_rule(
    request: Request, rule_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    staff.require(Action.MANAGE_AUTO_REPLIES)
    rule = service.get_rule(session, shop_id=staff.shop.id, rule_id=rule_id)
    out = service.rule_out(session, rule, {})
    return _editor(request, staff, session, forms.rule_form(out), rule_id=rule.id)


async def _save_rule(
    request: Request, staff: Staff, session: Session, rule_id: int | None
) -> Response:
    values = await _form(request)
    rule = (
        None
        if rule_id is None
        else service.get_rule(session, shop_id=staff.shop.id, rule_id=rule_id)
    )
    try:
        spec = forms.rule_from_form(values)
        with session.begin_nested():
            saved = service.save_rule(
                session,
                shop_id=staff.shop.id,
                spec=spec,
                actor=staff.actor,
                rule=rule,
                ip=client_ip(request),
            )
    except ValueError as exc:
        return _editor(
            request, staff, session, values, rule_id=rule_id, error=str(exc), status_code=400
        )
    except HubError as exc:
        return _editor(
            request,
            staff,
            session,
            values,
            rule_id=rule_id,
            error=exc.detail,
            status_code=exc.status_code,
        )
    return RedirectResponse(f"{PREFIX}/auto-replies?saved={saved.name}", status_code=303)


@router.post("/new")
async def create_rule(request: Request, staff: FormStaff, session: DbSession) -> Response:
    """A new rule; refused with every reason, the form kept as typed."""
    staff.require(Action.MANAGE_AUTO_REPLIES)
    return await _save_rule(request, staff, session, None)


@router.post("/rules/{rule_id}")
async def update_rule(
    request: Request, rule_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    staff.require(Action.MANAGE_AUTO_REPLIES)
    return await _save_rule(request, staff, session, rule_id)


@router.post("/rules/{rule_id}/delete")
def delete_rule(request: Request, rule_id: RowId, staff: FormStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_AUTO_REPLIES)
    rule = service.get_rule(session, shop_id=staff.shop.id, rule_id=rule_id)
    service.delete_rule(session, rule=rule, actor=staff.actor, ip=client_ip(request))
    return RedirectResponse(f"{PREFIX}/auto-replies?done=deleted", status_code=303)


def _faq_page(
    request: Request,
    staff: Staff,
    session: Session,
    values: dict[str, Any],
    *,
    faq_id: int | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "autoreplies/faq.html",
        {
            "entries": service.faq_list(session, staff.shop.id),
            "form": values,
            "faq_id": faq_id,
            "channels": _channels(session, staff),
            "error": error,
            "done": request.query_params.get("done"),
        },
        status_code=status_code,
    )


@router.get("/faq")
def faq_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """The FAQ entries with their hits, and a form to add one."""
    staff.require(Action.MANAGE_AUTO_REPLIES)
    return _faq_page(request, staff, session, {"enabled": True, "threshold": 0.3})


@router.get("/faq/{faq_id}")
def edit_faq(request: Request, faq_id: RowId, staff: CurrentStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_AUTO_REPLIES)
    entry = service.get_faq(session, shop_id=staff.shop.id, faq_id=faq_id)
    values = forms.faq_form(service.faq_spec_of(session, entry))
    return _faq_page(request, staff, session, values, faq_id=entry.id)


async def _save_faq(
    request: Request, staff: Staff, session: Session, faq_id: int | None
) -> Response:
    values = await _form(request)
    entry = (
        None if faq_id is None else service.get_faq(session, shop_id=staff.shop.id, faq_id=faq_id)
    )
    try:
        spec = forms.faq_from_form(values)
        with session.begin_nested():
            service.save_faq(
                session,
                shop_id=staff.shop.id,
                spec=spec,
                actor=staff.actor,
                entry=entry,
                ip=client_ip(request),
            )
    except ValueError as exc:
        return _faq_page(
            request, staff, session, values, faq_id=faq_id, error=str(exc), status_code=400
        )
    except HubError as exc:
        return _faq_page(
            request,
            staff,
            session,
            values,
            faq_id=faq_id,
            error=exc.detail,
            status_code=exc.status_code,
        )
    return RedirectResponse(f"{PREFIX}/auto-replies/faq?done=saved", status_code=303)


@router.post("/faq")
async def create_faq(request: Request, staff: FormStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_AUTO_REPLIES)
    return await _save_faq(request, staff, session, None)


@router.post("/faq/{faq_id}")
async def update_faq(
    request: Request, faq_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    staff.require(Action.MANAGE_AUTO_REPLIES)
    return await _save_faq(request, staff, session, faq_id)


@router.post("/faq/{faq_id}/delete")
def delete_faq(request: Request, faq_id: RowId, staff: FormStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_AUTO_REPLIES)
    entry = service.get_faq(session, shop_id=staff.shop.id, faq_id=faq_id)
    service.delete_faq(session, entry=entry, actor=staff.actor, ip=client_ip(request))
    return RedirectResponse(f"{PREFIX}/auto-replies/faq?done=deleted", status_code=303)


@router.get("/try")
def tester(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """Type a message: which rule or FAQ entry answers it now, and why (sends nothing)."""
    staff.require(Action.MANAGE_AUTO_REPLIES)
    channels = _channels(session, staff)
    channel = request.query_params.get("channel") or (channels[0] if channels else "")
    text = (request.query_params.get("text") or "")[:5000]
    friend = request.query_params.get("friend", "")
    friend_id = int(friend) if friend.isdigit() and len(friend) < 12 else None
    result, error = None, None
    if text.strip() and channel:
        try:
            body = TryIn(channel=channel, text=text, friend_id=friend_id)
            result = service.try_message(session, shop_id=staff.shop.id, body=body)
        except HubError as exc:
            error = exc.detail
    friends = queries.recent_friends(session, staff.shop.id, channel) if channel else []
    if result is not None and result.friend is not None:
        chosen = (result.friend.id, result.friend.name or f"#{result.friend.id}")
        friends = [chosen, *(f for f in friends if f[0] != friend_id)]
    return render(
        request,
        "autoreplies/try.html",
        {
            "channels": channels,
            "channel": channel,
            "text": text,
            "friends": friends,
            "friend_id": friend_id,
            "result": result,
            "error": error,
        },
    )
