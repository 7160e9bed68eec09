"""The Celery application: the same tasks run on the embedded worker and on production workers."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from config import Settings
from jobs import runtime

log = logging.getLogger(__name__)

# Periodic tasks and each one's interval in seconds: the setting that gives it, or a number.
PERIODIC: dict[str, str | float] = {
    "idlink.purge": 3600.0,
    "events.sweep": "sweep_interval_seconds",
    "connectors.writeback": "connector_schedule_interval_seconds",
    "connectors.schedule": "connector_schedule_interval_seconds",
    "messaging.sweep": "sweep_interval_seconds",
    # Also nudged after every connector event and sync; the schedule catches lost nudges.
    "messaging.triggers": "sweep_interval_seconds",
    "messaging.reminders": "sweep_interval_seconds",
    "growth.tag_rules": "sweep_interval_seconds",
    "messaging.campaigns": "sweep_interval_seconds",
    "messaging.sequences": "sweep_interval_seconds",
    "messaging.rich_menus": "rich_menu_sync_interval_seconds",
    "privacy.retention": "retention_interval_seconds",
    "friends.bulk_sweep": "sweep_interval_seconds",
    "privacy.unlink_rich_menus": "sweep_interval_seconds",
    "media.sweep": "sweep_interval_seconds",
    "inbox.wake_snoozed": "sweep_interval_seconds",
    "inbox.forget_signals": 600.0,
}

# A nudge is worth one quick retry, not a slow request: the sweeper finds what was not sent.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
BROKER_TIMEOUT_SECONDS = 2.0


def create_celery(settings: Settings, *, load_tasks: bool = True) -> Celery:
    """A Celery app for the configured broker (``memory://`` when embedded: nothing is sent).

    ``load_tasks=False`` is for processes that only send tasks by name (beat): they start without
    importing the domain and its SDKs.
    """
    includes = ["jobs.tasks"] if load_tasks else []
    app = Celery("tsunagu", broker=settings.broker_url or "memory://", include=includes)
    app.conf.update(
        # A task is acknowledged once it finished: a killed worker's task is redelivered.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        task_ignore_result=True,
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
        broker_connection_timeout=BROKER_TIMEOUT_SECONDS,
        broker_transport_options=_transport_options(settings.broker_url),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(settings),
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        timezone="UTC",
    )
    app.loader.import_default_modules()
    return app


def _transport_options(broker_url: str | None) -> dict[str, Any]:
    """Bound Redis socket waits, so a broker that stopped answering cannot stall a request."""
    if broker_url and broker_url.startswith(("redis://", "rediss://")):
        return {
            "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
            "socket_timeout": BROKER_TIMEOUT_SECONDS * 2,
        }
    return {}


def interval_of(name: str, settings: Settings) -> float:
    """Seconds between two runs of the periodic task ``name``."""
    interval = PERIODIC[name]
    return float(getattr(settings, interval) if isinstance(interval, str) else interval)


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery beat entries for :data:`PERIODIC`.

    A run no worker took within a minute expires: with every worker down, beat's sends do not
    pile up into a burst of identical runs when one comes back.
    """
    entries = {}
    for name in PERIODIC:
        interval = interval_of(name, settings)
        expires = max(interval, 60.0)
        entries[name] = {"task": name, "schedule": interval, "options": {"expires": expires}}
    return entries


def broker_check(app: Celery) -> None:
    """Raise unless the broker accepts a connection (for ``/readyz``)."""
    with app.connection_for_write() as connection:
        # celery-types declares the timeout an int; kombu takes any number of seconds.
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)  # type: ignore[arg-type]


class BrokerSender:
    """The after-commit task sender of production processes: one quick try, then a pause.

    When the broker is down, every send would wait on it in turn; after a failure the sender
    skips sends for ``pause_seconds`` instead, and the sweeper does the work from the rows.
    """

    def __init__(self, app: Celery, *, pause_seconds: float = 5.0) -> None:
        self._app = app
        self._pause_seconds = pause_seconds
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def __call__(self, task_name: str, kwargs: dict[str, Any]) -> None:
        """Send ``task_name(**kwargs)``; on failure log once and leave it to the sweeper."""
        if time.monotonic() < self._paused_until:
            log.debug("broker unavailable; %s left for the sweeper", task_name)
            return
        try:
            self._app.send_task(task_name, kwargs=kwargs)
        except Exception as exc:
            with self._lock:
                self._paused_until = time.monotonic() + self._pause_seconds
            log.warning(
                "broker unavailable (%s: %s); %s and the next %.0f s of nudges are left for "
                "the sweeper",
                type(exc).__name__,
                exc,
                task_name,
                self._pause_seconds,
            )


@worker_process_init.connect
def _worker_child_started(**_: Any) -> None:
    runtime.after_fork()
