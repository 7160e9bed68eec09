"""The sandbox OpenID Connect provider as a FastAPI app: discovery, JWKS, authorize (a page to
choose who signs in) and the token endpoint, with the checks a real provider makes."""

from __future__ import annotations

import base64
import hmac
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from sandbox.oidc.state import OidcClient, OidcState, s256


def create_app(state: OidcState) -> FastAPI:
    app = FastAPI(title="tsunagu sandbox OpenID Connect provider", docs_url="/sandbox/docs")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {
            "issuer": state.issuer,
            "authorization_endpoint": f"{state.issuer}/authorize",
            "token_endpoint": f"{state.issuer}/token",
            "jwks_uri": f"{state.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [state.key.as_dict(private=False)]}

    @app.get("/authorize")
    def authorize_page(request: Request) -> Response:
        query = request.query_params
        client, problem = _client_and_redirect(
            state, query.get("client_id"), query.get("redirect_uri")
        )
        if client is None:
            return HTMLResponse(f"<p>{escape(problem)}</p>", status_code=400)
        redirect_uri = query["redirect_uri"]
        if (
            query.get("response_type") != "code"
            or "openid" not in query.get("scope", "").split()
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
        ):
            return _back(redirect_uri, query.get("state"), error="invalid_request")
        carried = {
            name: query.get(name, "")
            for name in ("client_id", "redirect_uri", "state", "nonce", "code_challenge")
        }
        return HTMLResponse(_chooser(state, carried))

    @app.post("/authorize")
    def authorize(
        client_id: Annotated[str, Form()],
        redirect_uri: Annotated[str, Form()],
        code_challenge: Annotated[str, Form()],
        sub: Annotated[str, Form()] = "",
        state_: Annotated[str, Form(alias="state")] = "",
        nonce: Annotated[str, Form()] = "",
    ) -> Response:
        client, problem = _client_and_redirect(state, client_id, redirect_uri)
        if client is None:
            return HTMLResponse(f"<p>{escape(problem)}</p>", status_code=400)
        user = state.user(sub)
        if user is None:
            return _back(redirect_uri, state_, error="access_denied")
        code = state.issue_code(
            client_id=client_id,
            redirect_uri=redirect_uri,
            user=user,
            nonce=nonce or None,
            code_challenge=code_challenge,
        )
        return _back(redirect_uri, state_, code=code)

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        client_id, secret = _client_credentials(request, fields)
        client = state.clients.get(client_id or "")
        if client is None or not hmac.compare_digest(
            (secret or "").encode(), client.client_secret.encode()
        ):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if fields.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        grant = state.redeem(fields.get("code", ""))
        verifier = fields.get("code_verifier", "")
        if (
            grant is None
            or grant.client_id != client.client_id
            or grant.redirect_uri != fields.get("redirect_uri")
            or not verifier
            or not hmac.compare_digest(s256(verifier), grant.code_challenge)
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(
            {
                "access_token": base64.urlsafe_b64encode(grant.user.sub.encode()).decode(),
                "token_type": "Bearer",
                "expires_in": 600,
                "id_token": state.id_token(grant),
            },
            headers={"cache-control": "no-store"},
        )

    return app


def _client_and_redirect(
    state: OidcState, client_id: str | None, redirect_uri: str | None
) -> tuple[OidcClient | None, str]:
    client = state.clients.get(client_id or "")
    if client is None:
        return None, "unknown client_id"
    if redirect_uri not in client.redirect_uris:
        return None, "redirect_uri is not registered for this client"
    return client, ""


def _client_credentials(request: Request, fields: dict[str, str]) -> tuple[str | None, str | None]:
    """client_secret_basic, else client_secret_post."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except ValueError:
            return None, None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return fields.get("client_id"), fields.get("client_secret")


def _back(redirect_uri: str, state: str | None, **params: str) -> RedirectResponse:
    if state:
        params["state"] = state
    return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=303)


def _chooser(state: OidcState, carried: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in carried.items()
    )
    buttons = "".join(
        f'<li><form method="post" action="/authorize">{hidden}'
        f'<button type="submit" name="sub" value="{escape(user.sub)}">'
        f"{escape(user.name)} &lt;{escape(user.email)}&gt;"
        f"{'' if user.email_verified else ' (email not verified)'}</button></form></li>"
        for user in state.users
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Sandbox sign-in</title></head><body><main>"
        "<h1>Sandbox identity provider</h1><p>Choose who signs in:</p>"
        f"<ul>{buttons}</ul>"
        f'<form method="post" action="/authorize">{hidden}'
        '<button type="submit" name="sub" value="">Cancel</button></form>'
        "</main></body></html>"
    )
