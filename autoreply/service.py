"""Saving rules and FAQ entries, trying a message against them, and answering a friend's
stored message event.

``on_line_event`` runs from the stored event, after the hub recorded the message and kept its
reply token: a text message from a followed friend, in an active channel (``mode: active``),
that is not a consent keyword, gets the answer ``matching.decide`` picks — once per event.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from autoreply import actions, matching, patterns, queries
from autoreply.models import AutoReplyRule, FaqEntry
from autoreply.schemas import (
    STORED,
    FaqOut,
    FaqScore,
    FaqSpec,
    RuleOut,
    RuleSpec,
    RuleVerdict,
    TriedFriend,
    TryIn,
    TryOut,
)
from config import Settings
from core import audit
from core.clock import from_millis, utcnow
from core.errors import Conflict, NotFound, Unprocessable
from core.inbox import InboundEvent
from core.tenancy import Channel
from crm import fields
from idlink.models import Friend, FriendStatus
from inbox import library as inbox_library
from messaging.compose import library, templates
from messaging.compose.templates import InvalidTemplate
from messaging.outbox import consent
from messaging.sequences import sequences

log = logging.getLogger(__name__)


class RuleNotFound(NotFound):
    """No auto-reply rule by that id in this shop."""


class FaqNotFound(NotFound):
    """No FAQ entry by that id in this shop."""


class UnknownChannel(NotFound):
    """The shop has no LINE channel with that id."""


class NameTaken(Conflict):
    """Another rule (or FAQ entry) of the shop has that name."""


class UnknownReference(Unprocessable):
    """The rule names a field, sequence or inbox mark the shop does not have."""


def channel_of(session: Session, shop_id: int, line_channel_id: str) -> Channel:
    channel = queries.channel_by_line_id(session, shop_id, line_channel_id)
    if channel is None:
        raise UnknownChannel(f"no LINE channel {line_channel_id} in this shop")
    return channel


# Rules


def get_rule(session: Session, *, shop_id: int, rule_id: int) -> AutoReplyRule:
    rule = session.get(AutoReplyRule, rule_id)
    if rule is None or rule.shop_id != shop_id:
        raise RuleNotFound(f"no auto-reply rule {rule_id} in this shop")
    return rule


def find_rule(session: Session, *, shop_id: int, name: str) -> AutoReplyRule | None:
    return session.scalar(
        select(AutoReplyRule).where(AutoReplyRule.shop_id == shop_id, AutoReplyRule.name == name)
    )


def named_rule(session: Session, *, shop_id: int, name: str) -> AutoReplyRule:
    rule = find_rule(session, shop_id=shop_id, name=name)
    if rule is None:
        raise RuleNotFound(f"no auto-reply rule {name!r} in this shop")
    return rule


def spec_of(rule: AutoReplyRule) -> RuleSpec:
    return RuleSpec.model_validate(rule.spec, context={STORED: True})


def _check_references(session: Session, shop_id: int, channel: Channel, spec: RuleSpec) -> None:
    if spec.actions.reply:
        _check_variables(session, shop_id, spec.name, spec.actions.reply)
    for key in [*spec.actions.set_fields, *spec.conditions.fields]:
        if fields.find(session, shop_id, key) is None:
            raise UnknownReference(f"rule {spec.name!r}: no custom field {key!r} in this shop")
    mark = spec.actions.mark
    if mark and inbox_library.mark_id(session, shop_id, mark) is None:
        raise UnknownReference(f"rule {spec.name!r}: no inbox mark {mark!r} in this shop")
    if spec.actions.sequence:
        sequence = sequences.find(session, shop_id=shop_id, name=spec.actions.sequence)
        if sequence is None or sequence.channel_id != channel.id:
            raise UnknownReference(
                f"rule {spec.name!r}: no sequence {spec.actions.sequence!r} on this channel"
            )


def _check_variables(
    session: Session, shop_id: int, name: str, messages: list[dict[str, Any]]
) -> None:
    """An answer's ``{{ variables }}`` are the friend's and the shop's fields, as in the
    composer's templates (``InvalidTemplate`` otherwise)."""
    try:
        templates.check(messages, available=library.available(session, shop_id))
    except InvalidTemplate as exc:
        raise InvalidTemplate(f"{name!r}: {exc.detail}") from exc


def save_rule(
    session: Session,
    *,
    shop_id: int,
    spec: RuleSpec,
    actor: str,
    rule: AutoReplyRule | None = None,
    ip: str | None = None,
) -> AutoReplyRule:
    """Create the rule (``rule`` None) or replace ``rule`` with ``spec``; audited."""
    channel = channel_of(session, shop_id, spec.channel)
    _check_references(session, shop_id, channel, spec)
    same_name = find_rule(session, shop_id=shop_id, name=spec.name)
    if same_name is not None and same_name is not rule:
        raise NameTaken(f"the shop has an auto-reply rule named {spec.name!r}")
    created = rule is None
    if rule is None:
        rule = AutoReplyRule(shop_id=shop_id)
        session.add(rule)
    rule.channel_id, rule.name, rule.enabled = channel.id, spec.name, spec.enabled
    rule.priority, rule.match, rule.pattern = spec.priority, spec.match, spec.pattern
    rule.spec = spec.model_dump(mode="json", exclude_defaults=True)
    rule.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="auto_reply_rule.created" if created else "auto_reply_rule.updated",
        subject_type="auto_reply_rule",
        subject_id=rule.id,
        name=rule.name,
        ip=ip,
    )
    return rule


def delete_rule(
    session: Session, *, rule: AutoReplyRule, actor: str, ip: str | None = None
) -> None:
    audit.record(
        session,
        shop_id=rule.shop_id,
        actor=actor,
        action="auto_reply_rule.deleted",
        subject_type="auto_reply_rule",
        subject_id=rule.id,
        name=rule.name,
        ip=ip,
    )
    session.delete(rule)
    session.flush()


def overlaps(session: Session, rule: AutoReplyRule) -> list[str]:
    """The channel's other enabled rules some message could match together with ``rule``."""
    if not rule.enabled:
        return []
    mine = patterns.sample(rule.match, rule.pattern)
    found = []
    for other in queries.rules(
        session, rule.shop_id, channel_id=rule.channel_id, enabled_only=True
    ):
        if other.id == rule.id:
            continue
        theirs = patterns.sample(other.match, other.pattern)
        if (mine is not None and patterns.matches(other.match, other.pattern, mine)) or (
            theirs is not None and patterns.matches(rule.match, rule.pattern, theirs)
        ):
            found.append(other.name)
    return found


def rule_out(session: Session, rule: AutoReplyRule, hits: dict[int, int]) -> RuleOut:
    channel = session.get_one(Channel, rule.channel_id)
    spec = spec_of(rule).model_copy(update={"channel": channel.line_channel_id})
    return RuleOut(
        **spec.model_dump(), id=rule.id, hits=hits.get(rule.id, 0), overlaps=overlaps(session, rule)
    )


def rule_list(session: Session, shop_id: int) -> list[RuleOut]:
    hits = queries.rule_hits(session, shop_id)
    return [rule_out(session, rule, hits) for rule in queries.rules(session, shop_id)]


# FAQ entries


def get_faq(session: Session, *, shop_id: int, faq_id: int) -> FaqEntry:
    entry = session.get(FaqEntry, faq_id)
    if entry is None or entry.shop_id != shop_id:
        raise FaqNotFound(f"no FAQ entry {faq_id} in this shop")
    return entry


def find_faq(session: Session, *, shop_id: int, name: str) -> FaqEntry | None:
    return session.scalar(
        select(FaqEntry).where(FaqEntry.shop_id == shop_id, FaqEntry.name == name)
    )


def named_faq(session: Session, *, shop_id: int, name: str) -> FaqEntry:
    entry = find_faq(session, shop_id=shop_id, name=name)
    if entry is None:
        raise FaqNotFound(f"no FAQ entry {name!r} in this shop")
    return entry


def faq_out(session: Session, entry: FaqEntry, hits: dict[int, int]) -> FaqOut:
    spec = faq_spec_of(session, entry)
    return FaqOut(**spec.model_dump(), id=entry.id, hits=hits.get(entry.id, 0))


def save_faq(
    session: Session,
    *,
    shop_id: int,
    spec: FaqSpec,
    actor: str,
    entry: FaqEntry | None = None,
    ip: str | None = None,
) -> FaqEntry:
    """Create the FAQ entry (``entry`` None) or replace ``entry`` with ``spec``; audited."""
    channel = channel_of(session, shop_id, spec.channel)
    _check_variables(session, shop_id, spec.name, [{"type": "text", "text": spec.answer}])
    same_name = find_faq(session, shop_id=shop_id, name=spec.name)
    if same_name is not None and same_name is not entry:
        raise NameTaken(f"the shop has a FAQ entry named {spec.name!r}")
    created = entry is None
    if entry is None:
        entry = FaqEntry(shop_id=shop_id)
        session.add(entry)
    entry.channel_id, entry.name, entry.enabled = channel.id, spec.name, spec.enabled
    entry.questions, entry.answer, entry.threshold = (
        list(spec.questions),
        spec.answer,
        spec.threshold,
    )
    entry.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="faq_entry.created" if created else "faq_entry.updated",
        subject_type="faq_entry",
        subject_id=entry.id,
        name=entry.name,
        ip=ip,
    )
    return entry


def delete_faq(session: Session, *, entry: FaqEntry, actor: str, ip: str | None = None) -> None:
    audit.record(
        session,
        shop_id=entry.shop_id,
        actor=actor,
        action="faq_entry.deleted",
        subject_type="faq_entry",
        subject_id=entry.id,
        name=entry.name,
        ip=ip,
    )
    session.delete(entry)
    session.flush()


def faq_spec_of(session: Session, entry: FaqEntry) -> FaqSpec:
    return FaqSpec(
        name=entry.name,
        channel=session.get_one(Channel, entry.channel_id).line_channel_id,
        enabled=entry.enabled,
        questions=list(entry.questions),
        answer=entry.answer,
        threshold=entry.threshold,
    )


def faq_list(session: Session, shop_id: int) -> list[FaqOut]:
    hits = queries.faq_hits(session, shop_id)
    return [faq_out(session, e, hits) for e in queries.faq_entries(session, shop_id)]


# Trying and answering


def try_message(
    session: Session, *, shop_id: int, body: TryIn, now: datetime | None = None
) -> TryOut:
    """What would answer ``body.text`` now, and why each rule and FAQ entry would or not."""
    channel = channel_of(session, shop_id, body.channel)
    friend_id, tried = None, None
    if body.friend_id is not None:
        friend = session.get(Friend, body.friend_id)
        if friend is None or friend.channel_id != channel.id:
            raise NotFound(f"no friend {body.friend_id} on channel {body.channel}")
        friend_id = friend.id
        facts = queries.friend_facts(session, shop_id, friend.id)
        tried = TriedFriend(
            id=friend.id, name=friend.display_name, tags=sorted(facts.tags), linked=facts.linked
        )
    decision = matching.decide(
        session, channel=channel, text=body.text, now=now or utcnow(), friend_id=friend_id
    )
    reply: list[dict[str, object]] = []
    if decision.rule is not None:
        reply = decision.rule.spec.actions.reply
    elif decision.faq is not None:
        reply = [{"type": "text", "text": decision.faq.entry.answer}]
    return TryOut(
        fires=decision.fires,
        friend=tried,
        reply=reply,
        rules=[
            RuleVerdict(
                name=v.rule.name,
                priority=v.rule.priority,
                matched=v.matched,
                reason=v.reason.text,
                code=v.reason.code,
                values=v.reason.values,
            )
            for v in decision.verdicts
        ],
        faq=[
            FaqScore(
                name=c.entry.name, score=c.score, threshold=c.entry.threshold, question=c.question
            )
            for c in decision.candidates
        ],
        local_time=f"{decision.local:%Y-%m-%d %a %H:%M} ({channel.timezone})",
    )


def on_line_event(session: Session, event: InboundEvent, *, settings: Settings) -> bool:
    """Answer a friend's text message by the rules and FAQ; True when an answer was given."""
    payload = event.payload
    message, source = payload.get("message"), payload.get("source")
    if event.event_type != "message" or event.channel_id is None or payload.get("mode") != "active":
        return False
    if not isinstance(message, dict) or not isinstance(source, dict):
        return False
    text, user_id = message.get("text"), source.get("userId")
    if message.get("type") != "text" or not isinstance(text, str) or not isinstance(user_id, str):
        return False
    if text.strip().casefold() in consent.KEYWORDS or "timestamp" not in payload:
        return False
    friend = session.scalar(
        select(Friend).where(Friend.channel_id == event.channel_id, Friend.line_user_id == user_id)
    )
    if friend is None or friend.status != FriendStatus.FOLLOWED:
        return False
    if queries.hit_of_event(session, event.id) is not None:
        return False
    channel = session.get_one(Channel, event.channel_id)
    now = from_millis(payload["timestamp"])
    decision = matching.decide(session, channel=channel, text=text, now=now, friend_id=friend.id)
    hit = actions.answer(
        session,
        decision=decision,
        channel=channel,
        friend=friend,
        event_id=event.id,
        settings=settings,
        now=now,
    )
    if hit is not None:
        log.info("event %s answered by %s", event.id, decision.fires)
    return hit is not None
