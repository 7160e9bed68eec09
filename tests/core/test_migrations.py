"""The migrations build exactly the schema the models describe, and can be rolled back."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from core.db import Database
from tests.scratch import recreate_database
from tsunagu import migrate
from tsunagu.models import Base


def _fresh_database_url(tmp_path) -> str:
    """A scratch database on the configured backend (PostgreSQL in CI), separate from the hub's."""
    url = os.environ.get("TSUNAGU_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / 'migrations.db'}"
    scratch = make_url(url).set(database=f"{make_url(url).database}_migrations")
    rendered = scratch.render_as_string(hide_password=False)
    recreate_database(rendered)
    return rendered


def test_migrations_build_the_schema_the_models_describe(tmp_path) -> None:
    database = Database(_fresh_database_url(tmp_path))
    migrate.upgrade(database.engine)

    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    database.dispose()
    assert differences == []


def test_every_migration_can_be_rolled_back_and_reapplied(tmp_path) -> None:
    database = Database(_fresh_database_url(tmp_path))
    migrate.upgrade(database.engine)
    config = migrate.alembic_config()

    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert migrate.current_revision(database.engine) is None

    migrate.upgrade(database.engine)
    assert migrate.current_revision(database.engine) == migrate.head_revision()
    database.dispose()


def test_processes_starting_together_on_an_empty_database_migrate_it_once(tmp_path) -> None:
    url = _fresh_database_url(tmp_path)
    if url.startswith("sqlite"):
        # SQLite's single writer already serialises them; the race is PostgreSQL's.
        url = f"sqlite:///{tmp_path / 'race.db'}"
    databases = [Database(url) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda db: migrate.upgrade(db.engine), databases))

    assert all(after == migrate.head_revision() for _, after in results)
    assert [before for before, _ in results].count(None) >= 1
    for database in databases:
        database.dispose()
