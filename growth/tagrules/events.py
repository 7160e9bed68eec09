"""Tag rules on events the hub sees as they happen: a tracked-link click, a rich-menu tap
(postback), a follow route bringing a friend, a form answer. Each acts in the transaction of
the event's own processing, keyed so the same event acts once."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import from_millis
from core.inbox import InboundEvent
from growth.tagrules import rules
from idlink.models import Friend
from messaging.compose.links import Click
from messaging.compose.models import StandaloneLink


def on_click(session: Session, click: Click) -> int:
    """A friend's first click of a standalone link fires the rules on that link."""
    link = click.link
    if link.link_id is None:
        return 0
    name = session.get_one(StandaloneLink, link.link_id).name
    fired = 0
    for rule in rules.active_rules(session, link.shop_id, "click"):
        if rule.trigger.get("link") == name:
            fired += rules.fire(session, rule=rule, hits=[(link.friend_id, f"click:{link.code}")])
    return fired


def on_line_event(session: Session, stored: InboundEvent) -> int:
    """A postback (a rich-menu area, a button) fires the rules on its exact ``data``."""
    if stored.event_type != "postback" or stored.channel_id is None:
        return 0
    data = str((stored.payload.get("postback") or {}).get("data", ""))
    user_id = (stored.payload.get("source") or {}).get("userId")
    if not data or not user_id:
        return 0
    found = session.scalar(
        select(Friend).where(Friend.channel_id == stored.channel_id, Friend.line_user_id == user_id)
    )
    if found is None:
        return 0
    at = from_millis(stored.payload["timestamp"])
    fired = 0
    for rule in rules.active_rules(session, found.shop_id, "postback"):
        if rule.trigger.get("data") == data and at >= rule.active_since:
            fired += rules.fire(session, rule=rule, hits=[(found.id, f"postback:{stored.id}")])
    return fired


def on_route_touch(session: Session, *, friend: Friend, route_name: str, touch_id: int) -> int:
    """A follow route brought the friend: fire the rules on that route."""
    fired = 0
    for rule in rules.active_rules(session, friend.shop_id, "follow_route"):
        if rule.trigger.get("route") == route_name:
            fired += rules.fire(session, rule=rule, hits=[(friend.id, f"route:{touch_id}")])
    return fired


def on_form_answer(
    session: Session, friend_id: int, form_key: str, answers: Mapping[str, object]
) -> int:
    """The friend answered the form ``form_key``: fire the rules on its questions' answers.

    ``answers`` maps a question's key to the answer: a text, a choice, or a list of choices.
    A rule with a ``choice`` fires when the answer is it (or holds it); without, on any
    non-empty answer. The same answer given again fires nothing new.
    """
    friend = session.get(Friend, friend_id)
    if friend is None:
        return 0
    fired = 0
    for rule in rules.active_rules(session, friend.shop_id, "form_answer"):
        trigger = rule.trigger
        if trigger.get("form") != form_key:
            continue
        question = str(trigger.get("question"))
        chosen = _choices(answers.get(question))
        choice = trigger.get("choice")
        if (choice is None and chosen) or (choice is not None and choice in chosen):
            key = f"form:{form_key}:{question}:{choice or ''}"
            fired += rules.fire(session, rule=rule, hits=[(friend.id, key)])
    return fired


def _choices(answer: object) -> set[str]:
    """An answer as the set of its non-empty values (a text, a choice, several choices)."""
    values = answer if isinstance(answer, list | tuple | set) else [answer]
    return {str(v).strip() for v in values if v is not None and str(v).strip()}
