"""Who else has a conversation open, and who is writing a reply in it.

Each open conversation page renews its row every few seconds; a row not renewed for 30 seconds
(the page closed, the phone slept) no longer counts. Arriving, leaving and starting to type
write a signal, so the other open pages — in any hub process — show it at once; the rest
(typing stopped, a page gone silent) shows at their next renewal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.clock import as_utc, utcnow
from core.db import insert, rows_matched
from inbox.live import signal
from inbox.models import Conversation, InboxPresence
from staff.models import StaffUser

# A page renews its presence every 10 seconds: three missed renewals and it is gone.
PRESENT_FOR = timedelta(seconds=30)
# Typing shows while keys were pressed this recently.
TYPING_FOR = timedelta(seconds=8)


class Viewer(BaseModel):
    email: str
    typing: bool


def beat(
    session: Session,
    *,
    conversation: Conversation,
    staff_user_id: int,
    typing: bool = False,
    now: datetime | None = None,
) -> None:
    """The staff member's page is open on the conversation (and they are typing, if said)."""
    now = now or utcnow()
    before = session.get(InboxPresence, (conversation.id, staff_user_id))
    was_present = before is not None and as_utc(before.seen_at) > now - PRESENT_FOR
    was_typing = _typing(before, now)
    values = {"seen_at": now, **({"typing_at": now} if typing else {})}
    session.execute(
        insert(session, InboxPresence)
        .values(
            conversation_id=conversation.id,
            staff_user_id=staff_user_id,
            shop_id=conversation.shop_id,
            **values,
        )
        .on_conflict_do_update(index_elements=["conversation_id", "staff_user_id"], set_=values)
    )
    if not was_present or (typing and not was_typing):
        signal(session, conversation, "presence")


def leave(session: Session, *, conversation: Conversation, staff_user_id: int) -> None:
    """The staff member closed the conversation's page."""
    gone = session.execute(
        delete(InboxPresence).where(
            InboxPresence.conversation_id == conversation.id,
            InboxPresence.staff_user_id == staff_user_id,
        )
    )
    if rows_matched(gone):
        signal(session, conversation, "presence")


def others(
    session: Session,
    conversation: Conversation,
    *,
    staff_user_id: int,
    now: datetime | None = None,
) -> list[Viewer]:
    """The other staff with the conversation open now, by email."""
    now = now or utcnow()
    rows = session.execute(
        select(InboxPresence, StaffUser.email)
        .join(StaffUser, StaffUser.id == InboxPresence.staff_user_id)
        .where(
            InboxPresence.conversation_id == conversation.id,
            InboxPresence.staff_user_id != staff_user_id,
            InboxPresence.seen_at > now - PRESENT_FOR,
        )
        .order_by(StaffUser.email)
    )
    return [Viewer(email=email, typing=_typing(row, now)) for row, email in rows]


def _typing(row: InboxPresence | None, now: datetime) -> bool:
    return (
        row is not None and row.typing_at is not None and as_utc(row.typing_at) > now - TYPING_FOR
    )


def forget_old(session: Session, *, now: datetime | None = None) -> int:
    """Delete the presence of pages silent for long (the page closed without saying so)."""
    cutoff = (now or utcnow()) - PRESENT_FOR * 10
    return rows_matched(
        session.execute(delete(InboxPresence).where(InboxPresence.seen_at < cutoff))
    )
