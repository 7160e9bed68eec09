"""The fast tier keeps its promise: a test's commits stay inside its transaction and vanish
after it, a failed unit of work undoes only itself, and after-commit tasks are recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.enqueue import enqueue_after_commit
from core.tenancy import Shop, create_shop
from tests.transactional import RolledBackDatabase

pytestmark = pytest.mark.fast


def _slugs(engine: Engine) -> set[str]:
    """The shops another connection sees (a plain read: SQLite's engine would BEGIN IMMEDIATE,
    and wait for the writer under test)."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT slug FROM {Shop.__tablename__}")
        return {row[0] for row in cursor.fetchall()}
    finally:
        connection.close()


def test_a_fast_tests_commits_are_seen_by_it_alone_and_rolled_back_after_it(
    fast_engine: Engine,
) -> None:
    with fast_engine.connect() as connection:
        outer = connection.begin()
        database = RolledBackDatabase(fast_engine, connection)
        with database.session_scope() as session:
            create_shop(session, slug="tier-kept", name="Kept")
            enqueue_after_commit(session, "idlink.sync_rich_menu", friend_id=7)
        with pytest.raises(RuntimeError), database.session_scope() as session:
            create_shop(session, slug="tier-undone", name="Undone")
            session.flush()
            raise RuntimeError("this unit of work fails")

        with database.session_scope() as session:
            assert set(session.scalars(select(Shop.slug))) >= {"tier-kept"}
            assert "tier-undone" not in set(session.scalars(select(Shop.slug)))
        assert "tier-kept" not in _slugs(fast_engine), "another connection saw uncommitted rows"
        assert database.sent == [("idlink.sync_rich_menu", {"friend_id": 7})]
        outer.rollback()

    assert "tier-kept" not in _slugs(fast_engine)


def test_a_fast_test_starts_from_empty_tables(db_session: Session) -> None:
    assert db_session.scalars(select(Shop)).all() == []
