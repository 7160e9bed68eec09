"""Rich menus by segment: each friend sees the menu of the first segment they are in.

A channel's rules (segment → rich menu, in priority order) decide first; a friend in none of
the segments gets the link-status menu (``member_rich_menu_id`` when linked, else
``guest_rich_menu_id``, else the channel's default). The beat task ``messaging.rich_menus``
computes every followed friend's target menu in one SQL query, compares it with the menu last
applied (``FriendRichMenu``) and sends only the changes, grouped by menu, through LINE's bulk
link and unlink (at most 500 users per request). What LINE accepted is recorded per request,
so a failure part-way leaves the rest for the next run.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, case, delete, exists, literal, null, select
from sqlalchemy.orm import Session

from config import Settings
from connectors.errors import FatalError, RetriableError
from connectors.line.client import MAX_BULK_USERS, LineClient
from core import audit
from core.clock import utcnow
from core.db import insert
from core.tenancy import Channel
from idlink import service as idlink_service
from idlink.models import Friend, FriendStatus, MemberLink
from messaging.rich_menus.models import FriendRichMenu, RichMenuRule
from messaging.rich_menus.schemas import RichMenuRulesSpec
from messaging.segments import segments
from messaging.segments.models import Segment

log = logging.getLogger(__name__)


def save_rules(
    session: Session,
    *,
    shop_id: int,
    channel: Channel,
    spec: RichMenuRulesSpec,
    actor: str,
    now: datetime | None = None,
) -> list[RichMenuRule]:
    """Replace the channel's rules with the spec's, in its order; every segment must exist."""
    rules = [
        RichMenuRule(
            shop_id=shop_id,
            channel_id=channel.id,
            priority=priority,
            segment_id=segments.get(session, shop_id=shop_id, name=rule.segment).id,
            rich_menu_id=rule.rich_menu_id,
        )
        for priority, rule in enumerate(spec.rules, start=1)
    ]
    session.execute(delete(RichMenuRule).where(RichMenuRule.channel_id == channel.id))
    session.add_all(rules)
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="channel.rich_menu_rules_set",
        subject_type="channel",
        subject_id=channel.id,
        now=now,
        rules=[r.model_dump() for r in spec.rules],
    )
    return rules


def rules_of(session: Session, channel: Channel) -> list[tuple[RichMenuRule, Segment]]:
    """The channel's rules with their segments, first match first."""
    rows = session.execute(
        select(RichMenuRule, Segment)
        .join(Segment, Segment.id == RichMenuRule.segment_id)
        .where(RichMenuRule.channel_id == channel.id)
        .order_by(RichMenuRule.priority)
    )
    return [(rule, segment) for rule, segment in rows]


def target_menu(
    session: Session, *, channel: Channel, now: datetime | None = None
) -> ColumnElement[str | None]:
    """SQL for the menu a ``Friend`` row of the channel should see (NULL: the default menu)."""
    whens = [
        (
            Friend.id.in_(segments.audience(session, segment=segment, channel=channel, now=now)),
            literal(rule.rich_menu_id, String),
        )
        for rule, segment in rules_of(session, channel)
    ]
    linked = exists(
        select(MemberLink.id).where(
            MemberLink.friend_id == Friend.id, MemberLink.unlinked_at.is_(None)
        )
    )
    by_link = case(
        (linked, _menu(channel.member_rich_menu_id)), else_=_menu(channel.guest_rich_menu_id)
    )
    return case(*whens, else_=by_link) if whens else by_link


def _menu(rich_menu_id: str | None) -> ColumnElement[Any]:
    return literal(rich_menu_id, String) if rich_menu_id else null()


@dataclass(slots=True)
class SyncResult:
    linked: int = 0
    unlinked: int = 0
    requests: int = 0
    refused: list[str] = field(default_factory=list)
    # Set when LINE could not be reached: the rest waits for the next run.
    interrupted: str | None = None

    def add(self, other: SyncResult) -> None:
        self.linked += other.linked
        self.unlinked += other.unlinked
        self.requests += other.requests
        self.refused.extend(other.refused)
        self.interrupted = self.interrupted or other.interrupted


def sync_all(session: Session, *, settings: Settings, now: datetime | None = None) -> SyncResult:
    """Sync every channel that has rich menu rules."""
    total = SyncResult()
    channel_ids = session.scalars(select(RichMenuRule.channel_id).distinct()).all()
    for channel_id in sorted(channel_ids):
        channel = session.get_one(Channel, channel_id)
        total.add(sync(session, channel=channel, settings=settings, now=now))
    return total


def sync(
    session: Session, *, channel: Channel, settings: Settings, now: datetime | None = None
) -> SyncResult:
    """Send the channel's changed menus in bulk requests and record what was applied."""
    now = now or utcnow()
    target = target_menu(session, channel=channel, now=now).label("target")
    wanted = (
        select(Friend.id.label("friend_id"), Friend.line_user_id, target)
        .where(Friend.channel_id == channel.id, Friend.status == FriendStatus.FOLLOWED)
        .subquery()
    )
    changed = session.execute(
        select(wanted.c.friend_id, wanted.c.line_user_id, wanted.c.target)
        .outerjoin(FriendRichMenu, FriendRichMenu.friend_id == wanted.c.friend_id)
        .where(
            (FriendRichMenu.friend_id.is_(None) & wanted.c.target.is_not(None))
            | FriendRichMenu.rich_menu_id.is_distinct_from(wanted.c.target)
        )
        .order_by(wanted.c.friend_id)
    ).all()
    by_menu: dict[str | None, list[tuple[int, str]]] = defaultdict(list)
    for friend_id, user_id, menu in changed:
        by_menu[menu].append((friend_id, user_id))
    client = idlink_service.line_client(channel, settings)
    result = SyncResult()
    for menu, friends in by_menu.items():
        for start in range(0, len(friends), MAX_BULK_USERS):
            chunk = friends[start : start + MAX_BULK_USERS]
            try:
                _apply(client, menu, [user_id for _, user_id in chunk])
            except FatalError as exc:
                log.warning("rich menu %s not applied on channel %s: %s", menu, channel.id, exc)
                result.refused.append(f"{menu}: {exc}")
                break
            except RetriableError as exc:
                result.interrupted = str(exc)
                return result
            _record(session, [friend_id for friend_id, _ in chunk], menu, now)
            result.requests += 1
            if menu is None:
                result.unlinked += len(chunk)
            else:
                result.linked += len(chunk)
    return result


def sync_friend(session: Session, *, friend_id: int, settings: Settings) -> str:
    """Show one friend their menu now (after a link or unlink); return what was done.

    Channels without rules keep the link-status behaviour of ``idlink.service.sync_rich_menu``.
    Raises RetriableError when LINE should be tried again.
    """
    friend = session.get(Friend, friend_id)
    if friend is None:
        return "friend gone"
    channel = session.get_one(Channel, friend.channel_id)
    if not rules_of(session, channel):
        return idlink_service.sync_rich_menu(session, friend_id=friend_id, settings=settings)
    now = utcnow()
    menu = session.scalar(
        select(target_menu(session, channel=channel, now=now)).where(Friend.id == friend.id)
    )
    try:
        _apply(idlink_service.line_client(channel, settings), menu, [friend.line_user_id])
    except FatalError as exc:
        log.warning("rich menu of friend %s not changed: %s", friend.id, exc)
        return f"refused: {exc}"
    _record(session, [friend.id], menu, now)
    return f"linked {menu}" if menu else "unlinked"


def _apply(client: LineClient, menu: str | None, user_ids: list[str]) -> None:
    if menu is None:
        client.bulk_unlink_rich_menus(user_ids)
    else:
        client.bulk_link_rich_menu(menu, user_ids)


def _record(session: Session, friend_ids: Collection[int], menu: str | None, now: datetime) -> None:
    statement = insert(session, FriendRichMenu)
    statement = statement.on_conflict_do_update(
        index_elements=["friend_id"],
        set_={"rich_menu_id": statement.excluded.rich_menu_id, "applied_at": now},
    )
    session.execute(
        statement,
        [{"friend_id": fid, "rich_menu_id": menu, "applied_at": now} for fid in friend_ids],
    )
