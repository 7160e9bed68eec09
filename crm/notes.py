"""Notes on a friend: added by staff (or a script), pinned to the top, edited by their author
only; every change is audited, an edit with the text it replaced."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.errors import Forbidden, NotFound
from crm.models import Note
from idlink.models import Friend

MAX_NOTE_LENGTH = 5000


class NoteIn(BaseModel):
    """A note's text (the console's form and the admin API's body)."""

    body: str = Field(min_length=1, max_length=MAX_NOTE_LENGTH)

    @field_validator("body", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value


class NoteChange(BaseModel):
    """What a PATCH changes: the text, whether it is pinned, or both (omitted: kept)."""

    body: str | None = Field(None, min_length=1, max_length=MAX_NOTE_LENGTH)
    pinned: bool | None = None


class NoteOut(BaseModel):
    id: int
    author: str = Field(description="staff:<email> or token:<name>.")
    body: str
    pinned: bool
    created_at: datetime
    updated_at: datetime


class NoteNotFound(NotFound):
    """No such note on this friend."""


class NotTheAuthor(Forbidden):
    """Only a note's author edits its text."""


def notes_of(session: Session, friend: Friend) -> list[NoteOut]:
    """The friend's notes: pinned first, then newest first."""
    notes = session.scalars(
        select(Note)
        .where(Note.friend_id == friend.id, Note.shop_id == friend.shop_id)
        .order_by(Note.pinned.desc(), Note.created_at.desc(), Note.id.desc())
    )
    return [NoteOut.model_validate(n, from_attributes=True) for n in notes]


def get_note(session: Session, friend: Friend, note_id: int) -> Note:
    note = session.get(Note, note_id)
    if note is None or note.friend_id != friend.id or note.shop_id != friend.shop_id:
        raise NoteNotFound(f"no note {note_id} on friend {friend.id}")
    return note


def add_note(
    session: Session, *, friend: Friend, body: NoteIn, author: str, ip: str | None = None
) -> Note:
    """Add a note by ``author``; audited with its text."""
    now = utcnow()
    note = Note(
        shop_id=friend.shop_id,
        friend_id=friend.id,
        author=author,
        body=body.body,
        created_at=now,
        updated_at=now,
    )
    session.add(note)
    session.flush()
    _audit(session, note, author, "friend.note_added", ip, body=note.body)
    return note


def edit_note(
    session: Session, *, note: Note, body: NoteIn, actor: str, ip: str | None = None
) -> Note:
    """Replace the note's text; only its author may, and the audit log keeps the earlier text."""
    if note.author != actor:
        raise NotTheAuthor("only the note's author can edit it")
    if note.body != body.body:
        _audit(session, note, actor, "friend.note_edited", ip, before=note.body, body=body.body)
        note.body = body.body
        note.updated_at = utcnow()
    return note


def set_pinned(
    session: Session, *, note: Note, pinned: bool, actor: str, ip: str | None = None
) -> Note:
    """Pin the note to the top of the chart, or unpin it; any staff allowed notes may."""
    if note.pinned != pinned:
        note.pinned = pinned
        action = "friend.note_pinned" if pinned else "friend.note_unpinned"
        _audit(session, note, actor, action, ip)
    return note


def _audit(
    session: Session, note: Note, actor: str, action: str, ip: str | None, **detail: Any
) -> None:
    audit.record(
        session,
        shop_id=note.shop_id,
        actor=actor,
        action=action,
        subject_type="friend",
        subject_id=note.friend_id,
        note_id=note.id,
        ip=ip,
        **detail,
    )
