"""A friend who wrote 配信停止 has stopped the shop's marketing, not the conversation: the
keyword is recorded as consent, campaigns leave them out, yet a staff member's answer to their
question (in the inbox, or 1:1 from the chart) and the auto-replies still reach them; 配信再開
brings the campaigns back."""

from __future__ import annotations

from functools import partial

from sqlalchemy import select

from core.db import Database
from core.tenancy import Shop
from messaging.outbox.models import ConsentRecord, Delivery, DeliveryState
from sandbox.line.server import SandboxServer
from tests.api.admin_support import admin_api
from tests.factories import ChannelSetup
from tests.inbox.support import conversation_id_of
from tests.messaging.support import add_followers, open_all_hours, plan
from tests.waiting import wait_for
from tsunagu.hub import Hub


def _records(db: Database, friend_id: int) -> list[tuple[str, bool, str]]:
    with db.session_scope() as session:
        rows = session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.friend_id == friend_id)
            .order_by(ConsentRecord.id)
        )
        return [(r.purpose, r.granted, r.source) for r in rows]


def _sent(db: Database, delivery_id: int) -> bool:
    with db.session_scope() as session:
        return session.get_one(Delivery, delivery_id).state == DeliveryState.SENT


def test_after_the_stop_keyword_staff_answers_still_reach_the_friend_and_campaigns_do_not(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    say = line_sandbox.simulate.send_text
    say(user_id, "配信停止", channel_id=channel.channel_id)
    say(user_id, "予約の変更はできますか", channel_id=channel.channel_id)
    wait_for(lambda: _records(db, friend_id), what="the keyword recorded")
    assert _records(db, friend_id) == [("marketing", False, "keyword")]
    conversation = wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")
    api = admin_api(db, hub.settings.public_url, shop)

    answer = api.post(
        f"/conversations/{conversation}/replies",
        {"text": "はい、変更できます", "version": 0, "key": "reply-after-stop"},
    )
    assert answer.status_code in (200, 201), answer.text
    chart = api.post(
        f"/friends/{friend_id}/messages",
        {"text": "ご来店お待ちしています", "key": "chart-after-stop"},
    )
    assert chart.status_code in (200, 201), chart.text
    plan(db, channel, [friend_id], source="campaign:1")

    for delivery_id in (answer.json()["delivery_id"], chart.json()["delivery_id"]):
        wait_for(partial(_sent, db, delivery_id), what="the staff answer sent")
    texts = [m.message["text"] for m in line_sandbox.state.inbox(user_id)]
    assert texts == ["はい、変更できます", "ご来店お待ちしています"]
    with db.session_scope() as session:
        (withheld,) = session.scalars(select(Delivery).where(Delivery.source == "campaign:1"))
        assert (withheld.state, withheld.reason) == (
            DeliveryState.SUPPRESSED,
            "friend withdrew consent to marketing messages",
        )

    say(user_id, "配信再開", channel_id=channel.channel_id)
    wait_for(lambda: len(_records(db, friend_id)) == 2, what="the restart recorded")
    assert _records(db, friend_id)[-1] == ("marketing", True, "keyword")
    plan(db, channel, [friend_id], source="campaign:2")
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 3, what="the next campaign sent")
