"""A conversation's life: the friend's messages open (or reopen) it, staff move it through
new → open → resolved (or snoozed), mark it, assign it and read it; each change is logged with
who made it, and the times staff care about (waiting since, first reply, resolve) are kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import as_utc, from_millis, utcnow
from core.db import insert
from core.enqueue import enqueue_after_commit
from core.errors import BadRequest, NotFound
from core.inbox import InboundEvent
from crm.models import FriendOwner
from idlink import friends
from idlink.models import Friend
from inbox.live import signal
from inbox.models import (
    Conversation,
    ConversationChange,
    ConversationStatus,
    InboxChannelSettings,
    InboxMark,
)
from staff.models import StaffRole, StaffUser

LINE = "line"


class NotShopStaff(BadRequest):
    """A conversation is assigned only to a staff member of its shop."""


class SnoozeNeedsTime(BadRequest):
    """Snoozing until a time needs that time in the future."""


def conversation_of(session: Session, friend: Friend) -> Conversation:
    """The friend's conversation, created (new, for the friend's owner) on first need.

    Inserted with ``ON CONFLICT DO NOTHING``: two messages processed at once find one row.
    """
    found = session.scalar(select(Conversation).where(Conversation.friend_id == friend.id))
    if found is not None:
        return found
    owner = session.scalar(
        select(FriendOwner.staff_user_id).where(FriendOwner.friend_id == friend.id)
    )
    now = utcnow()
    session.execute(
        insert(session, Conversation)
        .values(
            shop_id=friend.shop_id,
            channel_id=friend.channel_id,
            friend_id=friend.id,
            status=ConversationStatus.NEW,
            status_changed_at=now,
            assignee_id=owner,
            version=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["friend_id"])
    )
    return session.scalars(select(Conversation).where(Conversation.friend_id == friend.id)).one()


def log_change(
    session: Session,
    conversation: Conversation,
    *,
    actor: str,
    kind: str,
    before: Any = None,
    after: Any = None,
    seconds: int | None = None,
    now: datetime | None = None,
) -> None:
    session.add(
        ConversationChange(
            shop_id=conversation.shop_id,
            conversation_id=conversation.id,
            actor=actor[:200],
            kind=kind,
            before=None if before is None else str(before)[:200],
            after=None if after is None else str(after)[:200],
            seconds=seconds,
            at=now or utcnow(),
        )
    )


def _bump_last_message(session: Session, conversation: Conversation, at: datetime) -> None:
    session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation.id,
            (Conversation.last_message_at.is_(None)) | (Conversation.last_message_at < at),
        )
        .values(last_message_at=at)
        .execution_options(synchronize_session=False)
    )
    session.expire(conversation, ["last_message_at"])


def on_line_event(session: Session, event: InboundEvent) -> Conversation | None:
    """A friend's message (or postback) lands in their conversation; a message reopens it."""
    payload = event.payload
    user_id = (payload.get("source") or {}).get("userId")
    kind = event.event_type
    if kind not in ("message", "postback") or not user_id or event.channel_id is None:
        return None
    friend = session.scalar(
        select(Friend).where(Friend.channel_id == event.channel_id, Friend.line_user_id == user_id)
    )
    if friend is None or "timestamp" not in payload:
        return None
    at = from_millis(payload["timestamp"])
    conversation = conversation_of(session, friend)
    if kind == "postback":
        postback = payload.get("postback") or {}
        friends.record_message(
            session,
            friend=friend,
            direction="event",
            message={
                "id": f"postback:{payload.get('webhookEventId', event.id)}"[:64],
                "type": "postback",
                "text": str(postback.get("data", ""))[:300],
                "postback": postback,
            },
            occurred_at=at,
        )
        _bump_last_message(session, conversation, at)
        signal(session, conversation, "event")
        return conversation
    # The token of the newest message reads everything before it: an older message processed
    # late (a redelivery, another worker) keeps the newer one's.
    token = (payload.get("message") or {}).get("markAsReadToken")
    newest = conversation.last_message_at
    if token and (newest is None or at >= newest):
        conversation.read_token = str(token)[:200]
    note_incoming(session, conversation, at=at)
    return conversation


def note_incoming(session: Session, conversation: Conversation, *, at: datetime) -> None:
    """The friend wrote at ``at``: they wait for an answer; a resolved or snoozed conversation
    opens again as new (a message older than that change does not undo it)."""
    _bump_last_message(session, conversation, at)
    if conversation.waiting_since is None or as_utc(conversation.waiting_since) > at:
        conversation.waiting_since = at
    reopens = conversation.status in (ConversationStatus.RESOLVED, ConversationStatus.SNOOZED)
    if reopens and at >= as_utc(conversation.status_changed_at):
        log_change(
            session,
            conversation,
            actor=LINE,
            kind="status",
            before=conversation.status,
            after=ConversationStatus.NEW,
            now=at,
        )
        conversation.status = ConversationStatus.NEW
        conversation.status_changed_at = at
        conversation.snoozed_until = None
        conversation.cycle_started_at, conversation.first_replied_at = at, None
    elif conversation.cycle_started_at is None:
        conversation.cycle_started_at = at
    signal(session, conversation, "message")


def set_status(
    session: Session,
    conversation: Conversation,
    *,
    status: ConversationStatus,
    actor: str,
    snoozed_until: datetime | None = None,
    now: datetime | None = None,
) -> Conversation:
    """Move the conversation to ``status``; resolving records its time to resolve."""
    now = now or utcnow()
    future = snoozed_until is None or as_utc(snoozed_until) > now
    if status == ConversationStatus.SNOOZED and not future:
        raise SnoozeNeedsTime("a snooze's end must be in the future")
    if status == conversation.status and status != ConversationStatus.SNOOZED:
        return conversation
    seconds = None
    if status == ConversationStatus.RESOLVED:
        conversation.resolved_at, conversation.waiting_since = now, None
        if conversation.cycle_started_at is not None:
            seconds = int((now - as_utc(conversation.cycle_started_at)).total_seconds())
    if status == ConversationStatus.NEW:
        conversation.cycle_started_at, conversation.first_replied_at = now, None
    log_change(
        session,
        conversation,
        actor=actor,
        kind="status",
        before=conversation.status,
        after=status,
        seconds=seconds,
        now=now,
    )
    conversation.status, conversation.status_changed_at = status, now
    conversation.snoozed_until = snoozed_until if status == ConversationStatus.SNOOZED else None
    signal(session, conversation, "status")
    return conversation


def wake_snoozed(session: Session, *, now: datetime | None = None) -> int:
    """Snoozed conversations whose time came are new again; how many."""
    now = now or utcnow()
    due = session.scalars(
        select(Conversation).where(
            Conversation.status == ConversationStatus.SNOOZED,
            Conversation.snoozed_until.is_not(None),
            Conversation.snoozed_until <= now,
        )
    ).all()
    for conversation in due:
        set_status(session, conversation, status=ConversationStatus.NEW, actor="snooze", now=now)
    return len(due)


def assign(
    session: Session, conversation: Conversation, *, email: str | None, actor: str
) -> Conversation:
    """Give the conversation to a staff member of its shop (by email), or to nobody."""
    staff_id = None
    if email:
        staff_id = session.scalar(
            select(StaffUser.id)
            .join(StaffRole, StaffRole.user_id == StaffUser.id)
            .where(
                StaffRole.shop_id == conversation.shop_id,
                StaffUser.email == email.strip().lower(),
                StaffUser.disabled.is_(False),
            )
        )
        if staff_id is None:
            raise NotShopStaff(f"{email} is not a staff member of this shop")
    if staff_id == conversation.assignee_id:
        return conversation
    before = _email(session, conversation.assignee_id)
    log_change(session, conversation, actor=actor, kind="assignee", before=before, after=email)
    conversation.assignee_id = staff_id
    signal(session, conversation, "assignee")
    return conversation


def set_mark(
    session: Session, conversation: Conversation, *, mark_id: int | None, actor: str
) -> Conversation:
    """Put one of the shop's marks on the conversation, or take it off (None)."""
    mark = None
    if mark_id is not None:
        mark = session.get(InboxMark, mark_id)
        if mark is None or mark.shop_id != conversation.shop_id:
            raise NotFound("no such mark in this shop")
    if mark_id == conversation.mark_id:
        return conversation
    before = session.get(InboxMark, conversation.mark_id) if conversation.mark_id else None
    log_change(
        session,
        conversation,
        actor=actor,
        kind="mark",
        before=before.name if before else None,
        after=mark.name if mark else None,
    )
    conversation.mark_id = mark_id
    signal(session, conversation, "mark")
    return conversation


def mark_read(session: Session, conversation: Conversation, *, actor: str) -> bool:
    """Staff opened the conversation: it is read; when the channel reads manually, LINE is told
    (after commit, with the friend's newest markAsReadToken). True when LINE will be told."""
    conversation.last_read_at = utcnow()
    settings = session.get(InboxChannelSettings, conversation.channel_id)
    if settings is None or not settings.read_manually or not conversation.read_token:
        return False
    log_change(session, conversation, actor=actor, kind="read")
    enqueue_after_commit(session, "inbox.mark_read", conversation_id=conversation.id)
    return True


def _email(session: Session, staff_id: int | None) -> str | None:
    return session.get_one(StaffUser, staff_id).email if staff_id else None
