"""Tag rules in the ``tsunagu apply`` file, after the follow routes and tracked links their
triggers name::

    tag_rules:
      - name: first buyers
        trigger: {event: purchase, purchase_number: 1}
        add: [first-buyer]
        remove: [prospect]
      - name: dormant
        trigger: {event: no_purchase, days: 90}
        add: [dormant]

A rule is found by its name; applying changes it (a new trigger acts from then on), never
deletes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from growth.tagrules import rules
from growth.tagrules.models import TagRule
from growth.tagrules.schemas import TagRuleSpec
from messaging import declarations


def _names(session: Session, shop_id: int) -> list[str]:
    return list(session.scalars(select(TagRule.name).where(TagRule.shop_id == shop_id)))


def _current(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    rule = rules.find_rule(session, shop_id=shop_id, name=name)
    if rule is None:
        return None
    return rules.spec_of(rule).model_dump(mode="json", exclude_defaults=True)


def _save(session: Session, shop_id: int, spec: TagRuleSpec, actor: str) -> object:
    rule = rules.find_rule(session, shop_id=shop_id, name=spec.name)
    return rules.save_rule(session, shop_id=shop_id, spec=spec, actor=actor, rule=rule)


TAG_RULES = declarations.Kind("tag_rules", TagRuleSpec, _names, _current, _save)
