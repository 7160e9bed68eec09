"""The inbox counts (per view, status and mark) stay what the conversations say through every
kind of change: a new conversation, a status, an assignee, a mark, a deleted mark, a snooze
that ends, and a bulk update made without the services. The database keeps them counted as the
rows change (``inbox_counts``); each check here counts the conversations one by one instead.
A search lists and counts what it finds in messages, notes and names, in the shop only."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop, create_channel
from idlink.models import ConversationMessage, Friend
from inbox import conversations, library, queries
from inbox import notes as inbox_notes
from inbox.models import Conversation, ConversationStatus
from inbox.schemas import Counts, InboxFilters, MarkIn, NoteIn, View
from staff.models import Role, StaffUser
from tests.api.admin_support import add_friend
from tests.console.support import add_staff
from tests.factories import ChannelSetup, make_shop

pytestmark = pytest.mark.fast


def _second_channel(db: Database, shop: Shop) -> tuple[int, str]:
    """Another channel of ``shop`` (no sandbox behind it: nothing is sent here)."""
    line_channel_id = str(secrets.randbelow(9 * 10**9) + 10**9)
    with db.session_scope() as session:
        channel = create_channel(
            session,
            shop=session.get_one(Shop, shop.id),
            name="Second account",
            line_channel_id=line_channel_id,
            channel_secret=secrets.token_hex(16),
            access_token=secrets.token_urlsafe(32),
        )
        return channel.id, line_channel_id


def _conversations(
    db: Database, channel_pk: int, how_many: int, *, names: Sequence[str | None] = ()
) -> list[int]:
    ids = []
    for n in range(how_many):
        name = names[n] if n < len(names) else None
        friend_id = add_friend(db, channel_pk, "U" + secrets.token_hex(16), display_name=name)
        with db.session_scope() as session:
            ids.append(
                conversations.conversation_of(session, session.get_one(Friend, friend_id)).id
            )
    return ids


def _counted_one_by_one(
    session: Session, shop_id: int, view: View, staff_id: int, channel_pks: Sequence[int] | None
) -> Counts:
    """The counts as the list defines them, from each conversation of the shop."""
    query = select(Conversation).where(Conversation.shop_id == shop_id)
    if channel_pks is not None:
        query = query.where(Conversation.channel_id.in_(channel_pks))
    rows = list(session.scalars(query))

    def inside(c: Conversation, v: View) -> bool:
        if v == View.MINE:
            return c.assignee_id == staff_id
        return c.assignee_id is None if v == View.UNASSIGNED else True

    in_view = [c for c in rows if inside(c, view)]
    marks: dict[int, int] = {}
    for c in in_view:
        if c.mark_id is not None:
            marks[c.mark_id] = marks.get(c.mark_id, 0) + 1
    return Counts(
        views={
            v.value: sum(1 for c in rows if c.status != "resolved" and inside(c, v)) for v in View
        },
        statuses={s.value: sum(1 for c in in_view if c.status == s) for s in ConversationStatus},
        marks=marks,
    )


def _assert_counts_match(
    db: Database,
    shop: Shop,
    staff_id: int,
    *,
    channel_scope: Sequence[str] | None = None,
    channel_pks: Sequence[int] | None = None,
) -> None:
    with db.session_scope() as session:
        for view in View:
            listed = queries.list_conversations(
                session,
                shop.id,
                InboxFilters(view=view),
                staff_id=staff_id,
                channel_scope=channel_scope,
            )
            expected = _counted_one_by_one(session, shop.id, view, staff_id, channel_pks)
            assert listed.counts == expected, view


def test_the_counts_follow_every_change_to_the_conversations(
    db: Database, shop: Shop, channel: ChannelSetup
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    add_staff(db, shop, "ren@example.jp", Role.OPERATOR)
    second_pk, _ = _second_channel(db, shop)
    with db.session_scope() as session:
        aoi = session.scalars(select(StaffUser.id).where(StaffUser.email == "aoi@example.jp")).one()
        urgent, vip = (
            library.add_mark(session, shop_id=shop.id, body=MarkIn(name=name), actor="t").id
            for name in ("要確認", "VIP")
        )
    first = _conversations(db, channel.channel_pk, 6)
    second = _conversations(db, second_pk, 2)
    _assert_counts_match(db, shop, aoi)

    with db.session_scope() as session:
        conversations.assign(
            session, session.get_one(Conversation, first[0]), email="aoi@example.jp", actor="t"
        )
        conversations.assign(
            session, session.get_one(Conversation, first[1]), email="aoi@example.jp", actor="t"
        )
        conversations.assign(
            session, session.get_one(Conversation, first[2]), email="ren@example.jp", actor="t"
        )
        conversations.assign(
            session, session.get_one(Conversation, second[0]), email="aoi@example.jp", actor="t"
        )
        conversations.set_status(
            session,
            session.get_one(Conversation, first[1]),
            status=ConversationStatus.RESOLVED,
            actor="t",
        )
        conversations.set_status(
            session,
            session.get_one(Conversation, first[3]),
            status=ConversationStatus.OPEN,
            actor="t",
        )
        conversations.set_mark(
            session, session.get_one(Conversation, first[0]), mark_id=urgent, actor="t"
        )
        conversations.set_mark(
            session, session.get_one(Conversation, first[1]), mark_id=urgent, actor="t"
        )
        conversations.set_mark(
            session, session.get_one(Conversation, first[4]), mark_id=vip, actor="t"
        )
        conversations.set_mark(
            session, session.get_one(Conversation, second[1]), mark_id=vip, actor="t"
        )
    _assert_counts_match(db, shop, aoi)

    with db.session_scope() as session:
        conversations.assign(
            session, session.get_one(Conversation, first[0]), email="ren@example.jp", actor="t"
        )
        conversations.assign(
            session, session.get_one(Conversation, first[2]), email=None, actor="t"
        )
        conversations.set_mark(
            session, session.get_one(Conversation, first[4]), mark_id=urgent, actor="t"
        )
        conversations.set_status(
            session,
            session.get_one(Conversation, first[5]),
            status=ConversationStatus.SNOOZED,
            actor="t",
            snoozed_until=utcnow() + timedelta(minutes=5),
        )
        library.delete_mark(session, shop_id=shop.id, mark_id=urgent, actor="t")
    _assert_counts_match(db, shop, aoi)

    with db.session_scope() as session:
        assert conversations.wake_snoozed(session, now=utcnow() + timedelta(minutes=10)) == 1
        session.execute(
            update(Conversation)
            .where(Conversation.channel_id == channel.channel_pk)
            .values(status=ConversationStatus.RESOLVED, assignee_id=aoi)
        )
    _assert_counts_match(db, shop, aoi)


def test_staff_limited_to_a_channel_count_only_its_conversations(
    db: Database, shop: Shop, channel: ChannelSetup
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    second_pk, second_line_id = _second_channel(db, shop)
    _conversations(db, channel.channel_pk, 3)
    _conversations(db, second_pk, 2)
    with db.session_scope() as session:
        aoi = session.scalars(select(StaffUser.id).where(StaffUser.email == "aoi@example.jp")).one()
        page = queries.list_conversations(
            session, shop.id, InboxFilters(), staff_id=aoi, channel_scope=[second_line_id]
        )
    assert page.counts.views == {"mine": 0, "unassigned": 2, "all": 2}
    _assert_counts_match(db, shop, aoi, channel_scope=[second_line_id], channel_pks=[second_pk])


def _wrote(session: Session, conversation: Conversation, text: str) -> None:
    session.add(
        ConversationMessage(
            shop_id=conversation.shop_id,
            friend_id=conversation.friend_id,
            direction="in",
            message_type="text",
            text=text,
            payload={},
            line_message_id=secrets.token_hex(8),
            occurred_at=utcnow(),
        )
    )


def test_a_search_lists_and_counts_what_it_finds_in_messages_notes_and_names(
    db: Database, shop: Shop, channel: ChannelSetup
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    names = (None, None, "駐車場 太郎", None, None, None)
    ids = _conversations(db, channel.channel_pk, 6, names=names)
    elsewhere_pk, _ = _second_channel(db, make_shop(db))
    (elsewhere,) = _conversations(db, elsewhere_pk, 1)
    start = utcnow() - timedelta(hours=1)
    with db.session_scope() as session:
        aoi = session.scalars(select(StaffUser.id).where(StaffUser.email == "aoi@example.jp")).one()
        rows = [session.get_one(Conversation, i) for i in ids]
        for minutes, row in enumerate(rows):
            row.last_message_at = start + timedelta(minutes=minutes)
        _wrote(session, rows[0], "駐車場はありますか")
        inbox_notes.add_note(
            session, conversation=rows[1], body=NoteIn(body="駐車場の件"), author="t"
        )
        _wrote(session, rows[3], "予約を変更したい")
        _wrote(session, rows[4], "近くの駐車場")
        _wrote(session, session.get_one(Conversation, elsewhere), "駐車場")
        conversations.assign(session, rows[4], email="aoi@example.jp", actor="t")
        conversations.set_status(session, rows[4], status=ConversationStatus.RESOLVED, actor="t")
        conversations.assign(session, rows[0], email="aoi@example.jp", actor="t")
    found = [ids[4], ids[2], ids[1], ids[0]]  # newest activity first

    with db.session_scope() as session:
        for filters, listed_ids in (
            (InboxFilters(q="駐車場"), found),
            (InboxFilters(q=" 駐車場 ", view=View.MINE), [ids[4], ids[0]]),
            (InboxFilters(q="駐車場", view=View.UNASSIGNED), [ids[2], ids[1]]),
            (InboxFilters(q="駐車場", status=ConversationStatus.NEW), [ids[2], ids[1], ids[0]]),
            (InboxFilters(q="駐車場", limit=2), found[:2]),
            (InboxFilters(q="存在しない言葉"), []),
        ):
            page = queries.list_conversations(session, shop.id, filters, staff_id=aoi)
            assert [c.id for c in page.items] == listed_ids, filters
        everything = queries.list_conversations(
            session, shop.id, InboxFilters(q="駐車場", view=View.MINE), staff_id=aoi
        )
    assert everything.counts == Counts(
        views={"mine": 1, "unassigned": 2, "all": 3},
        statuses={"new": 1, "open": 0, "resolved": 1, "snoozed": 0},
        marks={},
    )
