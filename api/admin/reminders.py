"""Visit reminder rules: declare (create or update by name), list, and what each has sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.admin.auth import Actor
from api.admin.schemas import NAME_MISMATCH, ErrorBody, require_path_name
from api.deps import CurrentShop, DbSession
from core.errors import NotFound
from core.tenancy import Channel
from idlink import service as idlink_service
from messaging.campaigns import reports
from messaging.reminders import queries, reminders
from messaging.reminders.models import ReminderRule
from messaging.reminders.schemas import ReminderRuleSpec

router = APIRouter(tags=["reminders"])


class ReminderRuleOut(BaseModel):
    id: int
    name: str
    source_prefix: str = Field(description="Its deliveries' sources start with this.")
    revision: int = Field(description="Raised by each change of what or when it sends.")
    spec: dict[str, Any]
    figures: dict[str, int] = Field(description="Its deliveries by state.")
    suppressed: dict[str, int] = Field(description="Suppressed deliveries by reason.")
    created_at: datetime
    updated_at: datetime


class ReminderRuleList(BaseModel):
    """Every reminder rule of the shop (not paged: a shop has a handful)."""

    items: list[ReminderRuleOut]


def _out(session: DbSession, rule: ReminderRule) -> ReminderRuleOut:
    prefix = reminders.source_prefix(rule)
    figures = reports.source_figures(session, shop_id=rule.shop_id, source_prefix=prefix)
    return ReminderRuleOut(
        id=rule.id,
        name=rule.name,
        source_prefix=prefix,
        revision=rule.revision,
        spec=dict(reminders.spec_of(rule, session.get_one(Channel, rule.channel_id))),
        figures=figures.by_state,
        suppressed=figures.suppressed,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


@router.get("/reminder-rules", summary="List reminder rules")
def list_rules(session: DbSession, shop: CurrentShop) -> ReminderRuleList:
    rules = queries.rules(session, shop_id=shop.id)
    return ReminderRuleList(items=[_out(session, rule) for rule in rules])


@router.put(
    "/reminder-rules/{name}",
    summary="Create or update a reminder rule",
    responses={
        **NAME_MISMATCH,
        404: {"model": ErrorBody, "description": "A channel named in the rule is not this shop's"},
        422: {"model": ErrorBody, "description": "Invalid spec or template, and why"},
    },
)
def put_rule(
    name: str, body: ReminderRuleSpec, session: DbSession, shop: CurrentShop, actor: Actor
) -> ReminderRuleOut:
    """Declare the rule ``name``; ``active: false`` pauses it (its unsent reminders are
    cancelled), ``true`` plans every upcoming booking again."""
    require_path_name(name, body)
    channel = idlink_service.shop_channel(session, shop=shop, line_channel_id=body.channel)
    rule = reminders.save_rule(session, shop_id=shop.id, channel=channel, spec=body, actor=actor)
    return _out(session, rule)


@router.get(
    "/reminder-rules/{name}",
    summary="Get a reminder rule",
    responses={404: {"model": ErrorBody, "description": "No such rule in this shop"}},
)
def get_rule(name: str, session: DbSession, shop: CurrentShop) -> ReminderRuleOut:
    rule = reminders.find_rule(session, shop_id=shop.id, name=name)
    if rule is None:
        raise NotFound(f"no reminder rule {name!r} in this shop: GET /reminder-rules lists them")
    return _out(session, rule)
