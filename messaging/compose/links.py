"""Tracked links: ``GET /r/{code}`` counts the click, tags the friend, and redirects.

A code is one link of one delivery (``{{ link:URL }}`` in a template), or one friend's code of a
standalone link (``{{ tracked:NAME }}``): the same friend always gets the same code of a
standalone link, so its clicks count per friend wherever it was placed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.crypto import box
from core.db import insert
from core.errors import Conflict, NotFound
from idlink import friends, tagging
from idlink.models import Friend
from messaging.compose.link_schemas import StandaloneLinkSpec
from messaging.compose.models import LinkClick, StandaloneLink, TrackedLink

log = logging.getLogger(__name__)

MAX_USER_AGENT = 300


class LinkNotFound(NotFound):
    """No standalone tracked link with this id or name in the shop."""


class LinkExists(Conflict):
    """The shop already has a standalone tracked link by this name."""


@dataclass(frozen=True, slots=True)
class Click:
    """A recorded click: where it leads, on which code, and whether it was the code's first."""

    url: str
    link: TrackedLink
    first: bool


def record_click(
    session: Session, *, code: str, user_agent: str | None = None, now: datetime | None = None
) -> Click | None:
    """Record one click on ``code``; None for an unknown code.

    The first click of a code tags its friend with the link's tag (if it has one).
    """
    now = now or utcnow()
    link = session.get(TrackedLink, code)
    if link is None:
        return None
    url, tag = link.url, link.tag
    if link.link_id is not None:
        standalone = session.get_one(StandaloneLink, link.link_id)
        url, tag = standalone.url, standalone.tag
    first = link.first_clicked_at is None
    session.execute(
        update(TrackedLink)
        .where(TrackedLink.code == code)
        .values(
            clicks=TrackedLink.clicks + 1,
            first_clicked_at=func.coalesce(TrackedLink.first_clicked_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    session.add(
        LinkClick(code=code, clicked_at=now, user_agent=(user_agent or "")[:MAX_USER_AGENT])
    )
    if first and tag:
        friend = session.get(Friend, link.friend_id)
        if friend is not None and friends.add_tag(
            session, friend=friend, name=tag, source=f"click:{link.source}"
        ):
            log.info("friend %s tagged %r by a click on %s", friend.id, tag, link.source)
    return Click(url=url, link=link, first=first)


def standalone_source(link: StandaloneLink) -> str:
    """The ``source`` of a standalone link's codes (and of the tag history of their clicks)."""
    return f"link:{link.name}"[:100]


def standalone_code(link_id: int, friend_id: int) -> str:
    """A friend's code of a standalone link: keyed, so nobody can guess another friend's."""
    return box().blind_index(f"standalone\0{link_id}\0{friend_id}")[:24]


def code_rows(link: StandaloneLink, friend_ids: list[int]) -> list[dict[str, object]]:
    """The ``TrackedLink`` rows giving these friends their codes (insert ignoring existing)."""
    return [
        {
            "code": standalone_code(link.id, friend_id),
            "shop_id": link.shop_id,
            "friend_id": friend_id,
            "source": standalone_source(link),
            "url": link.url,
            "tag": None,
            "clicks": 0,
            "link_id": link.id,
        }
        for friend_id in friend_ids
    ]


def personal_url(session: Session, *, link: StandaloneLink, friend: Friend, public_url: str) -> str:
    """The friend's own address of the standalone link (made on first use)."""
    if friend.shop_id != link.shop_id:
        raise LinkNotFound(f"no tracked link {link.id} in the friend's shop")
    rows = code_rows(link, [friend.id])
    session.execute(insert(session, TrackedLink).on_conflict_do_nothing(), rows)
    return f"{public_url.rstrip('/')}/r/{rows[0]['code']}"


def get_link(session: Session, *, shop_id: int, link_id: int) -> StandaloneLink:
    link = session.get(StandaloneLink, link_id)
    if link is None or link.shop_id != shop_id:
        raise LinkNotFound(f"no tracked link {link_id} in this shop: GET /tracked-links lists them")
    return link


def find_link(session: Session, *, shop_id: int, name: str) -> StandaloneLink | None:
    return session.scalar(
        select(StandaloneLink).where(StandaloneLink.shop_id == shop_id, StandaloneLink.name == name)
    )


def save_link(
    session: Session,
    *,
    shop_id: int,
    spec: StandaloneLinkSpec,
    actor: str,
    link: StandaloneLink | None = None,
    ip: str | None = None,
) -> StandaloneLink:
    """Create a standalone link, or change ``link`` (friends' codes stay: they lead to the new
    address from now on); audited."""
    other = find_link(session, shop_id=shop_id, name=spec.name)
    if other is not None and other is not link:
        raise LinkExists(f"the shop already has a tracked link named {spec.name!r}")
    if link is None:
        link = StandaloneLink(shop_id=shop_id)
        session.add(link)
    link.name, link.url, link.tag = spec.name, spec.url, spec.tag
    link.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="tracked_link.saved",
        subject_type="tracked_link",
        subject_id=link.id,
        ip=ip,
        **spec.model_dump(mode="json"),
    )
    return link


@tagging.names_tags("tracked links")
def _rename_tag(session: Session, shop_id: int, old: str, new: str) -> int:
    """Standalone links, and links already sent: their first click gives the tag under its
    new name."""
    renamed = 0
    for model in (StandaloneLink, TrackedLink):
        result = session.execute(
            update(model).where(model.shop_id == shop_id, model.tag == old).values(tag=new)
        )
        renamed += int(getattr(result, "rowcount", 0))
    return renamed
