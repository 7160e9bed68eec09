"""Tags changed by two requests at once: the second sees the first's work, and neither fails
with a database error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.tenancy import Shop, create_channel
from idlink import tagging
from idlink.models import FriendTagEvent, Tag
from idlink.tag_schemas import TagCreate
from idlink.tagging import BulkOutcome
from tests.api.admin_support import add_friend

Work = Callable[[Session], Any]


def while_held(db: Database, first: Work, second: Work) -> tuple[Any, Any]:
    """Run ``first``, keep its transaction open while ``second`` starts in another, then commit
    both; each one's result, or the exception it raised."""
    holding = threading.Event()
    results: list[Any] = [None, None]

    def run(index: int, work: Work) -> None:
        try:
            if index == 1:
                holding.wait(10)
            with db.session_scope() as session:
                results[index] = work(session)
                if index == 0:
                    holding.set()
                    time.sleep(0.5)  # still uncommitted while the second one starts
        except Exception as exc:  # the caller asserts on it
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results[0], results[1]


def _tag(db: Database, shop: Shop, name: str = "sale") -> int:
    with db.session_scope() as session:
        return tagging.create_tag(
            session, shop_id=shop.id, body=TagCreate(name=name), actor="test"
        ).id


def test_two_bulk_runs_over_the_same_friends_tag_each_once_and_neither_fails(
    db: Database, shop: Shop
) -> None:
    with db.session_scope() as session:
        channel_pk = create_channel(
            session,
            shop=session.get_one(Shop, shop.id),
            name="Main",
            line_channel_id="1650000001",
            channel_secret="s" * 32,
            access_token="t" * 40,
        ).id
    tag_id = _tag(db, shop)
    friend_ids = [add_friend(db, channel_pk, f"U{n:032x}") for n in range(1, 41)]

    def tag_all(session: Session) -> BulkOutcome:
        tag = tagging.get_tag(session, shop_id=shop.id, tag_id=tag_id)
        return tagging.tag_many(session, tag=tag, friend_ids=friend_ids, add=True, source="test")

    first, second = while_held(db, tag_all, tag_all)

    assert first == BulkOutcome(changed=40, unchanged=0)
    assert second == BulkOutcome(changed=0, unchanged=40)
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(FriendTagEvent)) == 40


def test_two_requests_creating_the_same_tag_make_one_and_the_second_is_told_why(
    db: Database, shop: Shop
) -> None:
    def create(session: Session) -> int:
        body = TagCreate(name="新規", colour="blue")
        return tagging.create_tag(session, shop_id=shop.id, body=body, actor="test").id

    first, second = while_held(db, create, create)

    assert isinstance(first, int)
    assert isinstance(second, tagging.TagExists)
    with db.session_scope() as session:
        assert session.scalars(select(Tag.name)).all() == ["新規"]
