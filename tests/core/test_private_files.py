"""What the hub writes to disk on its own is its user's alone: the SQLite database (with its
WAL) and the generated key are 0600, in a data directory that is 0700."""

from __future__ import annotations

import stat
from pathlib import Path

from config import Settings
from tsunagu.hub import open_database


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_directory_database_and_key_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "tsunagu-data"
    # Opening migrates the new database; while it is open, its WAL files exist too.
    database = open_database(Settings(_env_file=None, data_dir=data_dir))
    try:
        files = {p.name: mode(p) for p in data_dir.glob("tsunagu.db*")}
    finally:
        database.dispose()

    assert mode(data_dir) == 0o700
    assert files == {"tsunagu.db": 0o600, "tsunagu.db-wal": 0o600, "tsunagu.db-shm": 0o600}
    assert mode(data_dir / "secret.key") == 0o600


def test_a_directory_the_shop_made_keeps_its_mode(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    data_dir.mkdir(mode=0o750)
    data_dir.chmod(0o750)

    open_database(Settings(_env_file=None, data_dir=data_dir)).dispose()

    assert mode(data_dir) == 0o750
    assert mode(data_dir / "tsunagu.db") == 0o600
