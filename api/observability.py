"""Request ids, structured access logs, Prometheus metrics, and the health endpoints."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import internal_error_response
from core import inbox
from core.logging import request_id_var

log = logging.getLogger("tsunagu.access")
errors_log = logging.getLogger("tsunagu.errors")


class Metrics:
    """The hub's Prometheus metrics, on a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "tsunagu_webhook_requests",
            "Webhook requests by source and outcome",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.events_stored = Counter(
            "tsunagu_webhook_events_stored",
            "Webhook events stored (duplicates excluded)",
            ["source"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "tsunagu_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
        )
        self.errors = Counter(
            "tsunagu_http_errors", "HTTP responses with status >= 500", registry=self.registry
        )
        self.unhandled = Counter(
            "tsunagu_unhandled_errors",
            "Requests that raised an error no handler knew, by exception class (answered 500)",
            ["error"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "tsunagu_event_processing_lag_seconds",
            "Age of the oldest inbound event not yet processed",
            registry=self.registry,
        )
        self.events = Gauge(
            "tsunagu_inbound_events",
            "Stored inbound events by status",
            ["status"],
            registry=self.registry,
        )


class RequestContextMiddleware:
    """Give every request an id (``X-Request-ID`` in and out), time it, and log it.

    It is also the hub's catch-all: an error no handler knew is logged with its traceback,
    counted, and answered in the hub's JSON error shape, with the request id to quote.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._latency: dict[str, Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope["headers"])
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            self.metrics.unhandled.labels(type(exc).__name__).inc()
            errors_log.error(
                "unhandled %s in %s %s",
                type(exc).__name__,
                scope["method"],
                scope["path"],
                exc_info=exc,
            )
            if started:
                # Part of the response is out: nothing can be said any more but closing it.
                raise
            await internal_error_response(request_id)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self._route_latency(scope).observe(elapsed)
            if status >= 500:
                self.metrics.errors.inc()
            log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={"status": status, "duration_ms": round(elapsed * 1000, 2)},
            )
            request_id_var.reset(token)

    def _route_latency(self, scope: Scope) -> Histogram:
        """The latency histogram of the request's route, its labelled child kept per route."""
        name = getattr(scope.get("route"), "path", "unmatched")
        child = self._latency.get(name)
        if child is None:
            child = self._latency[name] = self.metrics.request_seconds.labels(name)
        return child


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-ID`` when it is usable, else a new random one."""
    for key, value in headers:
        if key == b"x-request-id" and 0 < len(value) <= 128:
            return value.decode("latin-1")
    return os.urandom(16).hex()


router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database and the broker are reachable")
async def readyz(request: Request) -> JSONResponse:
    checks = await run_in_threadpool(_readiness, request.app.state.ctx)
    ready = all(c == "ok" for c in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


def _readiness(ctx: Any) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with ctx.database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    broker_check = ctx.broker_check
    if broker_check is None:
        checks["broker"] = "ok"
    else:
        try:
            broker_check()
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
    return checks


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    ctx = request.app.state.ctx
    await run_in_threadpool(_refresh_gauges, ctx)
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _refresh_gauges(ctx: Any) -> None:
    with ctx.database.session_scope() as session:
        ctx.metrics.lag.set(inbox.pending_lag_seconds(session))
        for status, count in inbox.count_by_status(session).items():
            ctx.metrics.events.labels(status).set(count)
