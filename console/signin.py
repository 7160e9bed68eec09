"""Signing in (the password, then the authenticator's code when two-step sign-in is on) and out,
and setting a password through a one-time link."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from console.auth import DbSession, FormStaff, check_csrf, client_ip, csrf_for
from console.context import (
    PRE_SESSION_COOKIE,
    PREFIX,
    SECOND_STEP_COOKIE,
    SESSION_COOKIE,
    console_context,
    render,
)
from core import audit
from core.crypto import new_token
from staff import service as staff_service
from staff import totp
from staff.service import SignedIn, SignInRefused

router = APIRouter()

HOME = f"{PREFIX}/friends"


def safe_next(target: str | None) -> str:
    """Only a console path is followed after sign-in: never another site."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//"):
        return target
    return HOME


def _pre_session(request: Request) -> tuple[str, bool]:
    """The pre-session anchor, and whether it is new (and must be set on the response)."""
    anchor = request.cookies.get(PRE_SESSION_COOKIE)
    return (anchor, False) if anchor else (new_token(32), True)


def anonymous_page(
    request: Request, template: str, values: dict[str, object], *, status_code: int = 200
) -> Response:
    anchor, is_new = _pre_session(request)
    request.state.csrf_token = csrf_for(anchor)
    ctx = console_context(request)
    sso_name = ctx.settings.staff_oidc_name if ctx.oidc is not None else None
    response = render(request, template, {"sso_name": sso_name, **values}, status_code=status_code)
    if is_new:
        set_cookie(request, response, PRE_SESSION_COOKIE, anchor)
    return response


@router.get("/login")
def login_page(request: Request, next: str | None = None, done: bool = False) -> Response:
    """The sign-in form."""
    return anonymous_page(
        request, "signin/login.html", {"next": safe_next(next), "done": done, "error": None}
    )


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
) -> Response:
    """Check the password and start a new session; failures are counted and may lock."""
    check_csrf(csrf_token, request.cookies.get(PRE_SESSION_COOKIE))
    ctx = console_context(request)
    ip = client_ip(request)
    result = staff_service.sign_in(
        session,
        email=email,
        password=password,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
        policy=ctx.policy,
    )
    if not isinstance(result, SignedIn):
        return _refused(request, "signin/login.html", result, next=next, email=email)
    if result.session.second_factor_pending:
        response = RedirectResponse(
            f"{PREFIX}/login/code?next={quote(safe_next(next), safe='')}", status_code=303
        )
        set_cookie(request, response, SECOND_STEP_COOKIE, result.token)
        return response
    return signed_in(request, session, result, next=next, method="password")


@router.get("/login/code")
def code_page(request: Request, next: str | None = None) -> Response:
    """The second sign-in step: the authenticator's code or a recovery code."""
    if not request.cookies.get(SECOND_STEP_COOKIE):
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    return anonymous_page(request, "signin/code.html", {"next": safe_next(next), "error": None})


@router.post("/login/code")
def enter_code(
    request: Request,
    session: DbSession,
    code: Annotated[str, Form(max_length=40)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
) -> Response:
    """Check the code; failures are counted with the password's and may lock."""
    check_csrf(csrf_token, request.cookies.get(PRE_SESSION_COOKIE))
    token = request.cookies.get(SECOND_STEP_COOKIE)
    try:
        if not token:
            raise totp.SecondStepExpired("no sign-in is waiting for a code")
        result = totp.complete_sign_in(
            session,
            token=token,
            code=code,
            ip=client_ip(request),
            policy=console_context(request).policy,
        )
    except totp.SecondStepExpired:
        response = anonymous_page(
            request,
            "signin/login.html",
            {"next": safe_next(next), "done": False, "error": "expired"},
            status_code=410,
        )
        response.delete_cookie(SECOND_STEP_COOKIE, path=PREFIX)
        return response
    if not isinstance(result, SignedIn):
        return _refused(request, "signin/code.html", result, next=next)
    return signed_in(request, session, result, next=next, method="totp")


def _refused(
    request: Request,
    template: str,
    result: SignInRefused,
    *,
    next: str,
    email: str | None = None,
) -> Response:
    locked = result.locked_until is not None
    return anonymous_page(
        request,
        template,
        {
            "next": safe_next(next),
            "done": False,
            "error": "locked" if locked else "wrong",
            "email": email,
        },
        status_code=429 if locked else 401,
    )


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=console_context(request).secure_cookies,
    )


def signed_in(
    request: Request, session: Session, result: SignedIn, *, next: str, method: str
) -> Response:
    """Finish a sign-in: the browser's earlier session ends, the new one is audited and its
    cookie set, and the browser goes where it was headed."""
    # A session cookie the browser already had (planted or old) never survives a sign-in.
    earlier = request.cookies.get(SESSION_COOKIE)
    if earlier:
        old = staff_service.resume_session(
            session, token=earlier, idle=console_context(request).policy.idle
        )
        if old is not None:
            staff_service.revoke_session(session, staff_session=old)
    audit.record(
        session,
        shop_id=result.session.shop_id,
        actor=f"staff:{result.session.user.email}",
        action="staff.signed_in",
        subject_type="staff_session",
        subject_id=result.session.id,
        method=method,
        ip=client_ip(request),
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, result.token)
    response.delete_cookie(PRE_SESSION_COOKIE, path=PREFIX)
    response.delete_cookie(SECOND_STEP_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
def logout(request: Request, staff: FormStaff, session: DbSession) -> Response:
    """End this browser's session."""
    staff_service.revoke_session(session, staff_session=staff.session)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.get("/password/{token}")
def password_page(request: Request, token: str, session: DbSession) -> Response:
    """The form to set a password, for a fresh one-time link."""
    user = staff_service.password_link_user(session, token)
    return anonymous_page(request, "signin/password.html", {"email": user.email, "error": None})


@router.post("/password/{token}")
def set_password(
    request: Request,
    token: str,
    session: DbSession,
    password: Annotated[str, Form(max_length=1000)],
    confirm: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Set the password; the link is used up and the account's sessions end."""
    check_csrf(csrf_token, request.cookies.get(PRE_SESSION_COOKIE))
    user = staff_service.password_link_user(session, token)
    error = None
    if password != confirm:
        error = "mismatch"
    elif len(password) < staff_service.MIN_PASSWORD_LENGTH:
        error = "short"
    if error:
        return anonymous_page(
            request,
            "signin/password.html",
            {"email": user.email, "error": error, "min_length": staff_service.MIN_PASSWORD_LENGTH},
            status_code=400,
        )
    staff_service.set_password(session, token=token, password=password)
    for role in user.roles:
        audit.record(
            session,
            shop_id=role.shop_id,
            actor=f"staff:{user.email}",
            action="staff.password_set",
            subject_type="staff_user",
            subject_id=user.id,
            ip=client_ip(request),
        )
    return RedirectResponse(f"{PREFIX}/login?done=1", status_code=303)
