"""The staff console: server-rendered pages under ``/console``, mounted on the hub's app.

It is its own small application so that its errors are pages (not the API's JSON), and its
responses carry the browser security headers: a CSP without inline scripts or styles, frame
denial, no MIME sniffing, no referrer leaving the site.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import Settings
from console import (
    account,
    autoreplies,
    chart_actions,
    coupons,
    fields,
    follow_routes,
    forms,
    friend_list,
    friends,
    inbox,
    inbox_compose,
    inbox_library,
    inbox_templates,
    live,
    media,
    privacy,
    signin,
    signin_sso,
    tag_rules,
    tags,
    tokens,
    tracked_links,
)
from console.auth import CsrfRefused, SignInRequired
from console.context import PREFIX, build_context, is_htmx, render
from core.db import Database
from core.errors import HubError
from crm.notes import NotTheAuthor
from staff.permissions import NotAllowed

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def install(
    app: FastAPI,
    settings: Settings,
    database: Database,
    *,
    inbox_watcher: live.SignalWatcher | None = None,
) -> None:
    """Mount the console on the hub's app; the site's root leads to it."""
    console = create_console(settings, database, inbox_watcher=inbox_watcher)
    app.mount(PREFIX, console)
    # A mounted app's shutdown is not run: the hub's app stops the console's watcher.
    app.router.on_shutdown.append(lambda: stop(app))
    app.add_api_route("/", _to_console, include_in_schema=False)
    app.state.inbox_watcher = console.state.inbox_watcher


def stop(app: FastAPI, *, wait: bool = True) -> None:
    """Stop what the console runs beside its requests (the inbox watcher and its listener
    connection), ending the live streams still open; ``wait`` until it has stopped."""
    watcher: live.SignalWatcher | None = getattr(app.state, "inbox_watcher", None)
    if watcher is not None:
        watcher.close(wait=wait)


def _to_console() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/friends", status_code=303)


def create_console(
    settings: Settings, database: Database, *, inbox_watcher: live.SignalWatcher | None = None
) -> FastAPI:
    console = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    console.state.console = build_context(settings, database)
    console.state.inbox_watcher = inbox_watcher or live.SignalWatcher(database)
    console.mount(
        "/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static"
    )
    console.include_router(signin.router)
    console.include_router(signin_sso.router)
    console.include_router(account.router)
    # Before the chart's routes: /friends/bulk is no friend id.
    console.include_router(friend_list.router)
    console.include_router(tokens.router)
    console.include_router(friends.router)
    console.include_router(privacy.router)
    console.include_router(autoreplies.router)
    console.include_router(tags.router)
    console.include_router(tag_rules.router)
    console.include_router(tracked_links.router)
    console.include_router(fields.router)
    console.include_router(coupons.router)
    console.include_router(follow_routes.router)
    console.include_router(forms.router)
    console.include_router(chart_actions.router)
    console.include_router(inbox_library.router)
    console.include_router(inbox_templates.router)
    console.include_router(live.router)
    console.include_router(inbox.router)
    console.include_router(inbox_compose.router)
    console.include_router(media.router)
    _install_error_pages(console)
    console.add_middleware(SecurityHeaders)
    return console


class SecurityHeaders:
    """Add the security headers to every console response (pages, partials, errors, files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def _error_page(request: Request, status_code: int, **values: object) -> Response:
    response = render(
        request,
        "errors/error.html",
        {"status_code": status_code, **values},
        status_code=status_code,
    )
    if is_htmx(request):
        # htmx would drop an error response: show it in place of the page instead.
        response.headers["hx-retarget"] = "body"
        response.headers["hx-reswap"] = "innerHTML"
    return response


def _install_error_pages(console: FastAPI) -> None:
    @console.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = f"{PREFIX}/login?next={quote(target, safe='')}"
        if is_htmx(request):
            return Response(status_code=204, headers={"hx-redirect": location})
        return RedirectResponse(location, status_code=303)

    @console.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> Response:
        if isinstance(exc, NotAllowed):
            return _error_page(request, 403, reason="role", needed=exc.needed, yours=exc.role)
        if isinstance(exc, CsrfRefused):
            return _error_page(request, 403, reason="csrf")
        if isinstance(exc, NotTheAuthor):
            return _error_page(request, 403, reason="author")
        if exc.status_code >= 500:
            log.error("%s: %s", exc.code, exc.detail)
        return _error_page(request, exc.status_code)

    @console.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error_page(request, exc.status_code)

    @console.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _exc: RequestValidationError) -> Response:
        return _error_page(request, 400)

    @console.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> Response:
        log.exception("console error on %s", request.url.path, exc_info=exc)
        return _error_page(request, 500)
