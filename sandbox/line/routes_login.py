"""LINE Login and access.line.me stand-ins: JWKS, token verification, account link, LIFF SDK."""

from __future__ import annotations

import html
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from sandbox.line import pages
from sandbox.line.deps import bearer_token, get_simulator, get_state
from sandbox.line.errors import LineApiError, OAuthError
from sandbox.line.models import SandboxChannel
from sandbox.line.simulate import Simulator
from sandbox.line.state import SandboxState

router = APIRouter()

State = Annotated[SandboxState, Depends(get_state)]
Sim = Annotated[Simulator, Depends(get_simulator)]


@router.get("/oauth2/v2.1/certs")
def certs(state: State) -> dict[str, Any]:
    """Publish the ES256 public keys ID tokens are signed with."""
    return state.jwks()


@router.post("/oauth2/v2.1/verify")
def verify_id_token(
    state: State,
    id_token: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    nonce: Annotated[str | None, Form()] = None,
    user_id: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    """Verify an ID token and return its claims, or 400 ``{error, error_description}``."""
    if not id_token:
        raise OAuthError("id_token is required")
    if not client_id:
        raise OAuthError("client_id is required")
    return state.verify_id_token(id_token, client_id, nonce=nonce, user_id=user_id)


@router.get("/oauth2/v2.1/verify")
def verify_access_token(state: State, access_token: str | None = None) -> dict[str, Any]:
    """Describe a LINE Login access token: scope, channel and remaining lifetime."""
    if not access_token:
        raise OAuthError("access_token is required")
    token = state.verify_access_token(access_token)
    return {
        "scope": token.scope,
        "client_id": token.login_channel_id,
        "expires_in": int(token.expires_at - state.clock()),
    }


@router.get("/v2/profile")
def login_profile(request: Request, state: State) -> dict[str, Any]:
    """Return the profile of a LINE Login access token's user (what ``liff.getProfile`` reads)."""
    try:
        token = state.verify_access_token(bearer_token(request) or "")
    except OAuthError:
        raise LineApiError(401, "invalid token") from None
    return state.user(token.user_id).profile()


@router.get("/dialog/bot/accountLink", response_class=HTMLResponse)
def account_link_dialog(
    sim: Sim,
    link_token: Annotated[str | None, Query(alias="linkToken")] = None,
    nonce: str | None = None,
    sandbox_result: str | None = None,
) -> HTMLResponse:
    """Play access.line.me: consume the link token and send the ``accountLink`` webhook.

    ``sandbox_result=failed`` forces a failed link, to test the hub's failure path.
    """
    if not link_token or not nonce:
        return _page("Account link failed", "linkToken and nonce are required.", status_code=400)
    try:
        delivery = sim.account_link(link_token, nonce, force_failure=sandbox_result == "failed")
    except KeyError:
        return _page("Account link failed", "This link token is not valid.", status_code=400)
    result = delivery.events[0]["link"]["result"]
    if result == "ok":
        return _page("Account linked", "Your LINE account is now linked. You can close this page.")
    return _page("Account link failed", "The link token was already used or has expired.")


@router.get("/liff/sdk.js")
def liff_sdk() -> Response:
    """Serve the LIFF SDK stand-in that acts for the user named by ``?sandbox_user=``."""
    script = resources.files("sandbox.line").joinpath("liff_sdk.js").read_text()
    return Response(script, media_type="application/javascript")


@router.get("/R/ti/p/{basic_id}", response_class=HTMLResponse)
def add_friend_screen(state: State, basic_id: str, sandbox_user: str | None = None) -> HTMLResponse:
    """Play LINE's add-friend screen: the simulated user (chosen here) adds the account."""
    channel = _channel_of_basic_id(state, basic_id)
    if channel is None:
        return _page("Account not found", f"No LINE account {basic_id}.", status_code=404)
    return HTMLResponse(pages.add_friend_html(state, channel, sandbox_user))


@router.post("/R/ti/p/{basic_id}", response_class=HTMLResponse)
def add_friend(
    state: State, sim: Sim, basic_id: str, user_id: Annotated[str, Form()]
) -> HTMLResponse:
    """The user taps "Add": the follow webhook goes to the account's webhook URL."""
    channel = _channel_of_basic_id(state, basic_id)
    if channel is None:
        return _page("Account not found", f"No LINE account {basic_id}.", status_code=404)
    try:
        delivery = sim.follow(user_id, channel_id=channel.channel_id)
    except KeyError:
        return _page("Add friend failed", "No such user.", status_code=400)
    text = f"You added {channel.display_name} as a friend (webhook {delivery.status_code})."
    return _page("Friend added", text)


def _channel_of_basic_id(state: SandboxState, basic_id: str) -> SandboxChannel | None:
    with state.lock:
        return next((c for c in state.channels.values() if c.basic_id == basic_id), None)


@router.get("/sandbox/liff/login", response_class=HTMLResponse)
def liff_login(state: State, redirect_uri: str) -> HTMLResponse:
    """Let the browser pick a simulated user, then go back to the LIFF page as that user."""
    return HTMLResponse(pages.choose_user_html(state, redirect_uri))


def _page(title: str, text: str, *, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        pages.document(title, f"<p>{html.escape(text)}</p>"), status_code=status_code
    )
