"""Which rule or FAQ entry answers a message, and why: text, priority, hours in the channel's
timezone, dates, conditions on the friend, frequency, and hostile regular expressions."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import update

from autoreply import matching, patterns, service
from autoreply.models import AutoReplyHit, AutoReplyRule
from autoreply.schemas import TryIn
from core.clock import utcnow
from core.db import Database
from core.inbox import InboundEvent
from core.tenancy import Channel
from crm import fields
from crm.field_schemas import FieldDefinitionIn, FieldType
from messaging.outbox.models import Delivery
from tests.api.admin_support import add_friend
from tests.autoreply.support import (
    CANCEL_FAQ,
    HOURS_FAQ,
    PARKING_FAQ,
    add_faq,
    add_rule,
    rule_spec,
    text,
)
from tests.factories import ChannelSetup
from tests.messaging.support import plan

pytestmark = pytest.mark.fast

# Monday 2026-12-07 10:30 in Tokyo (the channel's timezone), 01:30 UTC.
MONDAY_MORNING = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)
# Sunday 2026-12-06 22:00 in Tokyo.
SUNDAY_NIGHT = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
# As typed on a Japanese keyboard: the full-width question mark, full-width latin letters.
QUESTION_MARK = "\uff1f"
FULL_WIDTH_STOP = "\uff33\uff34\uff2f\uff30"
OPENING = {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start": "10:00", "end": "19:00"}


def _fires(db: Database, channel: ChannelSetup, said: str) -> str | None:
    with db.session_scope() as session:
        body = TryIn(channel=channel.channel_id, text=said)
        return service.try_message(
            session, shop_id=channel.shop_id, body=body, now=MONDAY_MORNING
        ).fires


def test_each_kind_of_match(db: Database, channel: ChannelSetup) -> None:
    assert patterns.matches("exact", "営業時間", " 営業時間 ")
    assert not patterns.matches("exact", "営業時間", "営業時間は" + QUESTION_MARK)
    assert patterns.matches("contains", "予約", "明日予約できますか")
    assert patterns.matches("prefix", "クーポン", "クーポンください")
    assert not patterns.matches("prefix", "クーポン", "このクーポン")
    assert patterns.matches("exact", FULL_WIDTH_STOP, "stop")
    assert patterns.matches("regex", r"^\d{3}-?\d{4}$", "150-0001")
    assert patterns.matches("any", "", "なんでも")


def test_the_highest_priority_matching_rule_answers_and_says_why(
    db: Database, channel: ChannelSetup
) -> None:
    with db.session_scope() as session:
        add_rule(session, channel, name="general", match="contains", pattern="予約", priority=10)
        add_rule(
            session, channel, name="cancel", match="contains", pattern="キャンセル", priority=50
        )
        body = TryIn(channel=channel.channel_id, text="予約をキャンセルしたい")
        result = service.try_message(
            session, shop_id=channel.shop_id, body=body, now=MONDAY_MORNING
        )

    assert result.fires == "rule:cancel"
    assert [(r.name, r.matched) for r in result.rules] == [("cancel", True), ("general", False)]
    assert "priority 50" in result.rules[0].reason
    assert result.rules[1].reason == "matches too; a higher priority rule answers"


def test_hours_and_weekdays_are_the_channels_local_time(
    db: Database, channel: ChannelSetup
) -> None:
    with db.session_scope() as session:
        add_rule(session, channel, name="open", schedule=OPENING)
        add_rule(
            session,
            channel,
            name="closed",
            match="any",
            pattern="",
            priority=5,
            frequency="once_per_window",
            schedule=OPENING | {"outside": True},
            actions={"reply": text("本日の営業は終了しました。明日ご連絡します。")},
        )
        local = {
            moment: service.try_message(
                session,
                shop_id=channel.shop_id,
                body=TryIn(channel=channel.channel_id, text="営業時間"),
                now=moment,
            )
            for moment in (MONDAY_MORNING, SUNDAY_NIGHT)
        }

    assert local[MONDAY_MORNING].fires == "rule:open"
    assert local[SUNDAY_NIGHT].fires == "rule:closed"
    assert local[SUNDAY_NIGHT].rules[0].reason == "outside its days and hours (Sun 22:00)"


def test_a_date_range_bounds_a_rule(db: Database, channel: ChannelSetup) -> None:
    with db.session_scope() as session:
        add_rule(session, channel, schedule={"date_from": "2026-12-10", "date_to": "2026-12-25"})
        result = service.try_message(
            session,
            shop_id=channel.shop_id,
            body=TryIn(channel=channel.channel_id, text="営業時間"),
            now=MONDAY_MORNING,
        )
    assert result.fires is None
    assert result.rules[0].reason == "starts on 2026-12-10"


def test_conditions_on_tags_fields_and_link(db: Database, channel: ChannelSetup) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "2" * 32, tags=("vip",))
    with db.session_scope() as session:
        fields.define(
            session,
            shop_id=channel.shop_id,
            spec=FieldDefinitionIn(key="plan", label="Plan", type=FieldType.TEXT),
            actor="test",
        )
        add_rule(
            session, channel, name="vip", conditions={"tags": ["vip"], "fields": {"plan": "gold"}}
        )
        add_rule(session, channel, name="members", priority=1, conditions={"linked": True})

    def verdicts() -> list[str]:
        with db.session_scope() as session:
            body = TryIn(channel=channel.channel_id, text="営業時間", friend_id=friend_id)
            out = service.try_message(
                session, shop_id=channel.shop_id, body=body, now=MONDAY_MORNING
            )
            return [r.reason for r in out.rules]

    assert verdicts() == ["field 'plan' is not 'gold'", "the friend is not linked to a member"]
    with db.session_scope() as session:
        friend = session.get_one(fields.Friend, friend_id)
        fields.set_value(session, friend=friend, key="plan", value="gold", actor="test")
    assert verdicts()[0].startswith("matches exact '営業時間'")


def test_japanese_questions_in_other_words_find_their_faq_entry(
    db: Database, channel: ChannelSetup
) -> None:
    with db.session_scope() as session:
        for entry in (HOURS_FAQ, PARKING_FAQ, CANCEL_FAQ):
            add_faq(session, channel, entry)

    assert _fires(db, channel, "営業時間は何時ですか" + QUESTION_MARK) == "faq:営業時間"
    assert _fires(db, channel, "何時まで開いてる" + QUESTION_MARK) == "faq:営業時間"
    assert _fires(db, channel, "駐車場ありますか") == "faq:駐車場"
    assert _fires(db, channel, "ｷｬﾝｾﾙしたいです") == "faq:キャンセル"  # half-width katakana
    assert _fires(db, channel, "きゃんせるしたい") == "faq:キャンセル"  # hiragana
    # Below every threshold: nothing is sent, staff answer.
    assert _fires(db, channel, "今日の天気はどうですか") is None
    assert _fires(db, channel, "在庫はありますか") is None
    assert _fires(db, channel, "ありがとう") is None


def test_the_tester_shows_each_faq_score_against_its_threshold(
    db: Database, channel: ChannelSetup
) -> None:
    with db.session_scope() as session:
        add_faq(session, channel, PARKING_FAQ, threshold=0.9)
        body = TryIn(channel=channel.channel_id, text="駐車場ありますか")
        out = service.try_message(session, shop_id=channel.shop_id, body=body, now=MONDAY_MORNING)

    assert out.fires is None
    (score,) = out.faq
    assert (score.name, score.question, score.threshold) == ("駐車場", "駐車場はありますか", 0.9)
    assert 0.3 < score.score < 0.9


def test_a_pattern_that_backtracks_catastrophically_is_refused_with_a_reason(
    channel: ChannelSetup,
) -> None:
    with pytest.raises(ValidationError, match="backtracks catastrophically"):
        rule_spec(channel, match="regex", pattern="(a|aa)+$")
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        rule_spec(channel, match="regex", pattern="(unclosed")


def test_nested_repetition_cannot_stall_the_worker(db: Database, channel: ChannelSetup) -> None:
    hostile = "a" * 5000 + "!"
    started = time.monotonic()
    assert not patterns.matches("regex", "(a+)+$", hostile)
    assert time.monotonic() - started < 1

    # A hostile pattern that reached the database anyway (saved before a check, edited by
    # hand) runs out of its time on a long message: no match, and the next rule answers.
    with db.session_scope() as session:
        rule_id = add_rule(session, channel, name="hostile", match="regex", pattern="x", priority=9)
        add_rule(session, channel, name="fallback", match="any", pattern="", priority=1)
        rule = session.get_one(AutoReplyRule, rule_id)
        session.execute(
            update(AutoReplyRule)
            .where(AutoReplyRule.id == rule_id)
            .values(
                pattern="(a|aa)+$", spec=rule.spec | {"pattern": "(a|aa)+$"}, updated_at=utcnow()
            )
        )
    started = time.monotonic()
    assert _fires(db, channel, "a" * 40 + "!") == "rule:fallback"
    assert time.monotonic() - started < 1


def test_overlapping_rules_are_flagged(db: Database, channel: ChannelSetup) -> None:
    with db.session_scope() as session:
        add_rule(session, channel, name="reservation", match="contains", pattern="予約")
        add_rule(session, channel, name="cancel", match="exact", pattern="予約キャンセル")
        add_rule(session, channel, name="coupon", match="prefix", pattern="クーポン")
        listed = {r.name: r.overlaps for r in service.rule_list(session, channel.shop_id)}

    assert listed == {"reservation": ["cancel"], "cancel": ["reservation"], "coupon": []}


def test_a_rule_naming_a_missing_field_is_refused(db: Database, channel: ChannelSetup) -> None:
    with db.session_scope() as session, pytest.raises(service.UnknownReference, match="plan"):
        add_rule(session, channel, actions={"set_fields": {"plan": "gold"}})


def _message_event(db: Database, channel: ChannelSetup, key: str) -> int:
    with db.session_scope() as session:
        event = InboundEvent(
            shop_id=channel.shop_id,
            channel_id=channel.channel_pk,
            source="line",
            scope_id=channel.channel_pk,
            dedup_key=key,
            event_type="message",
            payload={},
        )
        session.add(event)
        session.flush()
        return event.id


def test_the_out_of_hours_answer_comes_once_per_window(db: Database, channel: ChannelSetup) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "3" * 32)
    with db.session_scope() as session:
        rule_id = add_rule(session, channel, match="any", pattern="", frequency="once_per_window")
    with db.session_scope() as session:
        hit = AutoReplyHit(
            shop_id=channel.shop_id,
            event_id=_message_event(db, channel, "first"),
            friend_id=friend_id,
            rule_id=rule_id,
            at=SUNDAY_NIGHT,
        )
        session.add(hit)

    def fires(at: datetime) -> str | None:
        with db.session_scope() as session:
            channel_row = session.get_one(Channel, channel.channel_pk)
            decision = matching.decide(
                session, channel=channel_row, text="もしもし", now=at, friend_id=friend_id
            )
            return decision.fires

    assert fires(SUNDAY_NIGHT + timedelta(hours=11)) is None
    assert fires(SUNDAY_NIGHT + matching.WINDOW) == "rule:hours"
    # A staff member wrote since: the window is over.
    plan(db, channel, [friend_id], source="staff:aoi@example.jp", now=SUNDAY_NIGHT)
    with db.session_scope() as session:
        session.execute(update(Delivery).values(created_at=SUNDAY_NIGHT + timedelta(hours=1)))
    assert fires(SUNDAY_NIGHT + timedelta(hours=2)) == "rule:hours"


def test_a_changed_or_deleted_rule_answers_differently_at_once(
    db: Database, channel: ChannelSetup
) -> None:
    with db.session_scope() as session:
        add_rule(session, channel, name="first", match="contains", pattern="予約")
        add_faq(session, channel, PARKING_FAQ)
    assert _fires(db, channel, "予約したい") == "rule:first"

    with db.session_scope() as session:
        rule = service.named_rule(session, shop_id=channel.shop_id, name="first")
        spec = rule_spec(channel, name="first", match="contains", pattern="キャンセル")
        service.save_rule(session, shop_id=channel.shop_id, spec=spec, actor="test", rule=rule)
    assert _fires(db, channel, "予約したい") is None
    assert _fires(db, channel, "キャンセルしたい") == "rule:first"

    with db.session_scope() as session:
        rule = service.named_rule(session, shop_id=channel.shop_id, name="first")
        service.delete_rule(session, rule=rule, actor="test")
        add_faq(session, channel, CANCEL_FAQ)
    assert _fires(db, channel, "キャンセルしたい") == "faq:キャンセル"
