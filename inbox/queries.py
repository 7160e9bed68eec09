"""Reads of the inbox: the conversation list with its counts, one conversation's timeline, and
the per-staff report. Handlers call these; they build no SQL themselves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from statistics import median
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from core.clock import as_utc
from core.errors import NotFound
from core.tenancy import Channel
from idlink.models import LAST_MESSAGE_NEVER, ConversationMessage, Friend
from inbox.models import (
    Conversation,
    ConversationChange,
    ConversationNote,
    ConversationStatus,
    InboxCount,
    InboxMark,
)
from inbox.schemas import (
    ConversationDetail,
    ConversationOut,
    ConversationPage,
    Counts,
    InboxFilters,
    MarkOut,
    StaffFigures,
    TimelineItem,
    View,
)
from messaging.outbox.models import Delivery, DeliveryContent
from staff.models import StaffUser

MEDIA_TYPES = frozenset({"image", "video", "audio", "file"})
# Newest activity first, never-written last: the expression of the conversations' list index.
LAST_ACTIVITY = func.coalesce(
    Conversation.last_message_at, literal_column(f"'{LAST_MESSAGE_NEVER}'")
)
NEWEST_FIRST = (LAST_ACTIVITY.desc(), Conversation.id.desc())
TIMELINE_LIMIT = 200


class ConversationNotFound(NotFound):
    """No such conversation in this shop (or in the staff member's channels)."""


def _scoped(shop_id: int, channel_scope: Sequence[str] | None) -> Select[Conversation]:
    query = select(Conversation).where(Conversation.shop_id == shop_id)
    if channel_scope is not None:
        query = query.where(
            Conversation.channel_id.in_(
                select(Channel.id).where(Channel.line_channel_id.in_(channel_scope))
            )
        )
    return query


def find_conversation(
    session: Session,
    shop_id: int,
    conversation_id: int,
    *,
    channel_scope: Sequence[str] | None = None,
) -> Conversation:
    found = session.scalar(
        _scoped(shop_id, channel_scope).where(Conversation.id == conversation_id)
    )
    if found is None:
        raise ConversationNotFound(f"no conversation {conversation_id} in this shop")
    return found


def _like(words: str) -> str:
    escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matching(query: Select[Conversation], shop_id: int, words: str) -> Select[Conversation]:
    """Conversations whose messages, notes or friend's name contain ``words``: a substring
    match, which finds Japanese (no word breaks to split on) on SQLite and PostgreSQL alike.

    The friends found in each kind of text are gathered first (one ``UNION``, each part served
    by its own index), and the conversations are those of these friends: a word few wrote
    costs a few index lookups, not a pass over the shop's conversations."""
    pattern = _like(words.strip())
    in_messages = select(ConversationMessage.friend_id).where(
        ConversationMessage.shop_id == shop_id,
        ConversationMessage.text.ilike(pattern, escape="\\"),
    )
    noted = aliased(Conversation)
    in_notes = (
        select(noted.friend_id)
        .join(ConversationNote, ConversationNote.conversation_id == noted.id)
        .where(
            ConversationNote.shop_id == shop_id,
            ConversationNote.body.ilike(pattern, escape="\\"),
        )
    )
    in_name = select(Friend.id).where(
        Friend.shop_id == shop_id, Friend.display_name.ilike(pattern, escape="\\")
    )
    return query.where(Conversation.friend_id.in_(union(in_messages, in_notes, in_name)))


def _narrowed(listed: Any, filters: InboxFilters, staff_id: int | None) -> list[Any]:
    """The conditions of the view, status and mark on ``listed``'s columns (``Conversation``,
    or the columns of a subquery of conversations)."""
    conditions = []
    if filters.view == View.MINE:
        conditions.append(listed.assignee_id == (staff_id or -1))
    elif filters.view == View.UNASSIGNED:
        conditions.append(listed.assignee_id.is_(None))
    if filters.status is not None:
        conditions.append(listed.status == filters.status)
    if filters.mark is not None:
        conditions.append(listed.mark_id == filters.mark)
    return conditions


def list_conversations(
    session: Session,
    shop_id: int,
    filters: InboxFilters,
    *,
    staff_id: int | None = None,
    channel_scope: Sequence[str] | None = None,
) -> ConversationPage:
    """The conversations of a view, newest activity first, with the counts of every view."""
    base = _scoped(shop_id, channel_scope)
    if filters.q and filters.q.strip():
        rows, groups = _searched(session, _matching(base, shop_id, filters.q), filters, staff_id)
    else:
        query = base.where(*_narrowed(Conversation, filters, staff_id))
        rows = list(session.scalars(query.order_by(*NEWEST_FIRST).limit(filters.limit)))
        groups = _kept_groups(session, shop_id, channel_scope)
    return ConversationPage(
        items=render(session, rows), counts=_counts(groups, filters.view, staff_id)
    )


def recent_friends(
    session: Session,
    shop_id: int,
    *,
    channel_scope: Sequence[str] | None = None,
    limit: int = 50,
) -> list[tuple[int, str]]:
    """The friends whose conversations moved last (id, name), newest first: whom a template's
    preview offers."""
    rows = session.execute(
        _scoped(shop_id, channel_scope)
        .join(Friend, Friend.id == Conversation.friend_id)
        .with_only_columns(Friend.id, Friend.display_name)
        .order_by(*NEWEST_FIRST)
        .limit(limit)
    )
    return [(friend_id, name or f"#{friend_id}") for friend_id, name in rows]


# (status, mark id or None, assignee id or None, conversations)
Group = tuple[str, int | None, int | None, int]


def _kept_groups(
    session: Session, shop_id: int, channel_scope: Sequence[str] | None
) -> list[Group]:
    """The conversations per status, mark and assignee, as the database keeps them counted
    (``InboxCount``): a read of at most statuses x marks x staff rows a channel, however
    many conversations the shop has."""
    total = func.sum(InboxCount.conversations)
    query = (
        select(InboxCount.status, InboxCount.mark_id, InboxCount.assignee_id, total)
        .where(InboxCount.shop_id == shop_id)
        .group_by(InboxCount.status, InboxCount.mark_id, InboxCount.assignee_id)
        .having(total != 0)
    )
    if channel_scope is not None:
        query = query.where(
            InboxCount.channel_id.in_(
                select(Channel.id).where(Channel.line_channel_id.in_(channel_scope))
            )
        )
    return [
        (status, mark_id or None, assignee_id or None, int(count))
        for status, mark_id, assignee_id, count in session.execute(query)
    ]


def _searched(
    session: Session, found: Select[Conversation], filters: InboxFilters, staff_id: int | None
) -> tuple[list[Conversation], list[Group]]:
    """A search's page and its counts from one pass over what it found: the conversations
    found (a common word finds tens of thousands) are gathered once, then grouped for the
    counts and sorted for the page in the same statement; the page's rows are read by id."""
    activity = LAST_ACTIVITY.label("activity")
    listed = found.with_only_columns(
        Conversation.id,
        Conversation.status,
        Conversation.mark_id,
        Conversation.assignee_id,
        activity,
    ).cte("found")
    page = (
        select(listed.c.id)
        .where(*_narrowed(listed.c, filters, staff_id))
        .order_by(listed.c.activity.desc(), listed.c.id.desc())
        .limit(filters.limit)
        .subquery()
    )
    no_text, no_id = cast(null(), String), cast(null(), Integer)
    per_group = select(
        listed.c.status, listed.c.mark_id, listed.c.assignee_id, func.count(), no_id
    ).group_by(listed.c.status, listed.c.mark_id, listed.c.assignee_id)
    on_page = select(no_text, no_id, no_id, no_id, page.c.id)
    groups: list[Group] = []
    ids: list[int] = []
    for status, mark_id, assignee_id, count, conversation_id in session.execute(
        union_all(per_group, on_page)
    ):
        if conversation_id is None:
            groups.append((status, mark_id, assignee_id, count))
        else:
            ids.append(conversation_id)
    if not ids:
        return [], groups
    rows = session.scalars(
        select(Conversation).where(Conversation.id.in_(ids)).order_by(*NEWEST_FIRST)
    )
    return list(rows), groups


def _counts(groups: Sequence[Group], view: View, staff_id: int | None) -> Counts:
    """The conversations not resolved per view, and per status and mark in ``view``, added up
    from the groups."""
    views = dict.fromkeys((v.value for v in View), 0)
    statuses = dict.fromkeys((s.value for s in ConversationStatus), 0)
    marks: dict[int, int] = {}
    for status, mark_id, assignee_id, count in groups:
        inside = {
            View.ALL: True,
            View.MINE: assignee_id is not None and assignee_id == staff_id,
            View.UNASSIGNED: assignee_id is None,
        }
        if status != ConversationStatus.RESOLVED:
            for name, counted in inside.items():
                views[name.value] += count if counted else 0
        if inside[view]:
            if status in statuses:
                statuses[status] += count
            if mark_id is not None:
                marks[mark_id] = marks.get(mark_id, 0) + count
    return Counts(views=views, statuses=statuses, marks=marks)


def render(session: Session, rows: Sequence[Conversation]) -> list[ConversationOut]:
    """The list rows: the friend's name, the mark, the assignee and the last message's text."""
    if not rows:
        return []
    friend_ids = [c.friend_id for c in rows]
    names = dict(
        session.execute(
            select(Friend.id, Friend.display_name).where(Friend.id.in_(friend_ids))
        ).all()
    )
    marks = {
        m.id: m
        for m in session.scalars(
            select(InboxMark).where(InboxMark.id.in_([c.mark_id for c in rows if c.mark_id]))
        )
    }
    emails = dict(
        session.execute(
            select(StaffUser.id, StaffUser.email).where(
                StaffUser.id.in_([c.assignee_id for c in rows if c.assignee_id])
            )
        ).all()
    )
    newest = (
        select(ConversationMessage.friend_id, func.max(ConversationMessage.id).label("id"))
        .where(ConversationMessage.friend_id.in_(friend_ids))
        .group_by(ConversationMessage.friend_id)
        .subquery()
    )
    previews = {
        friend_id: text or f"({kind})"
        for friend_id, text, kind in session.execute(
            select(
                ConversationMessage.friend_id,
                ConversationMessage.text,
                ConversationMessage.message_type,
            ).join(newest, newest.c.id == ConversationMessage.id)
        )
    }
    return [
        ConversationOut(
            id=c.id,
            friend_id=c.friend_id,
            friend_name=names.get(c.friend_id),
            status=ConversationStatus(c.status),
            mark=_mark_out(marks.get(c.mark_id)) if c.mark_id else None,
            assignee=emails.get(c.assignee_id) if c.assignee_id else None,
            version=c.version,
            unread=_unread(c),
            waiting_since=c.waiting_since,
            last_message_at=c.last_message_at,
            snoozed_until=c.snoozed_until,
            preview=(previews.get(c.friend_id) or "")[:120] or None,
        )
        for c in rows
    ]


def _mark_out(mark: InboxMark | None) -> MarkOut | None:
    return None if mark is None else MarkOut(id=mark.id, name=mark.name, colour=mark.colour)


def _unread(conversation: Conversation) -> bool:
    if conversation.last_message_at is None:
        return False
    if conversation.last_read_at is None:
        return True
    return as_utc(conversation.last_message_at) > as_utc(conversation.last_read_at)


def source_of(source: str) -> str:
    """What kind of sender a delivery's ``source`` names."""
    kind = source.split(":", 1)[0]
    return {
        "staff": "staff",
        "token": "api",
        "campaign": "campaign",
        "sequence": "sequence",
        "reminder": "reminder",
        "autoreply": "auto_reply",
        "auto_reply": "auto_reply",
        "faq": "auto_reply",
    }.get(kind, "other")


def _first_text(payload: list[dict[str, Any]] | None) -> tuple[str | None, str | None]:
    if not payload:
        return None, None
    first = payload[0]
    kind = str(first.get("type"))
    text = first.get("text") or first.get("altText")
    return kind, (str(text) if text else f"({kind})")


def _sent_image_path(payload: list[dict[str, Any]] | None) -> str | None:
    """The path of the preview of an image this hub sent (and serves), if the send is one."""
    first = payload[0] if payload else {}
    if first.get("type") != "image":
        return None
    path = urlsplit(str(first.get("previewImageUrl") or "")).path
    return path if path.startswith("/m/") else None


def detail(session: Session, conversation: Conversation) -> ConversationDetail:
    """The conversation and its timeline, oldest first: the friend's messages and postbacks,
    everything the hub sent them (labelled with its source), the notes and the changes."""
    items: list[TimelineItem] = []
    messages = session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.friend_id == conversation.friend_id)
        .order_by(ConversationMessage.occurred_at.desc(), ConversationMessage.id.desc())
        .limit(TIMELINE_LIMIT)
    )
    for m in messages:
        items.append(
            TimelineItem(
                kind="event" if m.direction == "event" else "message",
                id=m.id,
                at=m.occurred_at,
                direction="in" if m.direction == "in" else "none",
                message_type=m.message_type,
                text=m.text,
                media=m.message_type in MEDIA_TYPES,
            )
        )
    deliveries = session.execute(
        select(Delivery, DeliveryContent.payload)
        .join(DeliveryContent, DeliveryContent.content_hash == Delivery.content_hash)
        .where(
            Delivery.friend_id == conversation.friend_id, Delivery.shop_id == conversation.shop_id
        )
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(TIMELINE_LIMIT)
    )
    for delivery, payload in deliveries:
        kind, text = _first_text(payload)
        items.append(
            TimelineItem(
                kind="delivery",
                id=delivery.id,
                at=delivery.sent_at or delivery.created_at,
                direction="out",
                message_type=kind,
                text=text,
                source=source_of(delivery.source),
                author=delivery.source,
                state=delivery.state,
                image_path=_sent_image_path(payload),
            )
        )
    for note in session.scalars(
        select(ConversationNote)
        .where(ConversationNote.conversation_id == conversation.id)
        .order_by(ConversationNote.id.desc())
        .limit(TIMELINE_LIMIT)
    ):
        items.append(
            TimelineItem(
                kind="note", id=note.id, at=note.created_at, text=note.body, author=note.author
            )
        )
    for change in session.scalars(
        select(ConversationChange)
        .where(
            ConversationChange.conversation_id == conversation.id,
            ConversationChange.kind.in_(("status", "assignee", "mark")),
        )
        .order_by(ConversationChange.id.desc())
        .limit(TIMELINE_LIMIT)
    ):
        items.append(
            TimelineItem(
                kind="change",
                id=change.id,
                at=change.at,
                message_type=change.kind,
                text=f"{change.before or '—'} → {change.after or '—'}",
                author=change.actor,
            )
        )
    items.sort(key=lambda item: (as_utc(item.at), item.kind, item.id))
    return ConversationDetail(
        conversation=render(session, [conversation])[0], timeline=items[-TIMELINE_LIMIT:]
    )


def staff_report(
    session: Session, shop_id: int, *, since: datetime, until: datetime
) -> list[StaffFigures]:
    """Per staff member: first replies and resolutions in the period, with their medians."""
    rows = session.execute(
        select(
            ConversationChange.actor,
            ConversationChange.kind,
            ConversationChange.after,
            ConversationChange.seconds,
        ).where(
            ConversationChange.shop_id == shop_id,
            ConversationChange.at >= since,
            ConversationChange.at < until,
            ConversationChange.seconds.is_not(None),
            or_(
                ConversationChange.kind == "first_reply",
                and_(
                    ConversationChange.kind == "status",
                    ConversationChange.after == ConversationStatus.RESOLVED,
                ),
            ),
        )
    )
    replies: dict[str, list[int]] = {}
    resolves: dict[str, list[int]] = {}
    for actor, kind, _after, seconds in rows:
        if seconds is None:
            continue
        (replies if kind == "first_reply" else resolves).setdefault(actor, []).append(seconds)
    return [
        StaffFigures(
            actor=actor,
            first_replies=len(replies.get(actor, [])),
            median_first_reply_seconds=_median(replies.get(actor)),
            resolved=len(resolves.get(actor, [])),
            median_resolve_seconds=_median(resolves.get(actor)),
        )
        for actor in sorted(set(replies) | set(resolves))
    ]


def _median(values: list[int] | None) -> int | None:
    return int(median(values)) if values else None


def channel_ids_in_scope(
    session: Session, shop_id: int, channel_scope: Sequence[str] | None
) -> frozenset[int] | None:
    """The ids of the channels a staff member sees (None: all of the shop's)."""
    if channel_scope is None:
        return None
    return frozenset(
        session.scalars(
            select(Channel.id).where(
                Channel.shop_id == shop_id, Channel.line_channel_id.in_(channel_scope)
            )
        )
    )
