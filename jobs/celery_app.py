"""The Celery application: the same tasks run on the embedded worker and on production workers."""

from __future__ import annotations

from typing import Any

from celery import Celery

from config import Settings

# Periodic tasks and the setting that gives each one's interval in seconds.
PERIODIC = {
    "events.sweep": "sweep_interval_seconds",
    "connectors.writeback": "connector_schedule_interval_seconds",
    "messaging.sweep": "sweep_interval_seconds",
}


def create_celery(settings: Settings) -> Celery:
    """A Celery app for the configured broker (``memory://`` when embedded: nothing is sent)."""
    app = Celery("tsunagu", broker=settings.broker_url or "memory://", include=["jobs.tasks"])
    app.conf.update(
        # A task is acknowledged once it finished: a killed worker's task is redelivered.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(settings),
        timezone="UTC",
    )
    app.loader.import_default_modules()
    return app


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery beat entries for :data:`PERIODIC`."""
    return {
        name: {"task": name, "schedule": float(getattr(settings, interval))}
        for name, interval in PERIODIC.items()
    }


def broker_check(app: Celery) -> None:
    """Raise unless the broker accepts a connection (for ``/readyz``)."""
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
