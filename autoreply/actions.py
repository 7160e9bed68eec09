"""What an answer does: the reply planned in the outbox (sent with the event's reply token, free
of quota), then the rule's tags, fields, sequence, mark, assignee and account link through the
shared action runner (``growth.actions``). A failing action (a field since deleted, a paused
sequence) is logged and skips only itself; the reply still goes."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from autoreply.matching import Decision
from autoreply.models import AutoReplyHit
from autoreply.schemas import Actions
from config import Settings
from core import audit
from core.tenancy import Channel
from growth import actions as growth_actions
from idlink.models import Friend
from messaging.compose.compose import Links, TemplateSend, render_for
from messaging.outbox import service

log = logging.getLogger(__name__)


def delivery_key(event_id: int) -> str:
    """The outbox key of the answer to one event: an event is answered once."""
    return f"autoreply:{event_id}"


def answer(
    session: Session,
    *,
    decision: Decision,
    channel: Channel,
    friend: Friend,
    event_id: int,
    settings: Settings,
    now: datetime,
) -> AutoReplyHit | None:
    """Record the hit and carry out the rule's actions, or send the FAQ entry's answer."""
    if decision.rule is not None:
        rule = decision.rule
        actions = rule.spec.actions
        source, messages = f"autoreply:rule:{rule.id}", actions.reply
        hit = AutoReplyHit(shop_id=channel.shop_id, event_id=event_id, friend_id=friend.id)
        hit.rule_id, hit.at = rule.id, now
    elif decision.faq is not None:
        entry = decision.faq.entry
        actions = Actions()
        source = f"autoreply:faq:{entry.id}"
        messages = [{"type": "text", "text": entry.answer}]
        hit = AutoReplyHit(shop_id=channel.shop_id, event_id=event_id, friend_id=friend.id)
        hit.faq_id, hit.score, hit.at = entry.id, decision.faq.score, now
    else:
        return None
    session.add(hit)
    session.flush()
    if messages:
        _reply(session, channel, friend, messages, event_id, source, settings, now)
    _act(session, actions, friend, source, f"autoreply-hit-{hit.id}", settings)
    return hit


def _reply(
    session: Session,
    channel: Channel,
    friend: Friend,
    messages: list[dict[str, Any]],
    event_id: int,
    source: str,
    settings: Settings,
    now: datetime,
) -> None:
    # The friend's {{ variables }} and tracked links, filled as campaigns and the composer do.
    send = TemplateSend(
        channel=channel,
        template=messages,
        source=source,
        links=Links(public_url=settings.public_url),
        due_at=now,
    )
    rendered = render_for(session, send, friend_id=friend.id, key=delivery_key(event_id))
    # Quiet hours do not apply: the friend is writing now and the reply token is short-lived.
    service.plan(
        session,
        channel=channel,
        recipients=[friend.id],
        messages=rendered,
        idempotency_key_for=lambda _friend_id: delivery_key(event_id),
        due_at=now,
        source=source,
        respect_quiet_hours=False,
    )


def steps_of(actions: Actions) -> list[growth_actions.Step]:
    """The rule's actions (beside its reply) as the shared runner's steps, in the order they
    run: tags, fields, sequence, the conversation's mark and assignee, the account link."""
    kinds = growth_actions.StepKind
    steps = [growth_actions.Step(kinds.TAG, name) for name in actions.add_tags]
    steps += [growth_actions.Step(kinds.UNTAG, name) for name in actions.remove_tags]
    steps += [growth_actions.Step(kinds.FIELD, k, v) for k, v in actions.set_fields.items()]
    if actions.sequence:
        steps.append(growth_actions.Step(kinds.SEQUENCE, actions.sequence))
    if actions.mark:
        steps.append(growth_actions.Step(kinds.MARK, actions.mark))
    if actions.assign:
        steps.append(growth_actions.Step(kinds.ASSIGN, actions.assign))
    if actions.account_link:
        steps.append(growth_actions.Step(kinds.ACCOUNT_LINK))
    return steps


def _act(
    session: Session, actions: Actions, friend: Friend, source: str, key: str, settings: Settings
) -> None:
    if actions.empty:
        return
    outcome = growth_actions.run(
        session,
        friend=friend,
        steps=steps_of(actions),
        actor=source,
        key=key,
        settings=settings,
    )
    for line in outcome:
        if ": not done: " in line:
            log.warning("auto-reply for friend %s: %s", friend.id, line)
    audit.record(
        session,
        shop_id=friend.shop_id,
        actor=source,
        action="friend.auto_reply_actions",
        subject_type="friend",
        subject_id=friend.id,
        actions=actions.model_dump(mode="json", exclude_defaults=True, exclude={"reply"}),
        outcome=outcome,
    )
