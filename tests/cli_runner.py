"""Running ``tsunagu …`` in-process, as a shop's engineer would, against the test database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from config import Settings, get_settings
from core.db import Database
from tsunagu.cli import app

Cli = Callable[..., Result]


@pytest.fixture
def cli(db: Database, settings: Settings) -> Cli:
    """Invoke the CLI with the test database and key in its environment."""
    assert settings.secret_key is not None
    env = {
        "TSUNAGU_DATABASE_URL": settings.resolved_database_url,
        "TSUNAGU_SECRET_KEY": settings.secret_key.get_secret_value(),
        "TSUNAGU_DATA_DIR": str(settings.data_dir),
        "TSUNAGU_PUBLIC_URL": settings.public_url,
        "TSUNAGU_LOG_FORMAT": "text",
        "TSUNAGU_LOG_LEVEL": "WARNING",
    }

    def run(
        *args: str, input: str | None = None, extra_env: dict[str, str] | None = None
    ) -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args), env=env | (extra_env or {}), input=input)
        finally:
            get_settings.cache_clear()

    return run
