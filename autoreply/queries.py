"""Reads for auto-replies: a channel's rules and FAQ entries, hit counts, what a friend is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from autoreply.models import AutoReplyHit, AutoReplyRule, FaqEntry
from core.tenancy import Channel
from crm import fields
from idlink import tagging
from idlink.models import Friend, FriendTag, MemberLink, Tag
from inbox.models import Conversation
from messaging.outbox.models import Delivery


def rules(
    session: Session, shop_id: int, *, channel_id: int | None = None, enabled_only: bool = False
) -> Sequence[AutoReplyRule]:
    """The shop's rules (of one channel), highest priority first, then by name."""
    query = select(AutoReplyRule).where(AutoReplyRule.shop_id == shop_id)
    if channel_id is not None:
        query = query.where(AutoReplyRule.channel_id == channel_id)
    if enabled_only:
        query = query.where(AutoReplyRule.enabled.is_(True))
    return session.scalars(query.order_by(AutoReplyRule.priority.desc(), AutoReplyRule.name)).all()


def faq_entries(
    session: Session, shop_id: int, *, channel_id: int | None = None, enabled_only: bool = False
) -> Sequence[FaqEntry]:
    query = select(FaqEntry).where(FaqEntry.shop_id == shop_id)
    if channel_id is not None:
        query = query.where(FaqEntry.channel_id == channel_id)
    if enabled_only:
        query = query.where(FaqEntry.enabled.is_(True))
    return session.scalars(query.order_by(FaqEntry.name)).all()


def rule_hits(session: Session, shop_id: int) -> dict[int, int]:
    """rule id → how many times it answered."""
    rows = session.execute(
        select(AutoReplyHit.rule_id, func.count())
        .where(AutoReplyHit.shop_id == shop_id, AutoReplyHit.rule_id.is_not(None))
        .group_by(AutoReplyHit.rule_id)
    )
    return {rule_id: count for rule_id, count in rows if rule_id is not None}


def faq_hits(session: Session, shop_id: int) -> dict[int, int]:
    rows = session.execute(
        select(AutoReplyHit.faq_id, func.count())
        .where(AutoReplyHit.shop_id == shop_id, AutoReplyHit.faq_id.is_not(None))
        .group_by(AutoReplyHit.faq_id)
    )
    return {faq_id: count for faq_id, count in rows if faq_id is not None}


def channels(session: Session, shop_id: int) -> Sequence[Channel]:
    return session.scalars(
        select(Channel).where(Channel.shop_id == shop_id).order_by(Channel.id)
    ).all()


def recent_friends(
    session: Session, shop_id: int, line_channel_id: str, *, limit: int = 50
) -> list[tuple[int, str]]:
    """The channel's friends who wrote most recently (id, name): whom the tester offers."""
    rows = session.execute(
        select(Friend.id, Friend.display_name)
        .join(Conversation, Conversation.friend_id == Friend.id)
        .join(Channel, Channel.id == Conversation.channel_id)
        .where(Channel.shop_id == shop_id, Channel.line_channel_id == line_channel_id)
        .order_by(Conversation.last_message_at.desc().nulls_last(), Friend.id.desc())
        .limit(limit)
    )
    return [(friend_id, name or f"#{friend_id}") for friend_id, name in rows]


def channel_by_line_id(session: Session, shop_id: int, line_channel_id: str) -> Channel | None:
    return session.scalar(
        select(Channel).where(
            Channel.shop_id == shop_id, Channel.line_channel_id == line_channel_id
        )
    )


@dataclass(frozen=True, slots=True)
class FriendFacts:
    """What a rule's conditions look at."""

    tags: frozenset[str]
    fields: dict[str, str]
    linked: bool


def friend_facts(session: Session, shop_id: int, friend_id: int) -> FriendFacts:
    tags = session.scalars(
        select(Tag.name)
        .join(FriendTag, FriendTag.tag_id == Tag.id)
        .where(FriendTag.friend_id == friend_id)
    )
    values = fields.values_for(session, shop_id, [friend_id]).get(friend_id, {})
    linked = session.scalar(
        select(exists().where(MemberLink.friend_id == friend_id, MemberLink.unlinked_at.is_(None)))
    )
    return FriendFacts(
        tags=frozenset(tags),
        fields={key: fields.shown(value) for key, value in values.items()},
        linked=bool(linked),
    )


def last_hit(session: Session, *, rule_id: int, friend_id: int) -> datetime | None:
    """When the rule last answered the friend (None: never)."""
    return session.scalar(
        select(func.max(AutoReplyHit.at)).where(
            AutoReplyHit.rule_id == rule_id, AutoReplyHit.friend_id == friend_id
        )
    )


def staff_wrote_since(session: Session, *, friend_id: int, since: datetime) -> bool:
    """Whether a staff member sent the friend a message after ``since``."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Delivery.friend_id == friend_id,
                    Delivery.source.startswith("staff:"),
                    Delivery.created_at > since,
                )
            )
        )
    )


def hit_of_event(session: Session, event_id: int) -> AutoReplyHit | None:
    return session.scalar(select(AutoReplyHit).where(AutoReplyHit.event_id == event_id))


def rules_version(session: Session, channel_id: int) -> tuple[int, datetime | None]:
    """How many rules the channel has and when the newest change was: any save or delete
    changes it."""
    count, newest = session.execute(
        select(func.count(), func.max(AutoReplyRule.updated_at)).where(
            AutoReplyRule.channel_id == channel_id
        )
    ).one()
    return count, newest


def faq_version(session: Session, channel_id: int) -> tuple[int, datetime | None]:
    count, newest = session.execute(
        select(func.count(), func.max(FaqEntry.updated_at)).where(FaqEntry.channel_id == channel_id)
    ).one()
    return count, newest


def channel_rules(session: Session, channel_id: int) -> Sequence[AutoReplyRule]:
    """The channel's enabled rules, highest priority first, then by name."""
    return session.scalars(
        select(AutoReplyRule)
        .where(AutoReplyRule.channel_id == channel_id, AutoReplyRule.enabled.is_(True))
        .order_by(AutoReplyRule.priority.desc(), AutoReplyRule.name)
    ).all()


def channel_faq(session: Session, channel_id: int) -> Sequence[FaqEntry]:
    return session.scalars(
        select(FaqEntry)
        .where(FaqEntry.channel_id == channel_id, FaqEntry.enabled.is_(True))
        .order_by(FaqEntry.name)
    ).all()


@tagging.names_tags("auto-reply rules")
def _rename_tag(session: Session, shop_id: int, old: str, new: str) -> int:
    rows = session.scalars(select(AutoReplyRule).where(AutoReplyRule.shop_id == shop_id))
    keys = frozenset({"tags", "without_tags", "add_tags", "remove_tags"})
    return tagging.rename_in_rows(rows, ("spec",), keys, old, new)
