"""The process's settings and database, as tasks see them.

A worker process builds them lazily from the environment on its first task (after the prefork
fork, so no connection crosses a fork); the embedded runtime installs the ones it already has.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from config import Settings, get_settings
from core import crypto
from core.db import Database


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
    """The installed runtime, or one built from the environment on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            settings = get_settings()
            crypto.configure(settings)
            _runtime = Runtime(settings, Database(settings.resolved_database_url))
        return _runtime
