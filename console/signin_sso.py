"""Single sign-on to the console through the shop's OpenID Connect provider.

``/login/sso`` sends the browser to the provider with a fresh state, nonce and PKCE challenge,
sealed (encrypted and authenticated) in a short-lived cookie; ``/login/sso/callback`` checks
the state against that cookie, has the code exchanged and the ID token verified, and signs the
verified email's staff account in. Every refusal is explained on the sign-in page.
"""

from __future__ import annotations

import hmac
import json
import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from console.auth import DbSession, client_ip
from console.context import PREFIX, SSO_COOKIE, console_context
from console.signin import anonymous_page, safe_next, set_cookie, signed_in
from core.crypto import box
from core.errors import ConfigurationError, NotFound
from staff import oidc
from staff import service as staff_service

router = APIRouter()
log = logging.getLogger(__name__)

# How long the provider may take to send the browser back.
FLOW_SECONDS = 600


@router.get("/login/sso")
def start_sso(request: Request, next: str | None = None) -> Response:
    """Off to the provider's sign-in, remembering where the staff member was headed."""
    provider = _provider(request)
    try:
        flow = provider.begin()
    except oidc.SsoRefused as refused:
        return _refused_page(request, refused, next)
    sealed = box().encrypt(
        json.dumps(
            {
                "state": flow.state,
                "nonce": flow.nonce,
                "verifier": flow.code_verifier,
                "next": safe_next(next),
                "at": time.time(),
            }
        )
    )
    response = RedirectResponse(flow.url, status_code=303)
    set_cookie(request, response, SSO_COOKIE, sealed)
    return response


@router.get("/login/sso/callback")
def finish_sso(
    request: Request,
    session: DbSession,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    """The provider's answer: verified, mapped to a staff account, signed in."""
    provider = _provider(request)
    flow = _unseal(request.cookies.get(SSO_COOKIE))
    next_page = flow.get("next") if flow else None
    try:
        if error:
            raise oidc.SsoRefused("cancelled", f"the provider answered {error!r}")
        if flow is None or not state or not hmac.compare_digest(state, str(flow["state"])):
            raise oidc.SsoRefused("state", "the sign-on did not start in this browser")
        if not code:
            raise oidc.SsoRefused("provider", "the provider sent no code")
        claims = provider.finish(
            code=code, code_verifier=str(flow["verifier"]), nonce=str(flow["nonce"])
        )
        user = oidc.staff_for(session, claims)
    except oidc.SsoRefused as refused:
        log.warning("console single sign-on refused (%s): %s", refused.reason, refused.detail)
        response = _refused_page(request, refused, next_page)
        response.delete_cookie(SSO_COOKIE, path=PREFIX)
        return response
    result = staff_service.open_session(
        session, user=user, ip=client_ip(request), user_agent=request.headers.get("user-agent")
    )
    response = signed_in(request, session, result, next=str(next_page or ""), method="sso")
    response.delete_cookie(SSO_COOKIE, path=PREFIX)
    return response


def _provider(request: Request) -> oidc.OidcProvider:
    provider = console_context(request).oidc
    if provider is None:
        raise NotFound("single sign-on is not set up: see TSUNAGU_STAFF_OIDC_ISSUER")
    return provider


def _unseal(sealed: str | None) -> dict[str, object] | None:
    """The flow the cookie holds, while fresh; None for no cookie, a forged one or a stale one."""
    if not sealed:
        return None
    try:
        flow = json.loads(box().decrypt(sealed))
    except (ConfigurationError, ValueError):
        return None
    if not isinstance(flow, dict) or time.time() - float(flow.get("at", 0)) > FLOW_SECONDS:
        return None
    return flow


def _refused_page(request: Request, refused: oidc.SsoRefused, next: object) -> Response:
    return anonymous_page(
        request,
        "signin/login.html",
        {
            "next": safe_next(next if isinstance(next, str) else None),
            "done": False,
            "error": f"sso_{refused.reason}",
        },
        status_code=refused.status_code,
    )
