"""The migrations build exactly the schema the models describe, and can be rolled back."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from core.db import Database
from core.tenancy import Channel, Shop
from messaging.campaigns.models import Campaign
from messaging.outbox import guardrails
from messaging.outbox.models import SendPolicy
from tests.scratch import recreate_database
from tsunagu import migrate
from tsunagu.hub import Hub
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


def test_scoping_event_dedup_keeps_every_stored_event_both_ways(tmp_path) -> None:
    database = Database(_fresh_database_url(tmp_path))
    migrate.upgrade(database.engine, "0013")
    with database.engine.begin() as connection:
        _insert_channel_events(connection, [(1, "evt-1"), (1, "evt-2"), (2, "evt-3")])

    migrate.upgrade(database.engine, "0016")
    with database.engine.begin() as connection:
        assert _events(connection) == [(1, 1, "evt-1"), (1, 1, "evt-2"), (2, 2, "evt-3")]
        # Now legal: channel 2 stores an id channel 1 already has.
        connection.execute(
            text(
                "INSERT INTO inbound_events (shop_id, channel_id, scope_id, source, dedup_key,"
                " event_type, payload, received_at, status, attempts, next_attempt_at)"
                " VALUES (1, 2, 2, 'line', 'evt-1', 'follow', '{}', :now, 'pending', 0, :now)"
            ),
            {"now": _NOW},
        )

    config = migrate.alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0015")
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT channel_id, dedup_key FROM inbound_events ORDER BY id")
        ).all()
    database.dispose()
    assert [tuple(row) for row in rows] == [
        (1, "evt-1"),
        (1, "evt-2"),
        (2, "evt-3"),
        (2, "2:evt-1"),
    ]


_NOW = datetime(2026, 12, 1, tzinfo=UTC)
_EVENT_INSERT = (
    "INSERT INTO inbound_events (shop_id, channel_id, source, dedup_key, event_type, payload,"
    " received_at, status, attempts, next_attempt_at)"
    " VALUES (1, :channel_id, 'line', :key, 'follow', '{}', :now, 'processed', 1, :now)"
)


def _insert_channel_events(connection, events: list[tuple[int, str]]) -> None:
    connection.execute(
        text(
            "INSERT INTO shops (id, slug, name, link_policy, second_factor, created_at)"
            " VALUES (1, 'migrated', 'Migrated', 'refuse', 'birth_date', :now)"
        ),
        {"now": _NOW},
    )
    for channel_id in (1, 2):
        connection.execute(
            text(
                "INSERT INTO channels (id, shop_id, name, line_channel_id, channel_secret,"
                " access_token, provider_id, timezone, status, created_at)"
                " VALUES (:id, 1, 'Main', :line_id, 'x', 'x', 'p', 'Asia/Tokyo', 'active', :now)"
            ),
            {"id": channel_id, "line_id": f"100{channel_id}", "now": _NOW},
        )
    for channel_id, key in events:
        connection.execute(text(_EVENT_INSERT), {"channel_id": channel_id, "key": key, "now": _NOW})


def _events(connection) -> list[tuple[int, int, str]]:
    rows = connection.execute(
        text("SELECT channel_id, scope_id, dedup_key FROM inbound_events ORDER BY id")
    ).all()
    return [tuple(row) for row in rows]


def _policies(
    database: Database,
) -> dict[str, tuple[str | None, str | None, int | None, int | None]]:
    with database.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT source_prefix, quiet_start, quiet_end, per_day, per_week FROM send_policies"
            )
        )
        return {prefix: tuple(values) for prefix, *values in rows}


def test_send_policies_keep_what_they_did_and_campaigns_follow_the_shops_quiet_hours(
    tmp_path, hub: Hub
) -> None:
    database = Database(_fresh_database_url(tmp_path))
    migrate.upgrade(database.engine)
    config = migrate.alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0016")
    with database.engine.begin() as connection:
        shop_id = connection.execute(
            insert(Shop.__table__).values(slug="migrated", name="Migrated").returning(Shop.id)
        ).scalar_one()
        channel_id = connection.execute(
            insert(Channel.__table__)
            .values(
                shop_id=shop_id,
                name="Main",
                line_channel_id="1000000001",
                channel_secret="secret",
                access_token="token",
                provider_id="provider",
            )
            .returning(Channel.id)
        ).scalar_one()
        campaign_id = connection.execute(
            insert(Campaign.__table__)
            .values(shop_id=shop_id, channel_id=channel_id, name="c", kind="purchase", messages=[])
            .returning(Campaign.id)
        ).scalar_one()
        # Before: whole policies; NULL was "none", and the campaign's row copied the shop's hours.
        rows = [
            ("", "21:00", "09:00", None),
            ("reminder:", None, None, None),
            (f"campaign:{campaign_id}", "21:00", "09:00", 2),
        ]
        connection.execute(
            insert(SendPolicy.__table__),
            [
                dict(
                    shop_id=shop_id,
                    source_prefix=prefix,
                    quiet_start=start,
                    quiet_end=end,
                    per_day=None,
                    per_week=per_week,
                )
                for prefix, start, end, per_week in rows
            ],
        )

    migrate.upgrade(database.engine)
    with database.session_scope() as session:
        guardrails.set_policy(session, shop_id=shop_id, quiet_hours=("20:00", "10:00"))
        book = guardrails.PolicyBook(session, shop_id)
        reminder, campaign = (
            book.for_source("reminder:1:2"),
            book.for_source(f"campaign:{campaign_id}"),
        )

    assert (reminder.quiet_start, reminder.per_day, reminder.per_week) == (None, None, None)
    assert (campaign.quiet_start, campaign.quiet_end) == (time(20), time(10))
    assert campaign.per_week == 2

    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0016")
    assert _policies(database) == {
        "": ("20:00", "10:00", None, None),
        "reminder:": (None, None, None, None),
        f"campaign:{campaign_id}": ("20:00", "10:00", None, 2),
    }
    database.dispose()
