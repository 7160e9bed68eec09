"""The shop's saved message templates: 1 to 5 LINE messages (text, stickers, Flex, buttons…)
with the friend variables campaigns use, checked when saved, sent from the inbox's composer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.errors import Conflict, NotFound
from idlink.models import Friend
from messaging.compose import templates
from messaging.compose.compose import field_variables, friend_values
from messaging.compose.models import MessageTemplate
from messaging.compose.schemas import Name
from messaging.outbox.payloads import Message


class TemplateIn(BaseModel):
    messages: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=5,
        description="LINE message objects; any string may hold {{ display_name }}, "
        "{{ member_name }}, {{ member_number }}, {{ field.KEY }} or {{ link:URL }}.",
    )


class NamedTemplateIn(TemplateIn):
    name: Name = Field(description="Unique in the shop: saving it again changes it.")


class TemplateOut(TemplateIn):
    id: int
    name: str
    updated_by: str
    updated_at: datetime


class TemplateNotFound(NotFound):
    """No saved template of this id or name in the shop."""


class TemplateNameTaken(Conflict):
    """Another of the shop's message templates has this name."""


def available(session: Session, shop_id: int) -> set[str]:
    """The variables a template sent to one friend may use: theirs and the shop's fields."""
    return set(templates.FRIEND_VARIABLES) | field_variables(session, shop_id)


def out(template: MessageTemplate) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        name=template.name,
        messages=template.messages,
        updated_by=template.updated_by,
        updated_at=template.updated_at,
    )


def listed(session: Session, shop_id: int) -> list[TemplateOut]:
    rows = session.scalars(
        select(MessageTemplate)
        .where(MessageTemplate.shop_id == shop_id)
        .order_by(MessageTemplate.name)
    )
    return [out(t) for t in rows]


def get(session: Session, shop_id: int, template_id: int) -> MessageTemplate:
    template = session.get(MessageTemplate, template_id)
    if template is None or template.shop_id != shop_id:
        raise TemplateNotFound(f"no message template {template_id} in this shop")
    return template


def save(
    session: Session,
    *,
    shop_id: int,
    body: NamedTemplateIn,
    actor: str,
    template_id: int | None = None,
) -> TemplateOut:
    """Create the template of this name, or change it (with ``template_id``, that template, its
    name too: ``TemplateNameTaken`` when another has the name); ``InvalidTemplate`` (422) for a
    variable it cannot have or anything LINE would refuse with every variable at its longest."""
    messages = templates.check(body.messages, available=available(session, shop_id))
    named = session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.shop_id == shop_id, MessageTemplate.name == body.name
        )
    )
    template = named if template_id is None else get(session, shop_id, template_id)
    if named is not None and template is not None and named.id != template.id:
        raise TemplateNameTaken(f"the shop has another message template named {body.name!r}")
    if template is None:
        template = MessageTemplate(shop_id=shop_id, name=body.name)
        session.add(template)
    template.name, template.messages = body.name, messages
    template.updated_by, template.updated_at = actor[:200], utcnow()
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="message_template.saved",
        subject_type="message_template",
        subject_id=template.id,
        name=body.name,
    )
    return out(template)


def preview(session: Session, *, template: MessageTemplate, friend: Friend) -> list[Message]:
    """The template as the friend would receive it: their variables filled; a tracked link
    shows where it leads (no link is made), a standalone one its name."""
    return templates.render(
        template.messages,
        values=friend_values(session, [friend.id]).get(friend.id, {}),
        link=lambda url: url,
        tracked=lambda name: f"〈{name}〉",
    )


def delete(session: Session, *, shop_id: int, template_id: int, actor: str) -> None:
    template = get(session, shop_id, template_id)
    session.delete(template)
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="message_template.deleted",
        subject_type="message_template",
        subject_id=template_id,
        name=template.name,
    )
