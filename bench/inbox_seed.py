"""A shop with a busy chat inbox, loaded fast (not timed): friends, one conversation each, their
messages, marks and staff, on PostgreSQL or SQLite.

Rows go in with multi-row ``INSERT``s of 5,000 (SQLAlchemy's insertmanyvalues on both backends),
in one transaction per table; the database is fresh, so the friends' ids follow their order.
Everything is deterministic from the conversation's number, so two runs load the same inbox.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from bench.fanout import ACCESS_TOKEN, CHANNEL_ID, CHANNEL_SECRET, open_bench_database, user_id

CHUNK = 5000
# The channel's bot, as LINE names it in every webhook's ``destination``.
BOT_USER_ID = "U" + "b07" * 10 + "00"
STAFF = ("owner@bench.example", "aoi@bench.example", "ren@bench.example", "mio@bench.example")
MARKS = ("要確認", "クレーム", "VIP", "折り返し")
# What friends write: common words (予約, 変更), some rarer ones, and a word nobody writes.
TEXTS = (
    "明日の予約を17時に変更できますか?",
    "駐車場はありますか",
    "注文した商品がまだ届きません",
    "ありがとうございました!",
    "営業時間を教えてください",
    "キャンセル料はかかりますか",
    "ポイントカードを失くしました",
    "ギフト用の包装はできますか",
)
# (status, share): most conversations are done; the rest wait or are being handled.
STATUSES = (("resolved", 0.6), ("new", 0.15), ("open", 0.15), ("snoozed", 0.1))


@dataclass(frozen=True, slots=True)
class Inbox:
    database: Any
    shop_id: int
    channel_pk: int
    staff: dict[str, int]
    marks: dict[str, int]
    conversations: int
    seconds: float


def fresh_database(url: str, name: str) -> Any:
    """Empty the bench database (a PostgreSQL database, or an SQLite file) and migrate it."""
    from tests.scratch import empty_database

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
    else:
        empty_database(url)
    return open_bench_database(url, name=name)


def _status(number: int) -> str:
    share = (number * 7919 % 1000) / 1000
    for status, part in STATUSES:
        if share < part:
            return status
        share -= part
    return STATUSES[0][0]


def _insert(database: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    with database.engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(table), rows[start : start + CHUNK])


def load(url: str, *, conversations: int, messages: int, name: str) -> Inbox:
    """A fresh database with ``conversations`` friends and conversations, ``messages`` messages
    each, four staff (the first an owner) and four marks: (the inbox, the seconds it took)."""
    from core.tenancy import Shop, create_channel, create_shop
    from idlink.models import ConversationMessage, Friend
    from inbox import library
    from inbox.models import Conversation
    from inbox.schemas import MarkIn
    from staff.models import Role
    from tests.console.support import add_staff

    started = time.perf_counter()
    database = fresh_database(url, name)
    with database.session_scope() as session:
        shop = create_shop(session, slug="bench", name="Bench shop")
        channel = create_channel(
            session,
            shop=session.get_one(Shop, shop.id),
            name="Bench",
            line_channel_id=CHANNEL_ID,
            channel_secret=CHANNEL_SECRET,
            access_token=ACCESS_TOKEN,
        )
        shop_id, channel_pk = shop.id, channel.id
        shop_row = session.get_one(Shop, shop_id)
    for number, email in enumerate(STAFF):
        add_staff(database, shop_row, email, Role.OWNER if number == 0 else Role.OPERATOR)
    with database.session_scope() as session:
        from staff.models import StaffUser

        staff = dict(session.execute(select(StaffUser.email, StaffUser.id)).all())
        marks = {
            mark: library.add_mark(
                session, shop_id=shop_id, body=MarkIn(name=mark), actor="bench"
            ).id
            for mark in MARKS
        }
    now = datetime.now(UTC).replace(microsecond=0)
    _insert(
        database,
        Friend,
        [
            {
                "shop_id": shop_id,
                "channel_id": channel_pk,
                "line_user_id": user_id(n),
                "status": "followed",
                "display_name": f"お客様{n}",
                "first_followed_at": now - timedelta(days=400),
                "created_at": now - timedelta(days=400),
            }
            for n in range(conversations)
        ],
    )
    with database.session_scope() as session:
        friend_ids = list(session.scalars(select(Friend.id).order_by(Friend.id)))
    rng = random.Random(7)
    staff_ids, mark_ids = list(staff.values()), list(marks.values())
    rows, message_rows = [], []
    for n, friend_id in enumerate(friend_ids):
        last = now - timedelta(seconds=rng.randrange(90 * 86400))
        status = _status(n)
        waiting = status in ("new", "open")
        rows.append(
            {
                "shop_id": shop_id,
                "channel_id": channel_pk,
                "friend_id": friend_id,
                "status": status,
                "status_changed_at": last,
                "assignee_id": staff_ids[n % 8] if n % 8 < len(staff_ids) else None,
                "mark_id": mark_ids[n % 5] if n % 5 < len(mark_ids) and n % 3 == 0 else None,
                "waiting_since": last if waiting else None,
                "last_message_at": last,
                "last_read_at": None if waiting else last,
                "snoozed_until": now + timedelta(days=1) if status == "snoozed" else None,
                "cycle_started_at": last,
                "created_at": last - timedelta(days=30),
            }
        )
        for k in range(messages):
            message_rows.append(
                {
                    "shop_id": shop_id,
                    "friend_id": friend_id,
                    "direction": "in",
                    "message_type": "text",
                    "text": TEXTS[(n + k) % len(TEXTS)],
                    "payload": {},
                    "line_message_id": f"{n}-{k}",
                    "occurred_at": last - timedelta(minutes=messages - k),
                    "created_at": last,
                }
            )
    _insert(database, Conversation, rows)
    _insert(database, ConversationMessage, message_rows)
    if database.engine.dialect.name == "postgresql":
        with database.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return Inbox(
        database=database,
        shop_id=shop_id,
        channel_pk=channel_pk,
        staff=staff,
        marks=marks,
        conversations=conversations,
        seconds=time.perf_counter() - started,
    )
