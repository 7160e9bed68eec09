"""The process's settings and database, as tasks see them.

The composition root installs them before any task runs: ``tsunagu serve`` (embedded or not)
and ``tsunagu worker``. A prefork worker installs them in the parent before forking, without a
connection open, and each child drops the inherited pool so no connection is shared by two
processes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from config import Settings
from core.db import Database
from core.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    database: Database


_lock = threading.Lock()
_runtime: Runtime | None = None


def install(runtime: Runtime) -> None:
    """Use these settings and this database for tasks run in this process."""
    global _runtime
    with _lock:
        _runtime = runtime


def current() -> Runtime:
    """The installed runtime; tasks only run in processes that installed one."""
    with _lock:
        if _runtime is None:
            raise ConfigurationError(
                "no runtime installed: run tasks through `tsunagu worker` or `tsunagu serve`"
            )
        return _runtime


def after_fork() -> None:
    """In a forked child: forget the parent's pooled connections without closing them."""
    with _lock:
        if _runtime is not None:
            _runtime.database.engine.dispose(close=False)
