"""Tags declared in a ``tsunagu apply`` file: name, colour and folder, created or changed by
name like the other declared objects (never deleted: a tag the file leaves out stays)::

    tags:
      - name: vip
        colour: purple
        folder: 会員ランク
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idlink import tagging
from idlink.models import Tag
from idlink.tag_schemas import FolderName, TagColour, TagCreate, TagUpdate
from messaging.compose.schemas import NamedSpec


class TagSpec(NamedSpec):
    colour: TagColour = "gray"
    folder: FolderName = None


def tag_names(session: Session, shop_id: int) -> list[str]:
    return list(session.scalars(select(Tag.name).where(Tag.shop_id == shop_id)))


def current_tag(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    tag = tagging.find_tag(session, shop_id=shop_id, name=name)
    if tag is None:
        return None
    return TagSpec(name=tag.name, colour=tag.colour, folder=tag.folder).model_dump(
        mode="json", exclude_defaults=True
    )


def save_tag(session: Session, shop_id: int, spec: TagSpec, actor: str) -> Tag:
    tag = tagging.find_tag(session, shop_id=shop_id, name=spec.name)
    if tag is None:
        body = TagCreate(name=spec.name, colour=spec.colour, folder=spec.folder)
        return tagging.create_tag(session, shop_id=shop_id, body=body, actor=actor)
    # Every field is declared: a folder the file leaves out takes the tag out of its folder.
    change = TagUpdate(colour=spec.colour, folder=spec.folder)
    return tagging.update_tag(session, tag=tag, body=change, actor=actor)
