"""The staff member's own settings: language, open sessions, sign out everywhere, the shop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from console.auth import CurrentStaff, DbSession, FormStaff, client_ip
from console.context import PREFIX, SESSION_COOKIE, render
from core import audit
from core.errors import NotFound
from core.ids import RowId
from staff import service as staff_service
from staff.models import Locale

router = APIRouter()


@router.get("/account")
def account_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """Language, and the browsers signed in to this account."""
    sessions = staff_service.open_sessions(session, user=staff.user)
    return render(request, "account/settings.html", {"sessions": sessions})


@router.post("/account/language")
def set_language(request: Request, staff: FormStaff, locale: Annotated[Locale, Form()]) -> Response:
    """Keep the staff member's language; every page follows it from now on."""
    staff.user.locale = locale
    return RedirectResponse(f"{PREFIX}/account", status_code=303)


@router.post("/account/sessions/{session_id}/revoke")
def revoke_session(
    request: Request, session_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    """End one of the account's sessions (a lost phone, a shared computer)."""
    target = next(
        (s for s in staff_service.open_sessions(session, user=staff.user) if s.id == session_id),
        None,
    )
    if target is None:
        raise NotFound("no such open session of this account")
    staff_service.revoke_session(session, staff_session=target)
    audit.record(
        session,
        shop_id=staff.shop.id,
        actor=staff.actor,
        action="staff.session_revoked",
        subject_type="staff_session",
        subject_id=target.id,
        ip=client_ip(request),
    )
    if target.id == staff.session.id:
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response
    return RedirectResponse(f"{PREFIX}/account", status_code=303)


@router.post("/account/sign-out-everywhere")
def sign_out_everywhere(request: Request, staff: FormStaff, session: DbSession) -> Response:
    """End every session of this account, this browser's included."""
    ended = staff_service.revoke_all_sessions(session, user=staff.user)
    audit.record(
        session,
        shop_id=staff.shop.id,
        actor=staff.actor,
        action="staff.signed_out_everywhere",
        subject_type="staff_user",
        subject_id=staff.user.id,
        sessions=ended,
        ip=client_ip(request),
    )
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.post("/shop")
def switch_shop(request: Request, staff: FormStaff, shop_id: Annotated[int, Form()]) -> Response:
    """Work in another of the staff member's shops."""
    staff_service.switch_shop(staff.session, shop_id)
    return RedirectResponse(f"{PREFIX}/friends", status_code=303)
