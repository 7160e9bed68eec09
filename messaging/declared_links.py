"""Standalone tracked links declared in a ``tsunagu apply`` file, before the campaigns,
reminders and sequences whose templates place them (``{{ tracked:menu }}``)::

    links:
      - name: menu
        url: https://salon.example/menu
        tag: read-menu

A link is found by its name; applying changes its address and tag (codes already sent lead to
the new address), never deletes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.compose import links
from messaging.compose.link_schemas import StandaloneLinkSpec
from messaging.compose.models import StandaloneLink


def names(session: Session, shop_id: int) -> list[str]:
    return list(
        session.scalars(select(StandaloneLink.name).where(StandaloneLink.shop_id == shop_id))
    )


def current(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    link = links.find_link(session, shop_id=shop_id, name=name)
    if link is None:
        return None
    spec = StandaloneLinkSpec(name=link.name, url=link.url, tag=link.tag)
    return spec.model_dump(mode="json", exclude_defaults=True)


def save(session: Session, shop_id: int, spec: StandaloneLinkSpec, actor: str) -> object:
    link = links.find_link(session, shop_id=shop_id, name=spec.name)
    return links.save_link(session, shop_id=shop_id, spec=spec, actor=actor, link=link)
