"""What every CLI command shares: settings with logging configured, and a unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from config import Settings, get_settings
from core.errors import HubError
from core.logging import configure_logging
from tsunagu.hub import open_database

err = Console(stderr=True)


def load_settings() -> Settings:
    """The environment's settings, with logging set up from them."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextmanager
def session_scope() -> Iterator[Session]:
    """A committed unit of work for one CLI command; hub errors become a clean exit 1."""
    database = open_database(load_settings())
    try:
        with database.session_scope() as session:
            yield session
    except HubError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    finally:
        database.dispose()
