"""Reads of the shop's tag rules: the list with how often each fired, and a rule's hits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.pagination import fetch_page
from growth.tagrules.models import TagRule, TagRuleHit
from growth.tagrules.schemas import TagRuleHitOut, TagRuleOut
from idlink.models import Friend


def rule_list(session: Session, shop_id: int) -> list[TagRuleOut]:
    """Every rule of the shop by name, with its number of hits and the last one's time."""
    hits = (
        select(
            TagRuleHit.rule_id,
            func.count().label("hits"),
            func.max(TagRuleHit.at).label("last"),
        )
        .where(TagRuleHit.shop_id == shop_id)
        .group_by(TagRuleHit.rule_id)
        .subquery()
    )
    rows = session.execute(
        select(TagRule, func.coalesce(hits.c.hits, 0), hits.c.last)
        .outerjoin(hits, hits.c.rule_id == TagRule.id)
        .where(TagRule.shop_id == shop_id)
        .order_by(TagRule.name)
    )
    return [rule_out(rule, count, last) for rule, count, last in rows]


def one_rule(session: Session, rule: TagRule) -> TagRuleOut:
    count, last = session.execute(
        select(func.count(), func.max(TagRuleHit.at)).where(TagRuleHit.rule_id == rule.id)
    ).one()
    return rule_out(rule, count, last)


def rule_out(rule: TagRule, hits: int, last: datetime | None) -> TagRuleOut:
    return TagRuleOut(
        id=rule.id,
        name=rule.name,
        trigger=rule.trigger,
        add=rule.add_tags,
        remove=rule.remove_tags,
        active=rule.active,
        active_since=rule.active_since,
        hits=hits,
        last_hit_at=last,
        updated_at=rule.updated_at,
    )


def rule_hits(
    session: Session, rule: TagRule, *, limit: int, cursor: str | None
) -> tuple[list[TagRuleHitOut], str | None]:
    """The rule's hits, newest first, with each friend's display name."""
    page, next_cursor = fetch_page(
        session,
        select(TagRuleHit).where(TagRuleHit.rule_id == rule.id),
        TagRuleHit.id,
        limit=limit,
        cursor=cursor,
    )
    names = dict(
        session.execute(
            select(Friend.id, Friend.display_name).where(
                Friend.id.in_({hit.friend_id for hit in page})
            )
        ).all()
    )
    items = [
        TagRuleHitOut(
            friend_id=hit.friend_id,
            display_name=names.get(hit.friend_id),
            event=hit.event_key,
            at=hit.at,
        )
        for hit in page
    ]
    return items, next_cursor
