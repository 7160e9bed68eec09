"""Erasing a friend leaves nothing of them in their conversation: notes about them (and the
mentions those raised) go, the texts of replies sent to them are cleared."""

from __future__ import annotations

from sqlalchemy import select

from core.db import Database
from core.tenancy import Shop
from inbox.models import ConversationNote, ConversationReply, StaffNotification
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.api.admin_support import admin_api
from tests.console.support import add_staff
from tests.factories import ChannelSetup
from tests.inbox.support import conversation_id_of
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub


def test_erasing_a_friend_clears_the_notes_and_reply_texts_of_their_conversation(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    line_sandbox.simulate.send_text(user_id, "山田です", channel_id=channel.channel_id)
    conversation = wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")
    api = admin_api(db, hub.settings.public_url, shop)
    noted = api.post(f"/conversations/{conversation}/notes", {"body": "@aoi 山田様 090-1234"})
    replied = api.post(
        f"/conversations/{conversation}/replies",
        {"text": "山田様、承知しました", "version": 0, "key": "erase-0001"},
    )
    assert noted.status_code == 201 and replied.status_code == 201

    erased = api.post(f"/friends/{friend_id}/erase", {})

    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["conversation_notes"] == 1
    with db.session_scope() as session:
        assert session.scalars(select(ConversationNote)).all() == []
        assert session.scalars(select(StaffNotification)).all() == []
        assert session.scalars(select(ConversationReply.summary)).all() == ["(erased)"]
