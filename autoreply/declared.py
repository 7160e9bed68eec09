"""Auto-reply rules and FAQ entries declared in a ``tsunagu apply`` file, after the messaging
kinds they refer to (fields, sequences)::

    auto_replies:
      - name: hours
        channel: "1234567890"
        match: contains
        pattern: 営業時間
        actions:
          reply: [{type: text, text: 10時から19時まで営業しています}]
    faq:
      - name: parking
        channel: "1234567890"
        questions: [駐車場はありますか, 車で行けますか]
        answer: 店舗の裏に5台分あります。
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from autoreply import service
from autoreply.schemas import FaqSpec, RuleSpec
from messaging import declarations
from messaging.declarations import Kind


def _rule_names(session: Session, shop_id: int) -> list[str]:
    return [rule.name for rule in service.queries.rules(session, shop_id)]


def _current_rule(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    rule = service.find_rule(session, shop_id=shop_id, name=name)
    if rule is None:
        return None
    return service.rule_out(session, rule, {}).model_dump(
        mode="json", exclude_defaults=True, exclude={"id", "hits", "overlaps"}
    )


def _save_rule(session: Session, shop_id: int, spec: RuleSpec, actor: str) -> object:
    rule = service.find_rule(session, shop_id=shop_id, name=spec.name)
    return service.save_rule(session, shop_id=shop_id, spec=spec, actor=actor, rule=rule)


def _faq_names(session: Session, shop_id: int) -> list[str]:
    return [entry.name for entry in service.queries.faq_entries(session, shop_id)]


def _current_faq(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    entry = service.find_faq(session, shop_id=shop_id, name=name)
    if entry is None:
        return None
    return service.faq_spec_of(session, entry).model_dump(mode="json", exclude_defaults=True)


def _save_faq(session: Session, shop_id: int, spec: FaqSpec, actor: str) -> object:
    entry = service.find_faq(session, shop_id=shop_id, name=spec.name)
    return service.save_faq(session, shop_id=shop_id, spec=spec, actor=actor, entry=entry)


# What a declaration file holds of auto-replies, applied after every other kind.
AUTO_REPLY_KINDS: list[Kind] = [
    Kind("auto_replies", RuleSpec, _rule_names, _current_rule, _save_rule),
    Kind("faq", FaqSpec, _faq_names, _current_faq, _save_faq),
]
KINDS: list[Kind] = [*declarations.KINDS, *AUTO_REPLY_KINDS]
KIND_KEYS = [kind.key for kind in KINDS]
