"""What a follow route does when it brings a friend: tag, set a field, enrol in a sequence,
send a message, show the rich menu now. Each action runs "every" time or on the friend's
"first" touch by the route. One action that cannot run (a field that was deleted, a paused
sequence) is noted and does not stop the others, nor the follow's processing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from config import Settings
from core.enqueue import enqueue_after_commit
from core.errors import HubError
from crm import fields
from growth.schemas import ActionKind, ActionWhen, RouteAction
from idlink import friends
from idlink.models import Friend
from messaging import direct, enrolment


def run(
    session: Session,
    *,
    friend: Friend,
    route_name: str,
    specs: list[dict[str, Any]],
    first_time: bool,
    key: str,
    settings: Settings,
) -> list[str]:
    """Run the route's actions for the friend; return one line per action saying what it did."""
    outcome = []
    actor = f"route:{route_name}"
    for index, raw in enumerate(specs):
        action = RouteAction.model_validate(raw)
        label = f"{action.kind} {action.target}".strip()
        if action.when == ActionWhen.FIRST and not first_time:
            outcome.append(f"{label}: skipped (first time only)")
            continue
        try:
            with session.begin_nested():
                done = _run_one(session, friend, action, actor, f"{key}x{index}", settings)
        except HubError as exc:
            done = f"not done: {exc}"
        outcome.append(f"{label}: {done}")
    return outcome


def _run_one(
    session: Session,
    friend: Friend,
    action: RouteAction,
    actor: str,
    key: str,
    settings: Settings,
) -> str:
    match action.kind:
        case ActionKind.TAG:
            added = friends.add_tag(session, friend=friend, name=action.target, source=actor)
            return "added" if added else "already tagged"
        case ActionKind.FIELD:
            fields.set_value(
                session, friend=friend, key=action.target, value=action.value, actor=actor
            )
            return "set"
        case ActionKind.SEQUENCE:
            enrolment.enrol(session, friend=friend, name=action.target, actor=actor)
            return "enrolled"
        case ActionKind.MESSAGE:
            sent = direct.send_text(
                session,
                friend=friend,
                message=direct.DirectMessageIn(text=action.target, key=key),
                actor=actor,
                lifetime=timedelta(seconds=settings.reply_token_seconds),
            )
            return "planned" if not sent.duplicate else "already planned"
        case ActionKind.RICH_MENU:
            enqueue_after_commit(session, "idlink.sync_rich_menu", friend_id=friend.id)
            return "menu shown"
