"""Tag rules: save them, find the active ones for an event, and act.

``fire`` is the one place a rule acts: it records a hit per (rule, friend, event key) with
``ON CONFLICT DO NOTHING`` and changes tags only for the hits it inserted, so an event read
twice (a webhook re-delivered, a feed read again after its look-back, two workers) acts once.
The friend's tag history names the rule (``rule:<name>``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.db import insert
from core.errors import Conflict, NotFound
from growth.tagrules.models import TagRule, TagRuleHit
from growth.tagrules.schemas import TagRuleSpec
from idlink import tagging
from idlink.models import Tag

KEY_LENGTH = 120


class TagRuleNotFound(NotFound):
    """No tag rule with this id or name in the shop."""


class TagRuleExists(Conflict):
    """The shop already has a tag rule by this name."""


def get_rule(session: Session, *, shop_id: int, rule_id: int) -> TagRule:
    rule = session.get(TagRule, rule_id)
    if rule is None or rule.shop_id != shop_id:
        raise TagRuleNotFound(f"no tag rule {rule_id} in this shop: GET /tag-rules lists them")
    return rule


def find_rule(session: Session, *, shop_id: int, name: str) -> TagRule | None:
    return session.scalar(select(TagRule).where(TagRule.shop_id == shop_id, TagRule.name == name))


def spec_of(rule: TagRule) -> TagRuleSpec:
    return TagRuleSpec(
        name=rule.name,
        trigger=rule.trigger,
        add=rule.add_tags,
        remove=rule.remove_tags,
        active=rule.active,
    )


def save_rule(
    session: Session,
    *,
    shop_id: int,
    spec: TagRuleSpec,
    actor: str,
    rule: TagRule | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> TagRule:
    """Create a rule, or change ``rule``; audited. A rule made (or switched back on, or given
    another trigger) acts on events from now on, not on the past."""
    now = now or utcnow()
    other = find_rule(session, shop_id=shop_id, name=spec.name)
    if other is not None and other is not rule:
        raise TagRuleExists(f"the shop already has a tag rule named {spec.name!r}")
    trigger = spec.trigger.model_dump(mode="json", exclude_defaults=True)
    trigger["event"] = spec.trigger.event
    if rule is None:
        rule = TagRule(shop_id=shop_id, created_at=now, active_since=now)
        session.add(rule)
    elif (spec.active and not rule.active) or trigger != rule.trigger:
        rule.active_since = now
    rule.name, rule.trigger, rule.active = spec.name, trigger, spec.active
    rule.add_tags, rule.remove_tags = list(spec.add), list(spec.remove)
    rule.updated_at = now
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="tag_rule.saved",
        subject_type="tag_rule",
        subject_id=rule.id,
        ip=ip,
        now=now,
        **spec.model_dump(mode="json"),
    )
    return rule


def delete_rule(session: Session, *, rule: TagRule, actor: str, ip: str | None = None) -> None:
    """Delete the rule and its hits (tags it gave stay, and so does their history)."""
    audit.record(
        session,
        shop_id=rule.shop_id,
        actor=actor,
        action="tag_rule.deleted",
        subject_type="tag_rule",
        subject_id=rule.id,
        ip=ip,
        name=rule.name,
    )
    session.execute(TagRuleHit.__table__.delete().where(TagRuleHit.rule_id == rule.id))
    session.delete(rule)
    session.flush()


def active_rules(session: Session, shop_id: int, *kinds: str) -> list[TagRule]:
    """The shop's active rules triggered by any of ``kinds`` (a shop has tens of rules)."""
    rules = session.scalars(
        select(TagRule)
        .where(TagRule.shop_id == shop_id, TagRule.active.is_(True))
        .order_by(TagRule.id)
    ).all()
    return [r for r in rules if r.trigger.get("event") in kinds]


def all_active(session: Session, *kinds: str) -> list[TagRule]:
    """Every shop's active rules triggered by any of ``kinds`` (the scheduled feeds)."""
    rules = session.scalars(
        select(TagRule).where(TagRule.active.is_(True)).order_by(TagRule.id)
    ).all()
    return [r for r in rules if r.trigger.get("event") in kinds]


def fire(
    session: Session,
    *,
    rule: TagRule,
    hits: Iterable[tuple[int, str]],
    now: datetime | None = None,
) -> int:
    """Act on each (friend id, event key) the rule has not acted on yet; return how many."""
    now = now or utcnow()
    values: list[dict[str, Any]] = [
        {
            "shop_id": rule.shop_id,
            "rule_id": rule.id,
            "friend_id": f,
            "event_key": event_key(k),
            "at": now,
        }
        for f, k in dict.fromkeys(hits)
    ]
    if not values:
        return 0
    # In friend order: two workers firing the same events take the unique index's locks alike.
    values.sort(key=lambda v: (v["friend_id"], v["event_key"]))
    statement = (
        insert(session, TagRuleHit)
        .on_conflict_do_nothing(index_elements=["rule_id", "friend_id", "event_key"])
        .returning(TagRuleHit.friend_id)
    )
    friend_ids = sorted(set(session.scalars(statement, values)))
    if not friend_ids:
        return 0
    source = f"rule:{rule.name}"
    for name in rule.add_tags:
        tagging.tag_many(
            session,
            tag=_tag(session, rule.shop_id, name),
            friend_ids=friend_ids,
            add=True,
            source=source,
        )
    for name in rule.remove_tags:
        tag = tagging.find_tag(session, shop_id=rule.shop_id, name=name)
        if tag is not None:
            tagging.tag_many(session, tag=tag, friend_ids=friend_ids, add=False, source=source)
    return len(friend_ids)


def event_key(key: str) -> str:
    """The key as stored (at most 120 characters): a longer one (a long form answer) keeps its
    start and a hash of the whole, so two long keys never collide."""
    if len(key) <= KEY_LENGTH:
        return key
    return f"{key[: KEY_LENGTH - 65]}#{hashlib.sha256(key.encode()).hexdigest()}"


def _tag(session: Session, shop_id: int, name: str) -> Tag:
    """The shop's tag ``name``, made on first use (as a click's or a route's tag is)."""
    tag = tagging.find_tag(session, shop_id=shop_id, name=name)
    if tag is None:
        statement = insert(session, Tag).values(shop_id=shop_id, name=name, created_at=utcnow())
        session.execute(statement.on_conflict_do_nothing(index_elements=["shop_id", "name"]))
        tag = tagging.find_tag(session, shop_id=shop_id, name=name)
        assert tag is not None
    return tag


@tagging.names_tags("tag rules")
def _rename_tag(session: Session, shop_id: int, old: str, new: str) -> int:
    changed = 0
    for rule in session.scalars(select(TagRule).where(TagRule.shop_id == shop_id)):
        tags = {"add": rule.add_tags, "remove": rule.remove_tags}
        renamed, count = tagging.renamed_tree(tags, frozenset(tags), old, new)
        if count:
            rule.add_tags, rule.remove_tags = renamed["add"], renamed["remove"]
            changed += 1
    return changed
