"""Helpers for the tag rule tests: rules saved through their service, and what they did."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from growth.tagrules import events, rules
from growth.tagrules.models import TagRule, TagRuleHit
from growth.tagrules.schemas import TagRuleSpec
from idlink.models import Friend, FriendTagEvent
from messaging.compose import links
from messaging.compose.link_schemas import StandaloneLinkSpec
from tests.idlink.support import tags_of
from tests.waiting import wait_for


def make_rule(db: Database, shop_id: int, name: str, **spec: Any) -> TagRule:
    with db.session_scope() as session:
        return rules.save_rule(
            session,
            shop_id=shop_id,
            spec=TagRuleSpec.model_validate({"name": name, **spec}),
            actor="test",
        )


def hits_of(db: Database, rule: TagRule) -> list[tuple[int, str]]:
    with db.session_scope() as session:
        return [
            (hit.friend_id, hit.event_key)
            for hit in session.scalars(
                select(TagRuleHit).where(TagRuleHit.rule_id == rule.id).order_by(TagRuleHit.id)
            )
        ]


def history_of(db: Database, friend_id: int) -> list[tuple[str, bool, str]]:
    """The friend's tag history, oldest first: (tag, added, source)."""
    with db.session_scope() as session:
        return [
            (e.tag_name, e.added, e.source)
            for e in session.scalars(
                select(FriendTagEvent)
                .where(FriendTagEvent.friend_id == friend_id)
                .order_by(FriendTagEvent.id)
            )
        ]


def wait_for_tag(db: Database, friend_id: int, tag: str) -> set[str]:
    def tagged() -> set[str] | None:
        found = tags_of(db, friend_id)
        return found if tag in found else None

    return wait_for(tagged, timeout=20, what=f"friend {friend_id} tagged {tag!r}")


def cursor_name(rule: TagRule) -> str:
    """The name of the rule's cursor (``wait_until_read`` waits for it to pass a write)."""
    return f"tag_rule:{rule.id}:{rule.trigger['event']}"


def clicked_link_and_rule(session: Session, shop_id: int, friend_id: int) -> tuple[int, int]:
    """A tracked link the friend clicked twice and the rule it fired: (link id, rule id)."""
    link = links.save_link(
        session,
        shop_id=shop_id,
        spec=StandaloneLinkSpec(name="春のメニュー", url="https://salon.example/menu", tag="menu"),
        actor="test",
    )
    rule = rules.save_rule(
        session,
        shop_id=shop_id,
        spec=TagRuleSpec.model_validate(
            {
                "name": "メニューを見た人",
                "trigger": {"event": "click", "link": "春のメニュー"},
                "add": ["menu-reader"],
                "remove": ["prospect"],
            }
        ),
        actor="test",
    )
    friend = session.get_one(Friend, friend_id)
    url = links.personal_url(session, link=link, friend=friend, public_url="https://hub.example")
    for _ in range(2):
        click = links.record_click(session, code=url.rsplit("/", 1)[1])
        assert click is not None
        events.on_click(session, click)
    return link.id, rule.id
