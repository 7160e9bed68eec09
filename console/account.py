"""The staff member's own settings: language, two-step sign-in, open sessions, sign out
everywhere, the shop."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.context import PREFIX, SESSION_COOKIE, console_context, render
from core import audit
from core.clock import utcnow
from core.errors import NotFound
from core.ids import RowId
from staff import service as staff_service
from staff import totp
from staff.models import Locale

router = APIRouter()


@router.get("/account")
def account_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """Language, and the browsers signed in to this account."""
    return _settings_page(request, staff, session)


def _settings_page(
    request: Request, staff: Staff, session: Session, *, error: str | None = None
) -> Response:
    sessions = staff_service.open_sessions(session, user=staff.user)
    return render(
        request,
        "account/settings.html",
        {
            "sessions": sessions,
            "totp_on": totp.is_enabled(staff.user),
            "recovery_left": totp.recovery_codes_left(session, user=staff.user),
            "error": error,
        },
        status_code=400 if error else 200,
    )


@router.get("/account/totp")
def totp_page(request: Request, staff: CurrentStaff) -> Response:
    """The enrolment started: its QR code, the secret to type in, and the confirmation form."""
    if totp.is_enabled(staff.user) or staff.user.totp_secret is None:
        return RedirectResponse(f"{PREFIX}/account", status_code=303)
    return _enrolment_page(request, staff)


def _enrolment_page(request: Request, staff: Staff, *, error: str | None = None) -> Response:
    uri = totp.provisioning_uri(staff.user)
    return render(
        request,
        "account/totp.html",
        {
            "qr": segno.make(uri, error="m").svg_data_uri(scale=5, border=2),
            "secret": staff.user.totp_secret,
            "error": error,
        },
        status_code=400 if error else 200,
    )


@router.post("/account/totp/start")
def start_totp(request: Request, staff: FormStaff, session: DbSession) -> Response:
    """Start (or restart) enrolling an authenticator app."""
    totp.start_enrolment(session, user=staff.user)
    return RedirectResponse(f"{PREFIX}/account/totp", status_code=303)


@router.post("/account/totp/confirm")
def confirm_totp(
    request: Request,
    staff: FormStaff,
    session: DbSession,
    code: Annotated[str, Form(max_length=40)],
) -> Response:
    """Turn two-step sign-in on with the app's first code; the recovery codes are shown once."""
    try:
        codes = totp.confirm_enrolment(session, user=staff.user, code=code)
    except totp.WrongCode:
        return _enrolment_page(request, staff, error="wrong")
    _audit(request, session, staff, "staff.totp_enabled")
    return render(request, "account/recovery.html", {"codes": codes})


@router.post("/account/totp/disable")
def disable_totp(
    request: Request,
    staff: FormStaff,
    session: DbSession,
    code: Annotated[str, Form(max_length=40)],
) -> Response:
    """Turn two-step sign-in off, with a current code or a recovery code; wrong codes count
    against the account like wrong sign-ins, so a borrowed session cannot guess its way."""
    now = utcnow()
    subjects = staff_service.throttle_subjects(staff.user.email, client_ip(request))
    if staff_service.locked_until(session, subjects, now) is not None:
        return _settings_page(request, staff, session, error="locked")
    try:
        totp.disable(session, user=staff.user, code=code, now=now)
    except totp.WrongCode:
        policy = console_context(request).policy
        staff_service.record_failure(session, subjects, policy, now)
        return _settings_page(request, staff, session, error="wrong_code")
    _audit(request, session, staff, "staff.totp_disabled")
    return RedirectResponse(f"{PREFIX}/account", status_code=303)


def _audit(request: Request, session: Session, staff: Staff, action: str) -> None:
    audit.record(
        session,
        shop_id=staff.shop.id,
        actor=staff.actor,
        action=action,
        subject_type="staff_user",
        subject_id=staff.user.id,
        ip=client_ip(request),
    )


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
