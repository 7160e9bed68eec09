"""The composition root: settings → encryption → database → worker → API, as one ``Hub``.

``tsunagu serve``, ``tsunagu demo`` and the tests all build the hub here, so what the tests run
is what a shop runs.
"""

from __future__ import annotations

import functools
import gc
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from celery import Celery

from config import Settings
from core import crypto
from core.db import Database, TaskSender
from core.errors import ConfigurationError
from jobs import runtime
from jobs.celery_app import BrokerSender, broker_check, create_celery
from jobs.embedded import EmbeddedWorker
from messaging.outbox.limiter import limiter_kind
from tsunagu import migrate

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Hub:
    settings: Settings
    database: Database
    celery: Celery
    app: FastAPI
    worker: EmbeddedWorker | None

    def start(self) -> Hub:
        if self.worker is not None:
            self.worker.start()
        return self

    def end_streams(self) -> None:
        """End the console's live streams (without waiting): the server's graceful shutdown
        waits for every open response, and a stream never finishes on its own."""
        from console import app as console_app

        console_app.stop(self.app, wait=False)

    def stop(self) -> None:
        from console import app as console_app

        console_app.stop(self.app)
        if self.worker is not None:
            self.worker.stop()
        self.database.dispose()


def open_database(settings: Settings, *, task_sender: TaskSender | None = None) -> Database:
    """Configure encryption, connect, and bring an empty database to the current schema."""
    crypto.configure(settings)
    database = Database(settings.resolved_database_url, task_sender=task_sender)
    ensure_schema(database)
    return database


def ensure_schema(database: Database) -> None:
    """Migrate an empty database; refuse to run on one whose schema is behind."""
    current = migrate.current_revision(database.engine)
    head = migrate.head_revision()
    if current is None:
        log.info("empty database: applying migrations")
        migrate.upgrade(database.engine)
    elif current != head:
        raise ConfigurationError(
            f"the database schema is at {current}, this version needs {head}: "
            "run `tsunagu db upgrade` first"
        )


def build_hub(settings: Settings) -> Hub:
    """Build the hub for the configured runtime: embedded worker, or a Celery broker."""
    # Imported here: `tsunagu worker` and `beat` start faster without the web application.
    from api.app import create_app
    from console import app as console_app

    celery = create_celery(settings)
    sender: TaskSender
    worker: EmbeddedWorker | None
    if settings.embedded:
        worker = EmbeddedWorker(celery, settings)
        sender = worker.send
        check = worker.check
    else:
        worker = None
        sender = BrokerSender(celery)
        check = functools.partial(broker_check, celery)
    database = open_database(settings, task_sender=sender)
    runtime.install(celery, runtime.Runtime(settings, database))
    app = create_app(settings, database, broker_check=check)
    console_app.install(app, settings, database)
    return Hub(settings=settings, database=database, celery=celery, app=app, worker=worker)


def settle_heap() -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    The app, the SDKs and their caches are hundreds of thousands of long-lived objects; every
    full collection scanned them all, pausing every request in flight. Measured with the intake
    benchmark: p99 261 ms → 61 ms at 32 connections. A worker settles its heap before Celery
    forks its processes, which inherit it: the dispatcher's claims (thousands of rows each)
    set off full collections, and each one scanned the ~290,000 objects of the imports: 94 →
    34 µs of CPU per push to claim personalised pushes (see the reminder benchmark).
    """
    gc.collect()
    gc.freeze()


def build_worker(settings: Settings) -> Celery:
    """Prepare a production worker process: check the schema, install the task runtime.

    The schema check's connection is closed again before Celery forks its pool processes; each
    child opens its own connections on its first task. A configuration whose processes could
    share no rate limiter (an AMQP broker on SQLite) refuses to start.
    """
    limiter_kind(settings.broker_url, settings.resolved_database_url)
    celery = create_celery(settings)
    database = open_database(settings, task_sender=BrokerSender(celery))
    database.dispose()
    runtime.install(celery, runtime.Runtime(settings, database))
    return celery
