"""Campaigns as code: a shop's campaigns declared in a file, compared with the hub, then applied.

A declaration file (YAML or JSON) holds lists per kind of object::

    shop: my-shop
    campaigns:
      - name: first-purchase-thanks
        channel: "1234567890"
        kind: purchase
        ...

``plan_changes`` validates every entry first (all or nothing, each error named by its place in
the file) and compares each with what the hub holds: ``create``, ``update`` (with the changed
fields) or ``unchanged``. ``apply_changes`` saves the creates and updates through each kind's
own service, so the same checks run as in the admin API. Applying the same file twice changes
nothing the second time. Objects the hub has and the file does not are listed, never deleted.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound, Unprocessable
from core.tenancy import Channel
from crm import fields
from crm.field_schemas import Choice, FieldDefinitionIn, FieldKey, FieldType, check_choices
from crm.models import FieldDefinition
from messaging import declared_consents, declared_coupons, declared_links
from messaging.campaigns import campaigns
from messaging.campaigns.models import Campaign
from messaging.campaigns.schemas import CampaignSpec
from messaging.compose.link_schemas import StandaloneLinkSpec
from messaging.compose.schemas import NamedSpec
from messaging.declared_tags import TagSpec, current_tag, save_tag, tag_names
from messaging.reminders import reminders
from messaging.reminders.models import ReminderRule
from messaging.reminders.schemas import ReminderRuleSpec
from messaging.segments import segments
from messaging.segments.models import Segment
from messaging.segments.schemas import SegmentSpec
from messaging.sequences import sequences
from messaging.sequences.models import Sequence
from messaging.sequences.schemas import SequenceSpec


class InvalidDeclarations(Unprocessable):
    """The file has entries that cannot be applied; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Kind:
    """How one kind of declared object is read, found, compared and saved."""

    key: str
    spec: type[NamedSpec]
    # The declared names the hub holds, and one object as a spec (JSON-ready), by name.
    names: Callable[[Session, int], list[str]]
    current: Callable[[Session, int, str], dict[str, Any] | None]
    save: Callable[[Session, int, Any, str], object]
    # How the hub's object reads against the file's, where they are not compared field by field
    # (a coupon pool's discount is read once; its ``codes`` is a floor): (hub, file) → hub.
    reconcile: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None


def _campaign_names(session: Session, shop_id: int) -> list[str]:
    return list(session.scalars(select(Campaign.name).where(Campaign.shop_id == shop_id)))


def _current_campaign(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    campaign = campaigns.find(session, shop_id=shop_id, name=name)
    if campaign is None:
        return None
    return campaigns.spec_of(campaign, session.get_one(Channel, campaign.channel_id))


def _channel(session: Session, shop_id: int, line_channel_id: str, what: str) -> Channel:
    channel = session.scalar(
        select(Channel).where(
            Channel.shop_id == shop_id, Channel.line_channel_id == line_channel_id
        )
    )
    if channel is None:
        raise NotFound(f"{what}: no channel {line_channel_id} in this shop")
    return channel


def _save_campaign(session: Session, shop_id: int, spec: CampaignSpec, actor: str) -> Campaign:
    channel = _channel(session, shop_id, spec.channel, f"campaign {spec.name!r}")
    return campaigns.save(session, shop_id=shop_id, channel=channel, spec=spec, actor=actor)


def _rule_names(session: Session, shop_id: int) -> list[str]:
    return list(session.scalars(select(ReminderRule.name).where(ReminderRule.shop_id == shop_id)))


def _current_rule(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    rule = reminders.find_rule(session, shop_id=shop_id, name=name)
    if rule is None:
        return None
    return dict(reminders.spec_of(rule, session.get_one(Channel, rule.channel_id)))


def _save_rule(session: Session, shop_id: int, spec: ReminderRuleSpec, actor: str) -> object:
    channel = _channel(session, shop_id, spec.channel, f"reminder rule {spec.name!r}")
    return reminders.save_rule(session, shop_id=shop_id, channel=channel, spec=spec, actor=actor)


def _segment_names(session: Session, shop_id: int) -> list[str]:
    return list(session.scalars(select(Segment.name).where(Segment.shop_id == shop_id)))


def _current_segment(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    segment = segments.find(session, shop_id=shop_id, name=name)
    if segment is None:
        return None
    return SegmentSpec.model_validate(segments.spec_of(segment)).model_dump(
        mode="json", exclude_defaults=True
    )


def _save_segment(session: Session, shop_id: int, spec: SegmentSpec, actor: str) -> object:
    return segments.save(session, shop_id=shop_id, spec=spec, actor=actor)


def _sequence_names(session: Session, shop_id: int) -> list[str]:
    return list(session.scalars(select(Sequence.name).where(Sequence.shop_id == shop_id)))


def _current_sequence(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    sequence = sequences.find(session, shop_id=shop_id, name=name)
    if sequence is None:
        return None
    channel = session.get_one(Channel, sequence.channel_id)
    return SequenceSpec.model_validate(sequences.spec_of(session, sequence, channel)).model_dump(
        mode="json", exclude_defaults=True
    )


def _save_sequence(session: Session, shop_id: int, spec: SequenceSpec, actor: str) -> object:
    channel = _channel(session, shop_id, spec.channel, f"sequence {spec.name!r}")
    return sequences.save(session, shop_id=shop_id, channel=channel, spec=spec, actor=actor)


class FieldSpec(NamedSpec):
    """A custom field as declared (``key:``, ``label:``, ``type:``, ``choices:``); its place on
    the chart is left to the console and the admin API."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: FieldKey = Field(alias="key")
    label: str = Field(min_length=1, max_length=100)
    type: FieldType
    choices: list[Choice] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _choices_fit_type(self) -> FieldSpec:
        check_choices(self.type, self.choices)
        return self


def _field_names(session: Session, shop_id: int) -> list[str]:
    return list(
        session.scalars(select(FieldDefinition.key).where(FieldDefinition.shop_id == shop_id))
    )


def _current_field(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    found = fields.find(session, shop_id, name)
    if found is None:
        return None
    spec = FieldSpec(name=found.key, label=found.label, type=found.type, choices=found.choices)
    return spec.model_dump(mode="json", exclude_defaults=True)


def _save_field(session: Session, shop_id: int, spec: FieldSpec, actor: str) -> object:
    definition = FieldDefinitionIn(
        key=spec.name, label=spec.label, type=spec.type, choices=spec.choices
    )
    return fields.define(session, shop_id=shop_id, spec=definition, actor=actor)


# In the order they are applied: what a later kind refers to by name comes first.
KINDS: list[Kind] = [
    Kind("tags", TagSpec, tag_names, current_tag, save_tag),
    Kind("fields", FieldSpec, _field_names, _current_field, _save_field),
    Kind(
        "links",
        StandaloneLinkSpec,
        declared_links.names,
        declared_links.current,
        declared_links.save,
    ),
    Kind("segments", SegmentSpec, _segment_names, _current_segment, _save_segment),
    Kind(
        "coupon_pools",
        declared_coupons.CouponPoolSpec,
        declared_coupons.names,
        declared_coupons.current,
        declared_coupons.save,
        declared_coupons.reconcile,
    ),
    Kind("campaigns", CampaignSpec, _campaign_names, _current_campaign, _save_campaign),
    Kind("reminders", ReminderRuleSpec, _rule_names, _current_rule, _save_rule),
    Kind("sequences", SequenceSpec, _sequence_names, _current_sequence, _save_sequence),
    Kind(
        "consents",
        declared_consents.ConsentSpec,
        declared_consents.names,
        declared_consents.current,
        declared_consents.save,
    ),
]


KIND_KEYS = [kind.key for kind in KINDS]


@dataclass(slots=True)
class Change:
    kind: str
    name: str
    action: str  # create | update | unchanged
    spec: NamedSpec
    diff: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ChangePlan:
    """What applying a file would do, kind by kind, and what the hub has that it does not."""

    changes: list[Change] = field(default_factory=list)
    not_declared: dict[str, list[str]] = field(default_factory=dict)

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]


def plan_changes(
    session: Session,
    *,
    shop_id: int,
    document: Mapping[str, Any],
    kinds: Collection[Kind] = KINDS,
) -> ChangePlan:
    """Validate a parsed declaration file and compare it with the hub (changes nothing).

    ``kinds``: what the file may declare, in order (a higher layer adds its own to these)."""
    known = {kind.key for kind in kinds} | {"shop"}
    unknown = sorted(set(document) - known)
    errors = [f"{key}: not a kind of object this hub declares" for key in unknown]
    plan = ChangePlan()
    for kind in kinds:
        entries = document.get(kind.key) or []
        if not isinstance(entries, list):
            errors.append(f"{kind.key}: a list of entries, not {type(entries).__name__}")
            continue
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            where = f"{kind.key}[{index}]"
            try:
                spec = kind.spec.model_validate(entry)
            except ValidationError as exc:
                errors.extend(_errors(where, exc))
                continue
            name = spec.name
            if name in seen:
                errors.append(f"{where}: {name!r} is declared twice")
                continue
            seen.add(name)
            plan.changes.append(_compare(session, shop_id, kind, name, spec))
        others = sorted(set(kind.names(session, shop_id)) - seen)
        if others:
            plan.not_declared[kind.key] = others
    if errors:
        raise InvalidDeclarations("; ".join(errors))
    return plan


def _errors(where: str, exc: ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        place = ".".join(str(p) for p in error["loc"])
        messages.append(f"{where}{'.' + place if place else ''}: {error['msg']}")
    return messages


def _compare(session: Session, shop_id: int, kind: Kind, name: str, spec: NamedSpec) -> Change:
    declared = spec.model_dump(mode="json", exclude_defaults=True)
    current = kind.current(session, shop_id, name)
    if current is not None and "enabled" not in declared:
        # A file that does not say leaves the status to the admin API's start and pause.
        current.pop("enabled", None)
    if current is None:
        return Change(kind.key, name, "create", spec, diff=_lines(declared))
    if kind.reconcile is not None:
        current = kind.reconcile(current, declared)
    if _normal(current) == _normal(declared):
        return Change(kind.key, name, "unchanged", spec)
    diff = difflib.unified_diff(_lines(current), _lines(declared), "hub", "file", lineterm="", n=1)
    return Change(kind.key, name, "update", spec, diff=list(diff)[2:])


def _normal(spec: Mapping[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, ensure_ascii=False, default=str)


def _lines(spec: Mapping[str, Any]) -> list[str]:
    return json.dumps(spec, sort_keys=True, ensure_ascii=False, indent=2, default=str).splitlines()


def apply_changes(
    session: Session,
    *,
    shop_id: int,
    plan: ChangePlan,
    actor: str,
    kinds: Collection[Kind] = KINDS,
) -> int:
    """Save every create and update of ``plan`` (the caller commits once); returns how many."""
    by_key = {kind.key: kind for kind in kinds}
    for change in plan.pending:
        by_key[change.kind].save(session, shop_id, change.spec, actor)
    return len(plan.pending)
