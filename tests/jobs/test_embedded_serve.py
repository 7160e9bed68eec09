"""`tsunagu serve` with no configuration at all: SQLite, a generated key, the in-process worker."""

from __future__ import annotations

from pathlib import Path

import httpx

from core.serving import free_port
from tests.jobs.processes import Processes, clean_environment


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
