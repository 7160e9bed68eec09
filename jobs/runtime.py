"""The settings and database a Celery app's tasks use, installed on the app.

The composition root installs them before any task runs: ``tsunagu serve`` (embedded or not)
and ``tsunagu worker``. Tasks look them up from the app they run on, so two hubs in one process
(two shops' embedded hubs, a command beside a served hub) each keep their own database. A
prefork worker installs them in the parent before forking, without a connection open, and each
child drops the inherited pools so no connection is shared by two processes.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from celery import Celery

from config import Settings
from core.db import Database
from core.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    database: Database


_lock = threading.Lock()
_runtimes: weakref.WeakKeyDictionary[Celery, Runtime] = weakref.WeakKeyDictionary()


def install(app: Celery, runtime: Runtime) -> None:
    """Use these settings and this database for the tasks ``app`` runs."""
    with _lock:
        _runtimes[app] = runtime


def of(app: Celery) -> Runtime:
    """The runtime installed on ``app``; tasks only run on apps that have one."""
    with _lock:
        runtime = _runtimes.get(app)
    if runtime is None:
        raise ConfigurationError(
            "no runtime installed: run tasks through `tsunagu worker` or `tsunagu serve`"
        )
    return runtime


def after_fork() -> None:
    """In a forked child: forget the parent's pooled connections without closing them."""
    with _lock:
        runtimes = list(_runtimes.values())
    for runtime in runtimes:
        runtime.database.engine.dispose(close=False)
