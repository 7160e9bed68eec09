"""The FastAPI application: webhook intake, LIFF and account-link pages, admin API, operations."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from api import admin, connector_webhooks, idlink, observability, redirects, webhooks
from api.admin import linking as admin_linking
from api.context import AppContext
from api.errors import install_error_handlers
from config import Settings
from core.db import Database


def create_app(
    settings: Settings,
    database: Database,
    *,
    broker_check: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the hub's HTTP API around an already configured database."""
    app = FastAPI(
        title="tsunagu",
        summary="Self-hosted hub between a LINE Official Account and the shop's systems",
        version="0.1.0",
    )
    ctx = AppContext(settings=settings, database=database, broker_check=broker_check)
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(observability.router)
    app.include_router(webhooks.router)
    app.include_router(connector_webhooks.router)
    app.include_router(admin.router)
    app.include_router(idlink.router)
    app.include_router(admin_linking.router)
    app.include_router(redirects.router)
    app.add_middleware(observability.RequestContextMiddleware, metrics=ctx.metrics)
    return app
