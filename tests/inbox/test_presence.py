"""Who else has a conversation open: a colleague counts while their page renews itself, stops
counting 30 seconds after it went silent or at once when it closed, and shows as typing for a
few seconds after their last key; arriving, typing and leaving each signal the other pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.tenancy import Shop
from idlink.models import Friend
from inbox import conversations, presence
from inbox.models import InboxSignal
from staff.models import Role, StaffUser
from tests.api.admin_support import add_friend
from tests.console.support import add_staff
from tests.factories import ChannelSetup
from tests.transactional import RolledBackDatabase as FastDb

pytestmark = pytest.mark.fast


def test_a_colleague_counts_while_their_page_lives_and_shows_typing_briefly(
    db: FastDb, shop: Shop, channel: ChannelSetup
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    add_staff(db, shop, "ren@example.jp", Role.OPERATOR)
    friend_id = add_friend(db, channel.channel_pk, "U" + "b" * 32)
    start = utcnow()
    with db.session_scope() as session:
        aoi, ren = (
            session.scalars(select(StaffUser.id).where(StaffUser.email == email)).one()
            for email in ("aoi@example.jp", "ren@example.jp")
        )
        conversation = conversations.conversation_of(session, session.get_one(Friend, friend_id))

        def seen_by_aoi(after: float) -> list[tuple[str, bool]]:
            now = start + timedelta(seconds=after)
            found = presence.others(session, conversation, staff_user_id=aoi, now=now)
            return [(v.email, v.typing) for v in found]

        def signals() -> int:
            return len(
                session.scalars(
                    select(InboxSignal).where(
                        InboxSignal.conversation_id == conversation.id,
                        InboxSignal.kind == "presence",
                    )
                ).all()
            )

        presence.beat(session, conversation=conversation, staff_user_id=aoi, now=start)
        presence.beat(session, conversation=conversation, staff_user_id=ren, now=start)
        for second in (10, 20):
            presence.beat(
                session,
                conversation=conversation,
                staff_user_id=ren,
                now=start + timedelta(seconds=second),
            )
        arrived = signals()
        presence.beat(
            session,
            conversation=conversation,
            staff_user_id=ren,
            typing=True,
            now=start + timedelta(seconds=25),
        )

        assert arrived == 2
        assert signals() == 3
        assert seen_by_aoi(26) == [("ren@example.jp", True)]
        assert seen_by_aoi(40) == [("ren@example.jp", False)]
        assert seen_by_aoi(56) == []
        assert presence.others(session, conversation, staff_user_id=ren, now=start) == [
            presence.Viewer(email="aoi@example.jp", typing=False)
        ]

        presence.leave(session, conversation=conversation, staff_user_id=aoi)
        assert presence.others(session, conversation, staff_user_id=ren, now=start) == []
        assert signals() == 4
