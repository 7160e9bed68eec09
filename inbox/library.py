"""What a shop prepares for its inbox: its own marks (with colours) and canned replies.

A canned reply's text is a template of one text message: it may hold any variable a message
template may (``{{ display_name }}``, ``{{ field.KEY }}``, ``{{ link:URL }}`` …), checked when
it is saved and filled by the same renderer when it is sent. ``{name}`` and ``{shop}`` are its
short forms of ``{{ display_name }}`` and ``{{ shop_name }}``.
"""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import audit
from core.errors import Conflict, NotFound
from core.tenancy import Channel
from inbox.models import CannedReply, Conversation, InboxChannelSettings, InboxMark
from inbox.schemas import CannedIn, CannedOut, MarkIn, MarkOut
from messaging.compose import templates
from messaging.compose.library import available
from messaging.outbox.payloads import Message

# The forms canned replies had before they shared the templates' renderer, kept working.
SHORT_FORMS = {"name": "display_name", "shop": "shop_name"}
_SHORT_FORM = re.compile(r"(?<!\{)\{(name|shop)\}(?!\})")


class NameTaken(Conflict):
    """The shop already has a mark of this name (or a canned reply with this code)."""


def marks(session: Session, shop_id: int) -> list[MarkOut]:
    rows = session.scalars(
        select(InboxMark).where(InboxMark.shop_id == shop_id).order_by(InboxMark.name)
    )
    return [MarkOut(id=m.id, name=m.name, colour=m.colour) for m in rows]


def mark_id(session: Session, shop_id: int, name: str) -> int | None:
    """The id of the shop's inbox mark named ``name``."""
    return session.scalar(
        select(InboxMark.id).where(InboxMark.shop_id == shop_id, InboxMark.name == name)
    )


def add_mark(session: Session, *, shop_id: int, body: MarkIn, actor: str) -> MarkOut:
    if session.scalar(
        select(InboxMark.id).where(InboxMark.shop_id == shop_id, InboxMark.name == body.name)
    ):
        raise NameTaken(f"a mark named {body.name!r} exists")
    mark = InboxMark(shop_id=shop_id, name=body.name, colour=body.colour)
    session.add(mark)
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="inbox_mark.created",
        subject_type="inbox_mark",
        subject_id=mark.id,
        name=mark.name,
        colour=mark.colour,
    )
    return MarkOut(id=mark.id, name=mark.name, colour=mark.colour)


def save_mark(session: Session, *, shop_id: int, body: MarkIn, actor: str) -> MarkOut:
    """Create the mark of ``body.name``, or change its colour (audited when it changes)."""
    mark = session.scalar(
        select(InboxMark).where(InboxMark.shop_id == shop_id, InboxMark.name == body.name)
    )
    if mark is None:
        return add_mark(session, shop_id=shop_id, body=body, actor=actor)
    if mark.colour != body.colour:
        mark.colour = body.colour
        audit.record(
            session,
            shop_id=shop_id,
            actor=actor,
            action="inbox_mark.updated",
            subject_type="inbox_mark",
            subject_id=mark.id,
            name=mark.name,
            colour=mark.colour,
        )
    return MarkOut(id=mark.id, name=mark.name, colour=mark.colour)


def delete_mark(session: Session, *, shop_id: int, mark_id: int, actor: str) -> None:
    """Delete the mark; the conversations that had it keep their status, without a mark."""
    mark = session.get(InboxMark, mark_id)
    if mark is None or mark.shop_id != shop_id:
        raise NotFound(f"no mark {mark_id} in this shop")
    session.execute(
        update(Conversation).where(Conversation.mark_id == mark.id).values(mark_id=None)
    )
    session.delete(mark)
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="inbox_mark.deleted",
        subject_type="inbox_mark",
        subject_id=mark_id,
        name=mark.name,
    )


def canned_replies(session: Session, shop_id: int) -> list[CannedOut]:
    rows = session.scalars(
        select(CannedReply).where(CannedReply.shop_id == shop_id).order_by(CannedReply.code)
    )
    return [CannedOut(id=c.id, code=c.code, title=c.title, body=c.body) for c in rows]


def save_canned(session: Session, *, shop_id: int, body: CannedIn, actor: str) -> CannedOut:
    """Create the canned reply of ``body.code``, or change it; ``InvalidTemplate`` (422), and
    nothing saved, for a variable it cannot have or a text LINE would refuse with every variable
    at its longest."""
    templates.check(canned_template(body.body), available=available(session, shop_id))
    canned = session.scalar(
        select(CannedReply).where(CannedReply.shop_id == shop_id, CannedReply.code == body.code)
    )
    if canned is None:
        canned = CannedReply(shop_id=shop_id, code=body.code)
        session.add(canned)
    canned.title, canned.body = body.title, body.body
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="canned_reply.saved",
        subject_type="canned_reply",
        subject_id=canned.id,
        code=canned.code,
    )
    return CannedOut(id=canned.id, code=canned.code, title=canned.title, body=canned.body)


def delete_canned(session: Session, *, shop_id: int, code: str, actor: str) -> None:
    canned = session.scalar(
        select(CannedReply).where(CannedReply.shop_id == shop_id, CannedReply.code == code)
    )
    if canned is None:
        raise NotFound(f"no canned reply /{code} in this shop")
    session.delete(canned)
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="canned_reply.deleted",
        subject_type="canned_reply",
        subject_id=canned.id,
        code=code,
    )


def canned_template(body: str) -> list[Message]:
    """A canned reply's text as a one-message template: its short forms ``{name}`` and
    ``{shop}`` written out as ``{{ display_name }}`` and ``{{ shop_name }}``."""
    text = _SHORT_FORM.sub(lambda found: "{{ " + SHORT_FORMS[found.group(1)] + " }}", body)
    return [{"type": "text", "text": text}]


def find_canned(session: Session, *, shop_id: int, text: str) -> CannedReply | None:
    """The canned reply a reply of exactly ``/code`` names; None for any other text."""
    stripped = text.strip()
    if not stripped.startswith("/") or " " in stripped:
        return None
    return session.scalar(
        select(CannedReply).where(CannedReply.shop_id == shop_id, CannedReply.code == stripped[1:])
    )


def set_read_manually(
    session: Session, *, shop_id: int, line_channel_id: str, read_manually: bool, actor: str
) -> bool:
    """Say whether the channel's LINE account marks messages read by API (manual)."""
    channel = session.scalar(
        select(Channel).where(
            Channel.shop_id == shop_id, Channel.line_channel_id == line_channel_id
        )
    )
    if channel is None:
        raise NotFound(f"no channel {line_channel_id} in this shop")
    settings = session.get(InboxChannelSettings, channel.id)
    if settings is None:
        settings = InboxChannelSettings(channel_id=channel.id)
        session.add(settings)
    settings.read_manually = read_manually
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="channel.read_mode_set",
        subject_type="channel",
        subject_id=channel.id,
        read_manually=read_manually,
    )
    return read_manually
