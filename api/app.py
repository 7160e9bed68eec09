"""The FastAPI application: webhook intake, LIFF and account-link pages, admin API, operations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api import (
    admin,
    connector_webhooks,
    follow_routes,
    forms,
    idlink,
    observability,
    openapi,
    redirects,
    sent_media,
    webhooks,
)
from api.admin import linking as admin_linking
from api.context import AppContext
from api.docs import install_docs
from api.errors import error_response, install_error_handlers
from config import Settings
from core.db import Database


def create_app(
    settings: Settings,
    database: Database,
    *,
    broker_check: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the hub's HTTP API around an already configured database."""
    app = HubApp(
        title="tsunagu",
        summary="Self-hosted hub between a LINE Official Account and the shop's systems",
        version="0.1.0",
        # Served by install_docs, with Swagger UI's and ReDoc's files from the hub, not a CDN.
        docs_url=None,
        redoc_url=None,
    )
    ctx = AppContext(settings=settings, database=database, broker_check=broker_check)
    app.state.ctx = ctx
    install_error_handlers(app)
    install_docs(app)
    app.include_router(observability.router)
    app.include_router(connector_webhooks.router)
    app.include_router(admin.router)
    app.include_router(idlink.router)
    app.include_router(admin_linking.router)
    app.include_router(follow_routes.router)
    app.include_router(forms.router)
    app.include_router(redirects.router)
    app.include_router(sent_media.router)
    intake = webhooks.LineWebhookEndpoint(ctx)
    line_webhook = Route(webhooks.LINE_WEBHOOK_PATH, intake, methods=["POST"])
    # The app's own threads end with it (uvicorn runs this at its shutdown).
    app.router.on_shutdown.append(intake.close)
    app.add_middleware(DirectRoutes, routes=[line_webhook])
    app.add_middleware(observability.RequestContextMiddleware, metrics=ctx.metrics)
    app.direct_operations[webhooks.LINE_WEBHOOK_PATH] = {"post": webhooks.LINE_WEBHOOK_OPERATION}
    return app


class HubApp(FastAPI):
    """FastAPI, with the operations of the direct routes in its schema (it cannot see them)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.direct_operations: dict[str, dict[str, Any]] = {}

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = openapi.complete(super().openapi(), direct=self.direct_operations)
        return self.openapi_schema


class DirectRoutes:
    """Serve a few hot routes as raw ASGI apps, ahead of FastAPI's routing and request handling.

    LINE's webhook is the hub's busiest request, and FastAPI's per-request work (route matching
    across every router, a request object, dependency solving, exception wrappers) was about a
    quarter of its CPU. These routes run inside the request-context middleware (request id,
    access log, metrics) and the server-error handler; every other request goes on to FastAPI.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[Route]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    scope["route"] = route
                    await route.app(scope, receive, send)
                    return
                if match is Match.PARTIAL:
                    allowed = ", ".join(sorted(route.methods or ()))
                    response = error_response(405, "HTTPError", "Method Not Allowed")
                    response.headers["allow"] = allowed
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
