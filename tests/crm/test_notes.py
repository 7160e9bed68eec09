"""Notes on a friend: pinned first, edited by their author only, every change audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from crm import notes
from crm.notes import NoteIn
from idlink.models import Friend
from tests.api.admin_support import add_friend
from tests.factories import ChannelSetup

pytestmark = pytest.mark.fast


def test_notes_are_listed_pinned_first_then_newest(db: Database, channel: ChannelSetup) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        first = notes.add_note(session, friend=friend, body=NoteIn(body="first"), author="staff:a")
        notes.add_note(session, friend=friend, body=NoteIn(body="second"), author="staff:a")
        notes.set_pinned(session, note=first, pinned=True, actor="staff:b")

        assert [n.body for n in notes.notes_of(session, friend)] == ["first", "second"]


def test_an_edit_keeps_the_earlier_text_in_the_audit_log_and_only_the_author_edits(
    db: Database, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        note = notes.add_note(
            session, friend=friend, body=NoteIn(body=" 白髪染めは避ける "), author="staff:a"
        )
        notes.edit_note(session, note=note, body=NoteIn(body="白髪染めOK"), actor="staff:a")
        with pytest.raises(notes.NotTheAuthor):
            notes.edit_note(session, note=note, body=NoteIn(body="x"), actor="staff:b")

    with db.session_scope() as session:
        edits = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        assert [e.action for e in edits] == ["friend.note_added", "friend.note_edited"]
        assert edits[0].detail["body"] == "白髪染めは避ける"
        assert edits[1].detail["before"] == "白髪染めは避ける"
        assert edits[1].detail["body"] == "白髪染めOK"
