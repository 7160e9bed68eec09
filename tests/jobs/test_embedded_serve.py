"""`tsunagu serve` with no configuration at all: SQLite, a generated key, the in-process worker."""

from __future__ import annotations

from pathlib import Path

import httpx

from config import Settings
from core.serving import free_port
from staff.models import Role
from tests.conftest import TEST_SECRET_KEY
from tests.console.support import Browser, add_staff
from tests.factories import make_shop
from tests.jobs.processes import STOP_TIMEOUT_SECONDS, Processes, clean_environment
from tsunagu.hub import open_database


def test_serve_starts_in_an_empty_directory_with_no_configuration(
    processes: Processes, tmp_path: Path
) -> None:
    port = free_port("127.0.0.1")

    serve = processes.serve(port, env=clean_environment())

    data_dir = tmp_path / "tsunagu-data"
    assert (data_dir / "tsunagu.db").is_file()
    assert (data_dir / "secret.key").is_file()
    assert "TSUNAGU_SECRET_KEY is not set" in serve.output()
    assert "embedded worker" in serve.output()
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert serve.stop() == 0, "SIGTERM is a graceful shutdown"


def test_sigterm_ends_the_open_console_streams_and_serve_exits(
    processes: Processes, tmp_path: Path
) -> None:
    port = free_port("127.0.0.1")
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    serve = processes.serve(
        port, env=clean_environment(TSUNAGU_DATABASE_URL=url, TSUNAGU_SECRET_KEY=TEST_SECRET_KEY)
    )
    database = open_database(
        Settings(_env_file=None, database_url=url, secret_key=TEST_SECRET_KEY, data_dir=tmp_path)
    )
    try:
        add_staff(database, make_shop(database), "aoi@example.jp", Role.VIEWER)
    finally:
        database.dispose()
    browser = Browser(f"http://127.0.0.1:{port}")
    browser.sign_in("aoi@example.jp")

    # A console's stream never finishes by itself; the graceful shutdown waits for every open
    # response, so the stream must be ended for serve to exit (a stream left open would time
    # out reading here, after 5 s).
    with browser.client.stream("GET", "/console/inbox/events", timeout=5) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 2000"
        serve.terminate()
        rest = list(lines)

    assert not [line for line in rest if line.startswith("data: ")]
    assert serve.popen.wait(timeout=STOP_TIMEOUT_SECONDS) == 0
