"""Fixtures for the production-mode tests: real `tsunagu` processes on PostgreSQL and a broker.

They use a database of their own (``<TSUNAGU_TEST_DATABASE_URL's name>_prod``), so the processes
never share tables with the in-process ``hub`` fixture, and the brokers from
``TSUNAGU_TEST_BROKER_URL`` (Redis) and ``TSUNAGU_TEST_AMQP_URL`` (RabbitMQ).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from config import Settings
from core.db import Database
from core.serving import free_port
from jobs.celery_app import create_celery
from tests.conftest import TEST_SECRET_KEY, _truncate, skip_or_fail
from tests.jobs.processes import Processes
from tests.scratch import empty_database
from tsunagu.hub import open_database


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """A launcher for `tsunagu` processes; all of them are stopped when the test ends."""
    launcher = Processes(tmp_path)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="session")
def prod_database_url() -> str:
    """A PostgreSQL database for the processes, emptied at the start of the run."""
    url = os.environ.get("TSUNAGU_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        skip_or_fail("production mode runs on PostgreSQL: set TSUNAGU_TEST_DATABASE_URL")
    parsed = make_url(url)
    prod_url = parsed.set(database=f"{parsed.database}_prod").render_as_string(hide_password=False)
    empty_database(prod_url)
    return prod_url


@pytest.fixture(scope="session")
def prod_database(prod_database_url: str) -> Iterator[Database]:
    """The processes' database, migrated, as the test process sees it."""
    settings = Settings(_env_file=None, database_url=prod_database_url, secret_key=TEST_SECRET_KEY)
    database = open_database(settings)
    yield database
    database.dispose()


@pytest.fixture
def prod_db(prod_database: Database) -> Iterator[Database]:
    """The processes' database; every table is emptied after the test."""
    yield prod_database
    _truncate(prod_database)


def _broker_url(variable: str, what: str) -> str:
    url = os.environ.get(variable)
    if not url:
        skip_or_fail(f"production mode needs {what}: set {variable}")
    return url


def _purged(url: str) -> str:
    """The broker URL, once the tasks a previous test left queued are gone."""
    create_celery(Settings(_env_file=None, broker_url=url)).control.purge()
    return url


@pytest.fixture(scope="session")
def redis_broker() -> str:
    """The Redis broker's URL."""
    return _broker_url("TSUNAGU_TEST_BROKER_URL", "a Redis broker")


@pytest.fixture
def redis_url(redis_broker: str) -> str:
    """The Redis broker, its task queue empty."""
    return _purged(redis_broker)


@pytest.fixture
def amqp_url() -> str:
    """The RabbitMQ broker, its task queue empty."""
    return _purged(_broker_url("TSUNAGU_TEST_AMQP_URL", "a RabbitMQ broker"))


@pytest.fixture
def serve_port() -> int:
    """A free port for a `tsunagu serve` of this test."""
    return free_port("127.0.0.1")
