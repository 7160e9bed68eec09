"""What an answer does: the reply planned in the outbox (sent with the event's reply token, free
of quota), then the rule's tags, fields, sequence and account link. A failing action (a field
since deleted, a paused sequence) is logged and skips only itself; the reply still goes."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from autoreply import queries
from autoreply.matching import Decision
from autoreply.models import AutoReplyHit
from autoreply.schemas import Actions
from config import Settings
from connectors.errors import FatalError
from core import audit
from core.errors import HubError
from core.tenancy import Channel
from crm import fields
from idlink import account_link, friends
from idlink.models import Friend
from inbox import conversations
from messaging import enrolment
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
    _act(session, actions, channel, friend, source, settings)
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


def _act(
    session: Session,
    actions: Actions,
    channel: Channel,
    friend: Friend,
    source: str,
    settings: Settings,
) -> None:
    for name in actions.add_tags:
        friends.add_tag(session, friend=friend, name=name, source=source)
    for name in actions.remove_tags:
        friends.remove_tag(session, friend=friend, name=name, source=source)
    for key, value in actions.set_fields.items():
        try:
            fields.set_value(session, friend=friend, key=key, value=value, actor=source)
        except HubError as exc:
            log.warning("auto-reply: field %r of friend %s not set: %s", key, friend.id, exc)
    if actions.sequence:
        try:
            enrolment.enrol(session, friend=friend, name=actions.sequence, actor=source)
        except HubError as exc:
            log.warning("auto-reply: friend %s not enrolled: %s", friend.id, exc)
    if actions.mark or actions.assign:
        _on_conversation(session, actions, friend, source)
    if actions.account_link:
        try:
            account_link.start(session, channel=channel, friend=friend, settings=settings)
        except FatalError as exc:
            log.warning("auto-reply account link for friend %s not started: %s", friend.id, exc)
    if not actions.empty:
        audit.record(
            session,
            shop_id=friend.shop_id,
            actor=source,
            action="friend.auto_reply_actions",
            subject_type="friend",
            subject_id=friend.id,
            actions=actions.model_dump(mode="json", exclude_defaults=True, exclude={"reply"}),
        )


def _on_conversation(session: Session, actions: Actions, friend: Friend, source: str) -> None:
    """Mark and assign the friend's conversation; its status stays as the message left it."""
    conversation = conversations.conversation_of(session, friend)
    if actions.mark:
        mark_id = queries.mark_id(session, friend.shop_id, actions.mark)
        if mark_id is None:
            log.warning("auto-reply: no inbox mark %r any more", actions.mark)
        else:
            conversations.set_mark(session, conversation, mark_id=mark_id, actor=source)
    if actions.assign:
        try:
            conversations.assign(session, conversation, email=actions.assign, actor=source)
        except HubError as exc:
            log.warning("auto-reply: conversation of friend %s not assigned: %s", friend.id, exc)
