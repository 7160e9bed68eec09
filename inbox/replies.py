"""Staff replies in a conversation: through the outbox, never twice.

A reply names the conversation version its author saw. If someone answered since (the version
moved on), the reply is refused with ``ReplyConflict`` and what was sent meanwhile; the author
sends it by confirming. A reply's key, made once by the composer, makes a double click, a retry
or a lost response plan nothing twice; on the wire the outbox sends pushes with LINE's retry
key, and answers with the friend's reply token (free) when one is fresh and unused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit
from core.clock import as_utc, utcnow
from core.db import rows_matched
from core.errors import Conflict
from core.tenancy import Channel
from idlink.models import Friend, FriendStatus
from inbox import conversations, library
from inbox.conversations import log_change
from inbox.live import signal
from inbox.models import Conversation, ConversationReply, ConversationStatus
from messaging.compose import templates
from messaging.compose.compose import Links, TemplateSend, friend_values, render_for
from messaging.direct import TEXT_MAX, FriendNotReachable, reply_is_free
from messaging.outbox import service
from messaging.outbox.models import Delivery

__all__ = [
    "FriendNotReachable",
    "ReplyConflict",
    "ReplyIn",
    "ReplyMeta",
    "ReplyOut",
    "send_messages",
    "send_reply",
]


class Sticker(BaseModel):
    package_id: str = Field(pattern=r"^[0-9]{1,20}$")
    sticker_id: str = Field(pattern=r"^[0-9]{1,20}$")


class ReplyMeta(BaseModel):
    """What every reply carries: the version its author saw, and its own key."""

    version: int = Field(ge=0, description="The conversation's `version` the author saw.")
    confirm: bool = Field(False, description="Send even if someone answered since `version`.")
    key: str = Field(
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="Unique per composed reply: posting it again sends nothing twice.",
    )


class ReplyIn(ReplyMeta):
    """A text or a sticker for the friend, the version its author saw, and its own key."""

    text: str | None = Field(None, max_length=TEXT_MAX)
    sticker: Sticker | None = None

    @model_validator(mode="after")
    def _one_message(self) -> ReplyIn:
        if self.text is not None and not self.text.strip():
            self.text = None
        if (self.text is None) == (self.sticker is None):
            raise ValueError("a reply is a non-empty text or a sticker")
        return self

    def messages(self) -> list[dict[str, Any]]:
        if self.sticker is not None:
            return [
                {
                    "type": "sticker",
                    "packageId": self.sticker.package_id,
                    "stickerId": self.sticker.sticker_id,
                }
            ]
        return [{"type": "text", "text": self.text}]

    def summary(self) -> str:
        return self.text if self.text is not None else "(sticker)"


class SentReply(BaseModel):
    author: str
    summary: str
    version: int
    at: str


class ReplyOut(BaseModel):
    delivery_id: int
    state: str
    duplicate: bool = Field(description="The key was used before: this is that reply.")
    free: bool = Field(description="A fresh reply token answers it (no quota counted).")
    version: int = Field(description="The conversation's version after this reply.")


class ReplyConflict(Conflict):
    """Someone answered the friend since the author's version: nothing was sent."""

    def __init__(self, sent: list[SentReply], version: int) -> None:
        self.sent, self.version = sent, version
        said = "; ".join(f"{s.author}: {s.summary[:80]}" for s in sent)
        super().__init__(
            f"someone answered since you opened the conversation ({said}); "
            f"send again with confirm=true and version={version} to send yours too"
        )


def replies_since(session: Session, conversation: Conversation, version: int) -> list[SentReply]:
    """The replies sent in the conversation after ``version``, oldest first."""
    rows = session.scalars(
        select(ConversationReply)
        .where(
            ConversationReply.conversation_id == conversation.id,
            ConversationReply.version > version,
        )
        .order_by(ConversationReply.version)
    )
    return [
        SentReply(
            author=r.author,
            summary=r.summary,
            version=r.version,
            at=as_utc(r.created_at).isoformat(),
        )
        for r in rows
    ]


def earlier_reply(session: Session, conversation: Conversation, key: str) -> ReplyOut | None:
    """The reply already made with this key (a second post of the same composer), if any."""
    earlier = session.scalar(
        select(ConversationReply).where(
            ConversationReply.shop_id == conversation.shop_id, ConversationReply.key == key
        )
    )
    return None if earlier is None else _out(session, earlier, duplicate=True)


def reachable_friend(session: Session, conversation: Conversation) -> Friend:
    """The conversation's friend, or FriendNotReachable when they blocked the channel."""
    friend = session.get_one(Friend, conversation.friend_id)
    if friend.status != FriendStatus.FOLLOWED:
        raise FriendNotReachable(
            "this friend blocked the channel: LINE would not deliver a message to them"
        )
    return friend


def send_reply(
    session: Session,
    *,
    conversation: Conversation,
    reply: ReplyIn,
    actor: str,
    lifetime: timedelta,
    public_url: str,
    ip: str | None = None,
) -> ReplyOut:
    """Plan the reply for the conversation's friend now (quiet hours do not hold a live answer).

    A reply of exactly ``/code`` sends that canned reply, its variables filled for the friend
    and its links tracked (``public_url`` is the hub's address they point at)."""
    earlier = earlier_reply(session, conversation, reply.key)
    if earlier is not None:
        return earlier
    friend = reachable_friend(session, conversation)
    canned = (
        None
        if reply.text is None
        else library.find_canned(session, shop_id=conversation.shop_id, text=reply.text)
    )
    messages, summary = reply.messages, reply.summary()
    if canned is not None:
        send = TemplateSend(
            channel=session.get_one(Channel, conversation.channel_id),
            template=library.canned_template(canned.body),
            source=actor[:100],
            links=Links(public_url=public_url),
            due_at=utcnow(),
        )
        key = delivery_key(conversation, reply.key)
        shown = templates.render(
            send.template, values=friend_values(session, [friend.id]).get(friend.id, {})
        )
        summary = str(shown[0]["text"])

        def messages() -> list[dict[str, Any]]:
            return render_for(session, send, friend_id=friend.id, key=key)

    return send_messages(
        session,
        conversation=conversation,
        friend=friend,
        meta=reply,
        messages=messages,
        summary=summary,
        actor=actor,
        lifetime=lifetime,
        ip=ip,
    )


def delivery_key(conversation: Conversation, key: str) -> str:
    """The outbox key of the reply made with the composer's ``key``."""
    return f"inbox:{conversation.shop_id}:{key}"


def send_messages(
    session: Session,
    *,
    conversation: Conversation,
    friend: Friend,
    meta: ReplyMeta,
    messages: Callable[[], list[dict[str, Any]]],
    summary: str,
    actor: str,
    lifetime: timedelta,
    ip: str | None = None,
) -> ReplyOut:
    """Take the conversation's next version (or ReplyConflict), then plan what ``messages``
    makes — only then, so a refused reply leaves nothing behind — under the reply's key."""
    version = _take_version(session, conversation, meta)
    free = reply_is_free(session, friend, lifetime=lifetime)
    key = delivery_key(conversation, meta.key)
    service.plan(
        session,
        channel=session.get_one(Channel, conversation.channel_id),
        recipients=[friend.id],
        messages=messages(),
        idempotency_key_for=lambda _friend_id: key,
        due_at=utcnow(),
        source=actor[:100],
        respect_quiet_hours=False,
    )
    delivery_id = session.scalars(select(Delivery.id).where(Delivery.idempotency_key == key)).one()
    sent = ConversationReply(
        shop_id=conversation.shop_id,
        conversation_id=conversation.id,
        key=meta.key,
        delivery_id=delivery_id,
        author=actor[:200],
        version=version,
        summary=summary[:1000],
        free=free,
        created_at=utcnow(),
    )
    session.add(sent)
    _answered(session, conversation, actor)
    signal(session, conversation, "reply")
    audit.record(
        session,
        shop_id=conversation.shop_id,
        actor=actor,
        action="conversation.replied",
        subject_type="conversation",
        subject_id=conversation.id,
        delivery_id=delivery_id,
        free=free,
        confirmed=meta.confirm,
        ip=ip,
    )
    session.flush()
    return _out(session, sent, duplicate=False)


def _take_version(session: Session, conversation: Conversation, reply: ReplyMeta) -> int:
    """Move the conversation's version on by one, if it is still the one the author saw (or
    they confirmed); one conditional UPDATE, so of two replies at once only one gets through."""
    statement = update(Conversation).where(Conversation.id == conversation.id)
    if not reply.confirm:
        statement = statement.where(Conversation.version == reply.version)
    matched = rows_matched(
        session.execute(
            statement.values(version=Conversation.version + 1).execution_options(
                synchronize_session=False
            )
        )
    )
    session.refresh(conversation, ["version"])
    if matched == 0:
        raise ReplyConflict(
            replies_since(session, conversation, reply.version), conversation.version
        )
    return conversation.version


def _answered(session: Session, conversation: Conversation, actor: str) -> None:
    """The friend was answered: nobody waits; the first answer of the round is timed."""
    now = utcnow()
    if conversation.first_replied_at is None and conversation.cycle_started_at is not None:
        conversation.first_replied_at = now
        seconds = int((now - as_utc(conversation.cycle_started_at)).total_seconds())
        log_change(session, conversation, actor=actor, kind="first_reply", seconds=seconds)
    conversation.waiting_since = None
    if conversation.status == ConversationStatus.NEW:
        log_change(
            session,
            conversation,
            actor=actor,
            kind="status",
            before=conversation.status,
            after=ConversationStatus.OPEN,
        )
        conversation.status, conversation.status_changed_at = ConversationStatus.OPEN, now


def _out(session: Session, sent: ConversationReply, *, duplicate: bool) -> ReplyOut:
    delivery = session.get_one(Delivery, sent.delivery_id)
    return ReplyOut(
        delivery_id=sent.delivery_id,
        state=delivery.state,
        duplicate=duplicate,
        free=sent.free,
        version=sent.version,
    )


def record_sent_elsewhere(
    session: Session,
    *,
    friend: Friend,
    delivery_id: int,
    key: str,
    author: str,
    summary: str,
    free: bool,
) -> None:
    """A 1:1 message sent to the friend outside the inbox (from their chart) answers their
    conversation too: it moves the version on, so a reply written before it is warned."""
    conversation = conversations.conversation_of(session, friend)
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(version=Conversation.version + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(conversation, ["version"])
    session.add(
        ConversationReply(
            shop_id=conversation.shop_id,
            conversation_id=conversation.id,
            key=f"chart-{key}"[:64],
            delivery_id=delivery_id,
            author=author[:200],
            version=conversation.version,
            summary=summary[:1000],
            free=free,
            created_at=utcnow(),
        )
    )
    _answered(session, conversation, author)
    signal(session, conversation, "reply")
