"""Files the hub creates that hold personal data or keys: the SQLite database and the
generated secret key are readable by the hub's user only (0600, in a 0700 directory)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url


def private_directory(path: Path) -> Path:
    """Create the directory (0700) if missing; one that exists keeps the mode its owner chose."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        # The process umask may have taken bits from `mode`; the directory is ours to set.
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create the file empty (0600) if missing, in a private directory."""
    private_directory(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    os.close(fd)
    return path


def prepare_sqlite_file(url: str) -> None:
    """Create a SQLite URL's database file privately before SQLite creates it world-readable.

    SQLite gives the WAL and shared-memory files the database file's mode, so they follow."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_file(Path(database))
