"""A friend writes on LINE (a sandbox user, over real HTTP) and the hub answers by its rules and
FAQ: as a reply with the event's token (free of quota), once, in active mode only."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from autoreply.models import AutoReplyHit
from core.db import Database
from core.inbox import EventStatus, InboundEvent
from core.tenancy import Channel, Shop
from crm import fields
from crm.field_schemas import FieldDefinitionIn, FieldType
from idlink.models import Friend, FriendTag
from inbox import library
from inbox.models import Conversation, ConversationStatus, InboxMark
from inbox.schemas import MarkIn
from messaging import enrolment
from messaging.outbox.models import Delivery
from messaging.sequences import sequences
from messaging.sequences.schemas import SequenceSpec
from sandbox.line.server import SandboxServer
from staff.models import Role, StaffUser
from tests.autoreply.support import CANCEL_FAQ, HOURS_FAQ, add_faq, save_rule, text
from tests.console.support import add_staff
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub


def _friend(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> tuple[int, str]:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    return friend_id, user_id


def _received(line_sandbox: SandboxServer, user_id: str) -> list[tuple[str, object]]:
    return [
        (m.endpoint, m.message.get("text", m.message.get("type")))
        for m in line_sandbox.state.inbox(user_id)
    ]


def _sent(db: Database) -> int:
    with db.session_scope() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    Delivery.source.startswith("autoreply:"), Delivery.state == "sent"
                )
            )
            or 0
        )


def wait_until_sent(db: Database, count: int) -> None:
    wait_for(lambda: _sent(db) == count, what=f"{count} auto-replies sent")


def _processed(db: Database) -> int:
    with db.session_scope() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    InboundEvent.event_type == "message",
                    InboundEvent.status == EventStatus.PROCESSED,
                )
            )
            or 0
        )


def _hits(db: Database) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(AutoReplyHit)) or 0


def test_a_keyword_is_answered_by_reply_free_of_quota(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friend_id, user_id = _friend(db, line_sandbox, channel)
    save_rule(
        db,
        channel,
        match="contains",
        pattern="営業時間",
        actions={"reply": text("10時から19時まで営業しています"), "add_tags": ["営業時間を質問"]},
    )
    usage = line_sandbox.state.current_usage(line_sandbox.state.channel(channel.channel_id))

    line_sandbox.simulate.send_text(
        user_id, "営業時間を知りたいです", channel_id=channel.channel_id
    )
    wait_until_sent(db, 1)

    assert _received(line_sandbox, user_id) == [("replyMessage", "10時から19時まで営業しています")]
    assert line_sandbox.state.current_usage(line_sandbox.state.channel(channel.channel_id)) == usage
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).where(FriendTag.friend_id == friend_id)) == 1


def test_a_faq_question_in_other_words_gets_the_answer(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    _friend_id, user_id = _friend(db, line_sandbox, channel)
    with db.session_scope() as session:
        add_faq(session, channel, HOURS_FAQ)
        add_faq(session, channel, CANCEL_FAQ)

    line_sandbox.simulate.send_text(user_id, "ｷｬﾝｾﾙしたいです", channel_id=channel.channel_id)
    wait_until_sent(db, 1)

    assert _received(line_sandbox, user_id) == [("replyMessage", CANCEL_FAQ["answer"])]


def test_a_message_like_no_question_is_left_to_staff(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    _friend_id, user_id = _friend(db, line_sandbox, channel)
    with db.session_scope() as session:
        add_faq(session, channel, HOURS_FAQ)
    save_rule(db, channel, name="stop-words", match="exact", pattern="営業時間")
    line_sandbox.simulate.send_text(
        user_id, "今日の天気はどうですか", channel_id=channel.channel_id
    )
    # The rule answers a later message: by then the first was processed and left unanswered.
    line_sandbox.simulate.send_text(user_id, "営業時間", channel_id=channel.channel_id)
    wait_until_sent(db, 1)
    wait_for(lambda: _processed(db) == 2, what="both messages processed")

    assert _received(line_sandbox, user_id) == [("replyMessage", "10時から19時まで営業しています")]
    assert _hits(db) == 1


def test_a_once_per_friend_rule_answers_the_second_message_with_nothing(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    _friend_id, user_id = _friend(db, line_sandbox, channel)
    save_rule(db, channel, frequency="once_per_friend", actions={"reply": text("ようこそ")})
    save_rule(
        db,
        channel,
        name="fallback",
        priority=1,
        match="any",
        pattern="",
        actions={"reply": text("担当者からご連絡します")},
    )

    line_sandbox.simulate.send_text(user_id, "営業時間", channel_id=channel.channel_id)
    wait_until_sent(db, 1)
    line_sandbox.simulate.send_text(user_id, "営業時間", channel_id=channel.channel_id)
    wait_until_sent(db, 2)

    assert [t for _e, t in _received(line_sandbox, user_id)] == [
        "ようこそ",
        "担当者からご連絡します",
    ]


def test_an_opt_out_keyword_is_not_auto_answered(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    _friend_id, user_id = _friend(db, line_sandbox, channel)
    save_rule(db, channel, match="any", pattern="", actions={"reply": text("ありがとうございます")})

    line_sandbox.simulate.send_text(user_id, "配信停止", channel_id=channel.channel_id)
    line_sandbox.simulate.send_text(user_id, "こんにちは", channel_id=channel.channel_id)
    wait_until_sent(db, 1)
    wait_for(lambda: _processed(db) == 2, what="both messages processed")

    # Withdrawing marketing consent leaves answers to the friend's own questions (service).
    assert _received(line_sandbox, user_id) == [("replyMessage", "ありがとうございます")]
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1


def test_a_standby_channel_answers_nothing(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    _friend_id, user_id = _friend(db, line_sandbox, channel)
    save_rule(db, channel)
    line_sandbox.state.update_channel(channel.channel_id, mode="standby")

    line_sandbox.simulate.send_text(user_id, "営業時間", channel_id=channel.channel_id)
    wait_for(lambda: _processed(db) == 1, what="the standby message processed")

    assert _hits(db) == 0
    assert _received(line_sandbox, user_id) == []


def test_the_out_of_hours_answer_marks_and_assigns_and_leaves_the_conversation_unhandled(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, shop: Shop
) -> None:
    friend_id, user_id = _friend(db, line_sandbox, channel)
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    with db.session_scope() as session:
        library.add_mark(session, shop_id=shop.id, body=MarkIn(name="営業時間外"), actor="test")
    # Open one minute a day, six hours from now: the test runs outside opening hours.
    opening = datetime.now(ZoneInfo("Asia/Tokyo")) + timedelta(hours=6)
    one_minute = {
        "start": f"{opening:%H:%M}",
        "end": f"{opening + timedelta(minutes=1):%H:%M}",
    }
    save_rule(
        db,
        channel,
        name="after-hours",
        match="any",
        pattern="",
        frequency="once_per_window",
        schedule=one_minute | {"outside": True},
        actions={
            "reply": text("営業時間外です。明日ご連絡します。"),
            "mark": "営業時間外",
            "assign": "aoi@example.jp",
        },
    )

    line_sandbox.simulate.send_text(user_id, "すみません", channel_id=channel.channel_id)
    wait_until_sent(db, 1)
    line_sandbox.simulate.send_text(user_id, "もしもし", channel_id=channel.channel_id)
    wait_for(lambda: _processed(db) == 2, what="both messages processed")

    assert _received(line_sandbox, user_id) == [
        ("replyMessage", "営業時間外です。明日ご連絡します。")
    ]
    with db.session_scope() as session:
        conversation = session.scalars(
            select(Conversation).where(Conversation.friend_id == friend_id)
        ).one()
        mark = session.get_one(InboxMark, conversation.mark_id)
        assignee = session.get_one(StaffUser, conversation.assignee_id)
        assert (conversation.status, mark.name, assignee.email) == (
            ConversationStatus.NEW,
            "営業時間外",
            "aoi@example.jp",
        )
        assert conversation.first_replied_at is None


def test_a_rule_replies_with_a_sticker_sets_a_field_enrols_and_sends_the_link_message(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, shop: Shop
) -> None:
    friend_id, user_id = _friend(db, line_sandbox, channel)
    with db.session_scope() as session:
        fields.define(
            session,
            shop_id=shop.id,
            spec=FieldDefinitionIn(key="interest", label="関心", type=FieldType.TEXT),
            actor="test",
        )
        sequences.save(
            session,
            shop_id=shop.id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=SequenceSpec.model_validate(
                {
                    "name": "coupon-course",
                    "channel": channel.channel_id,
                    "enroll_on": {"event": "tag", "tag": "never-used"},
                    "steps": [{"delay": {"days": 3}, "messages": text("3日後のご案内")}],
                }
            ),
            actor="test",
        )
    sticker = {"type": "sticker", "packageId": "446", "stickerId": "1988"}
    save_rule(
        db,
        channel,
        name="member",
        match="exact",
        pattern="会員",
        actions={
            "reply": [sticker],
            "set_fields": {"interest": "会員登録"},
            "sequence": "coupon-course",
            "account_link": True,
        },
    )

    line_sandbox.simulate.send_text(user_id, "会員", channel_id=channel.channel_id)
    wait_until_sent(db, 1)

    received = line_sandbox.state.inbox(user_id)
    assert [(m.endpoint, m.message["type"]) for m in received] == [
        ("pushMessage", "text"),  # the account-link page, pushed by the link flow itself
        ("replyMessage", "sticker"),
    ]
    assert "会員証とこのLINEアカウントを連携するには" in received[0].message["text"]
    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        values = {f.definition.key: f.value for f in fields.fields_of(session, shop.id, friend.id)}
        assert values["interest"] == "会員登録"
        assert [p.sequence for p in enrolment.in_progress(session, friend)] == ["coupon-course"]
