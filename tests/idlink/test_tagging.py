"""Tagging many friends at once while someone else tags the same friends."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from core.db import Database
from core.tenancy import Shop, create_channel
from idlink import tagging
from idlink.models import FriendTagEvent
from idlink.tag_schemas import TagCreate
from idlink.tagging import BulkOutcome
from tests.api.admin_support import add_friend


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
        tag_id = tagging.create_tag(
            session, shop_id=shop.id, body=TagCreate(name="sale"), actor="test"
        ).id
    friend_ids = [add_friend(db, channel_pk, f"U{n:032x}") for n in range(1, 41)]
    first_holding = threading.Event()
    outcomes: dict[str, BulkOutcome] = {}
    failures: list[BaseException] = []

    def run(name: str, *, hold: bool) -> None:
        try:
            if not hold:
                first_holding.wait(10)
            with db.session_scope() as session:
                tag = tagging.get_tag(session, shop_id=shop.id, tag_id=tag_id)
                outcomes[name] = tagging.tag_many(
                    session, tag=tag, friend_ids=friend_ids, add=True, source=name
                )
                if hold:
                    # Still uncommitted while the other run starts on the same friends.
                    first_holding.set()
                    time.sleep(0.5)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [
        threading.Thread(target=run, args=("first",), kwargs={"hold": True}),
        threading.Thread(target=run, args=("second",), kwargs={"hold": False}),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert failures == []
    assert outcomes["first"] == BulkOutcome(changed=40, unchanged=0)
    assert outcomes["second"] == BulkOutcome(changed=0, unchanged=40)
    with db.session_scope() as session:
        history = session.scalar(select(func.count()).select_from(FriendTagEvent))
    assert history == 40
