"""What every request handler may reach: settings, the database, metrics, the broker check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from api.observability import Metrics
from config import Settings
from core.db import Database


@dataclass(slots=True)
class AppContext:
    settings: Settings
    database: Database
    metrics: Metrics = field(default_factory=Metrics)
    broker_check: Callable[[], None] | None = None


def context(request: Request) -> AppContext:
    return request.app.state.ctx
