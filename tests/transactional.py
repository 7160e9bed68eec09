"""The fast tier: service tests inside a transaction that is rolled back, with no hub.

``fast_db`` is a ``Database`` whose sessions all share one connection holding an outer
transaction; a session's commit releases a SAVEPOINT (``join_transaction_mode=
"create_savepoint"``), so services and factories run unchanged, and the test's teardown rolls
every row back instead of emptying every table. Tasks enqueued after commit are recorded in
``fast_db.sent``, not run: nothing here starts a worker.

A module of service tests joins the tier with ``pytestmark = pytest.mark.fast``: its ``db``,
``shop`` and ``channel`` are then the rolled-back ones (the channel known to the sandbox LINE
platform, its webhooks going nowhere). A test asking for ``fast_db`` or ``db_session`` is marked
``fast`` too. ``pytest -m fast`` runs the tier alone. A test marked ``fast`` that asks for the
hub is an error: the tier's promise is that no worker runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from core import crypto
from core.db import Database, make_engine
from tests.tiers import FAST
from tsunagu import migrate


class RolledBackDatabase(Database):
    """A ``Database`` bound to one connection inside a transaction its owner rolls back."""

    def __init__(self, engine: Engine, connection: Connection) -> None:
        self.url = str(engine.url)
        self.engine = engine
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.task_sender = lambda name, kwargs: self.sent.append((name, kwargs))
        self.sessions = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )

    def dispose(self) -> None:
        """The engine belongs to the whole run; the test's transaction is rolled back instead."""


@pytest.fixture(scope="session")
def fast_engine(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The fast tier's engine, migrated to head: the test database on PostgreSQL (its rows are
    never committed), a file of its own on SQLite (whose writers lock the whole file)."""
    if os.environ.get("TSUNAGU_TEST_DATABASE_URL"):
        url = database_url
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('fast') / 'tsunagu-fast.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def fast_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from tests.conftest import TEST_SECRET_KEY

    settings = Settings(
        _env_file=None, data_dir=tmp_path_factory.mktemp("fast-data"), secret_key=TEST_SECRET_KEY
    )
    crypto.configure(settings)
    return settings


@pytest.fixture
def fast_db(fast_engine: Engine, fast_settings: Settings) -> Iterator[RolledBackDatabase]:
    """The database of one fast test: everything it writes is rolled back after it."""
    with fast_engine.connect() as connection:
        outer = connection.begin()
        try:
            yield RolledBackDatabase(fast_engine, connection)
        finally:
            outer.rollback()


@pytest.fixture
def db_session(fast_db: RolledBackDatabase) -> Iterator[Session]:
    """A session inside the fast test's transaction; its commits release SAVEPOINTs."""
    session = fast_db.session()
    try:
        yield session
    finally:
        session.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "fast_db" in fixtures:
            item.add_marker(FAST)
        if item.get_closest_marker(FAST) is not None and {"hub", "hub_url"} & set(fixtures):
            raise pytest.UsageError(f"{item.nodeid} is marked fast but starts the hub")
