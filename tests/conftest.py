"""Shared fixtures: a real database (SQLite, or PostgreSQL when configured), the hub served over
real HTTP with its embedded worker, and the sandbox LINE platform it talks to.

``TSUNAGU_TEST_DATABASE_URL`` selects PostgreSQL (e.g. ``postgresql+psycopg://postgres@127.0.0.1/
tsunagu_test``: the database is created if missing and rebuilt from the migrations).
``TSUNAGU_TEST_BROKER_URL`` enables the tests that run a real Celery worker on that broker.
``TSUNAGU_TEST_REQUIRE_SERVICES=1`` (CI) turns their skips into failures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import NoReturn

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from config import Settings
from core.db import Database
from core.serving import ThreadedServer, free_port
from sandbox.line.server import SandboxServer
from sandbox.oidc.server import OidcServer
from tests import leaks
from tests.sandbox.line_specs import SPECS_LOCATION, LineSpecs, load_specs
from tests.scratch import empty_database
from tests.tiers import is_fast
from tsunagu.hub import Hub, build_hub
from tsunagu.models import Base

TEST_SECRET_KEY = "tsunagu-test-key-not-for-production"

# tests.leaks: its fixture hooks must see the session's fixtures too, which a conftest's do not.
pytest_plugins = [
    "tests.factories",
    "tests.cli_runner",
    "tests.browser",
    "tests.transactional",
    "tests.leaks",
]


def require_services() -> bool:
    return os.environ.get("TSUNAGU_TEST_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip on a laptop without the service; fail in CI, where it must be there."""
    if require_services():
        pytest.fail(f"{reason} (required: TSUNAGU_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def leak_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if a hub thread or a process it started still runs after its teardown
    (tests/leaks.py): set up before the test's other fixtures, so checked after theirs."""
    snapshot = leaks.begin(request.node.nodeid)
    yield
    problem = leaks.problems_left(snapshot)
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TSUNAGU_TEST_DATABASE_URL")
    if url:
        empty_database(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'tsunagu-test.db'}"


@pytest.fixture(scope="session")
def line_sandbox() -> Iterator[SandboxServer]:
    """The sandbox LINE platform, over real HTTP, for the whole run."""
    server = SandboxServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hub_port() -> int:
    return free_port("127.0.0.1")


OIDC_CLIENT_ID = "tsunagu-console"
OIDC_CLIENT_SECRET = "sandbox-oidc-client-secret"


@pytest.fixture(scope="session")
def oidc_provider(hub_port: int) -> Iterator[OidcServer]:
    """The sandbox OpenID Connect provider the console's single sign-on is set up with."""
    server = OidcServer()
    server.state.add_client(
        OIDC_CLIENT_ID,
        OIDC_CLIENT_SECRET,
        f"http://127.0.0.1:{hub_port}/console/login/sso/callback",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def settings(
    database_url: str,
    line_sandbox: SandboxServer,
    oidc_provider: OidcServer,
    hub_port: int,
    tmp_path_factory,
) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        public_url=f"http://127.0.0.1:{hub_port}",
        line_api_url=line_sandbox.url,
        line_access_url=line_sandbox.url,
        line_web_url=line_sandbox.url,
        liff_sdk_url=f"{line_sandbox.url}/liff/sdk.js",
        sweep_interval_seconds=0.5,
        # Connector syncs and CRM write-backs run when a test asks, not on a timer mid-test.
        connector_schedule_interval_seconds=3600,
        log_format="text",
        staff_oidc_issuer=oidc_provider.url,
        staff_oidc_client_id=OIDC_CLIENT_ID,
        staff_oidc_client_secret=OIDC_CLIENT_SECRET,
        staff_oidc_name="Sandbox SSO",
    )


@pytest.fixture(scope="session")
def hub(settings: Settings, hub_port: int) -> Iterator[Hub]:
    """The hub as `tsunagu serve` builds it (embedded worker), served on a real port."""
    hub = build_hub(settings).start()
    server = ThreadedServer(hub.app, port=hub_port).start()
    yield hub
    server.stop()
    hub.stop()


@pytest.fixture
def hub_url(hub: Hub) -> str:
    return hub.settings.public_url


@pytest.fixture
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """The hub's database; every table is emptied after the test, once the hub's worker has
    finished what it was doing for it. In a test marked ``fast``, the fast tier's rolled-back
    database instead, and no hub (tests/transactional.py)."""
    if is_fast(request):
        yield request.getfixturevalue("fast_db")
        return
    hub: Hub = request.getfixturevalue("hub")
    yield hub.database
    if hub.worker is None:
        _truncate(hub.database)
        return
    # What the worker still does for this test (a dispatcher run, a retry due later) would
    # write into the next test's rows: it finishes first, and sends nothing while the tables
    # are emptied.
    with hub.worker.paused():
        _truncate(hub.database)


def _truncate(database: Database, attempts: int = 5) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    for attempt in range(1, attempts + 1):
        try:
            with database.engine.begin() as connection:
                if database.is_sqlite:
                    for name in tables:
                        connection.execute(text(f'DELETE FROM "{name}"'))
                else:
                    joined = ", ".join(f'"{name}"' for name in tables)
                    connection.execute(text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))
            return
        except OperationalError:
            # TRUNCATE locks table after table while the embedded worker may still be writing
            # (a sweep, a retried event): PostgreSQL breaks the deadlock; try again.
            if attempt == attempts:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def line_specs() -> LineSpecs:
    """LINE's OpenAPI specs, the one way a check reaches them: a clone with nothing beside it
    skips the checks that need them; CI, where they must be, fails instead."""
    specs = load_specs()
    if specs is None:
        skip_or_fail(f"LINE's OpenAPI specs are not beside this checkout ({SPECS_LOCATION})")
    return specs
