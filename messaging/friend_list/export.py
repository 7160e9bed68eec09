"""The friends a list's filters match, as a CSV file Excel opens as it is (UTF-8 with a BOM),
every cell neutralised against formulas; and the filters saved as a segment."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import IO

from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core import audit, csvfile
from core.clock import utcnow
from core.errors import Unprocessable
from crm.models import FriendOwner
from idlink.models import Friend
from idlink.queries import render_friends
from messaging.compose.schemas import Name
from messaging.friend_list import queries
from messaging.friend_list.filters import FriendFilters
from messaging.segments import segments
from messaging.segments.models import Segment
from messaging.segments.schemas import SegmentSpec
from staff.models import StaffUser

COLUMNS = (
    "friend_id",
    "line_user_id",
    "display_name",
    "status",
    "channel_id",
    "member_number",
    "tags",
    "owner",
    "first_followed_at",
    "last_followed_at",
)
_BATCH = 1000
# Kept in memory up to this size, then spilled to a temporary file.
_SPOOL_BYTES = 8 * 1024 * 1024


def _owners(session: Session, ids: list[int]) -> dict[int, str]:
    return dict(
        session.execute(
            select(FriendOwner.friend_id, StaffUser.email)
            .join(StaffUser, StaffUser.id == FriendOwner.staff_user_id)
            .where(FriendOwner.friend_id.in_(ids))
        ).all()
    )


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def write_csv(
    session: Session,
    *,
    shop_id: int,
    filters: FriendFilters,
    actor: str,
    channel_scope: Sequence[str] | None = None,
    ip: str | None = None,
) -> tuple[IO[bytes], int]:
    """The matching friends as a CSV file (rewound), and how many rows it holds; audited."""
    query = queries.filtered(session, shop_id, filters, channel_scope=channel_scope)
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned open
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    writer = csvfile.writer(text)
    writer.writerow(COLUMNS)
    rows = 0
    for batch in _batches(session, query):
        owners = _owners(session, [f.id for f in batch])
        for friend in render_friends(session, shop_id, batch):
            writer.writerow(
                (
                    friend.id,
                    friend.line_user_id,
                    friend.profile.display_name or "",
                    friend.status,
                    friend.channel_id,
                    friend.link.member_number if friend.link else "",
                    ";".join(friend.tags),
                    owners.get(friend.id, ""),
                    _iso(friend.first_followed_at),
                    _iso(friend.last_followed_at),
                )
            )
        rows += len(batch)
    text.detach()
    out.seek(0)
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="friends.exported",
        subject_type="shop",
        subject_id=shop_id,
        filters=filters.model_dump(mode="json", exclude_defaults=True),
        friends=rows,
        ip=ip,
    )
    return out, rows


def _batches(session: Session, query: Select[Friend]) -> Iterator[list[Friend]]:
    after = 0
    while True:
        batch = list(
            session.scalars(query.where(Friend.id > after).order_by(Friend.id).limit(_BATCH))
        )
        if batch:
            yield batch
        if len(batch) < _BATCH:
            return
        after = batch[-1].id


class SegmentFromFilters(BaseModel):
    """Save what the list is filtered by as a segment named ``name``."""

    name: Name


class NotASegment(Unprocessable):
    """These filters cannot be a segment (a search, an owner, messages are not segment rules),
    or there is no filter at all."""


def save_segment(
    session: Session, *, shop_id: int, name: str, filters: FriendFilters, actor: str
) -> Segment:
    """The list's filters saved as a segment (created, or its rules replaced); audited."""
    beyond = filters.beyond_segments()
    if beyond:
        raise NotASegment(
            "a segment cannot hold these filters: " + ", ".join(beyond) + " (remove them first)"
        )
    rules = filters.segment_rules()
    if not rules:
        raise NotASegment("no filter to save: a segment needs at least one")
    spec = SegmentSpec(name=name, rules={"all": rules})
    return segments.save(session, shop_id=shop_id, spec=spec, actor=actor, now=utcnow())
