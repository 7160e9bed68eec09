"""The one action runner that follow routes, forms and auto-replies share: tag or untag the
friend, set a custom field or a member attribute, enrol in a sequence, send a message, show the
rich menu now, mark or assign the friend's inbox conversation, start the account link.

Each step runs in its own savepoint: a step that cannot run (a field since deleted, a paused
sequence, a mark that is gone) is rolled back alone, noted in the outcome, and does not stop the
others, nor what called the runner.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from config import Settings
from connectors.errors import FatalError
from core.enqueue import enqueue_after_commit
from core.errors import HubError, NotFound
from core.tenancy import Channel
from crm import fields
from idlink import account_link, friends
from idlink.models import Friend, Member
from idlink.service import active_link_of_friend
from inbox import conversations, library
from messaging import direct, enrolment


class StepKind(enum.StrEnum):
    TAG = "tag"
    UNTAG = "untag"
    FIELD = "field"
    ATTRIBUTE = "attribute"
    SEQUENCE = "sequence"
    MESSAGE = "message"
    RICH_MENU = "rich_menu"
    MARK = "mark"
    ASSIGN = "assign"
    ACCOUNT_LINK = "account_link"


@dataclass(frozen=True, slots=True)
class Step:
    """One thing to do for a friend. ``target``: the tag, field key, attribute name, sequence,
    message text, mark name or staff email; ``value``: the field's or attribute's value."""

    kind: StepKind
    target: str = ""
    value: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.target}".strip()


class NotLinked(NotFound):
    """A member attribute was to be set, but the friend is linked to no member."""


def run(
    session: Session,
    *,
    friend: Friend,
    steps: Iterable[Step],
    actor: str,
    key: str,
    settings: Settings,
) -> list[str]:
    """Run the steps for the friend; return one line per step saying what it did.

    ``key`` (letters, digits, ``-`` and ``_``) makes a message step's outbox key
    (``{key}x{index}``): running the same steps again under the same key plans no message
    twice."""
    return [
        run_one(session, friend=friend, step=step, actor=actor, key=f"{key}x{i}", settings=settings)
        for i, step in enumerate(steps)
    ]


def run_one(
    session: Session, *, friend: Friend, step: Step, actor: str, key: str, settings: Settings
) -> str:
    """Run one step in a savepoint; its line: ``"tag VIP: added"``, ``"field size: not done:
    …"``."""
    try:
        with session.begin_nested():
            done = _run(session, friend, step, actor, key, settings)
    except (HubError, FatalError) as exc:
        done = f"not done: {exc}"
    return f"{step.label}: {done}"


def _run(
    session: Session, friend: Friend, step: Step, actor: str, key: str, settings: Settings
) -> str:
    match step.kind:
        case StepKind.TAG:
            added = friends.add_tag(session, friend=friend, name=step.target, source=actor)
            return "added" if added else "already tagged"
        case StepKind.UNTAG:
            removed = friends.remove_tag(session, friend=friend, name=step.target, source=actor)
            return "removed" if removed else "not tagged"
        case StepKind.FIELD:
            fields.set_value(session, friend=friend, key=step.target, value=step.value, actor=actor)
            return "set" if step.value is not None else "cleared"
        case StepKind.ATTRIBUTE:
            return _set_attribute(session, friend, step)
        case StepKind.SEQUENCE:
            enrolment.enrol(session, friend=friend, name=step.target, actor=actor)
            return "enrolled"
        case StepKind.MESSAGE:
            sent = direct.send_text(
                session,
                friend=friend,
                message=direct.DirectMessageIn(text=step.target, key=key),
                actor=actor,
                lifetime=timedelta(seconds=settings.reply_token_seconds),
            )
            return "planned" if not sent.duplicate else "already planned"
        case StepKind.RICH_MENU:
            enqueue_after_commit(session, "idlink.sync_rich_menu", friend_id=friend.id)
            return "menu shown"
        case StepKind.MARK:
            mark_id = library.mark_id(session, friend.shop_id, step.target)
            if mark_id is None:
                raise NotFound(f"no inbox mark {step.target!r} in this shop")
            conversation = conversations.conversation_of(session, friend)
            conversations.set_mark(session, conversation, mark_id=mark_id, actor=actor)
            return "marked"
        case StepKind.ASSIGN:
            conversation = conversations.conversation_of(session, friend)
            conversations.assign(session, conversation, email=step.target, actor=actor)
            return "assigned"
        case StepKind.ACCOUNT_LINK:
            channel = session.get_one(Channel, friend.channel_id)
            account_link.start(session, channel=channel, friend=friend, settings=settings)
            return "link sent"


def _set_attribute(session: Session, friend: Friend, step: Step) -> str:
    link = active_link_of_friend(session, friend.id)
    if link is None:
        raise NotLinked("the friend is not linked to a member")
    member = session.get_one(Member, link.member_id)
    attributes = dict(member.attributes or {})
    if step.value is None:
        attributes.pop(step.target, None)
    else:
        attributes[step.target] = step.value
    member.attributes = attributes
    return "set" if step.value is not None else "cleared"


def renamed_steps(raw: list[dict[str, object]], old: str, new: str) -> list[dict[str, object]]:
    """Declared steps (``{"kind": ..., "target": ...}``) whose tag steps naming the tag ``old``
    name ``new``: how a tag's rename reaches routes' and forms' actions."""
    tag_kinds = (StepKind.TAG, StepKind.UNTAG)
    return [
        step | {"target": new}
        if step.get("kind") in tag_kinds and step.get("target") == old
        else step
        for step in raw
    ]
