"""Helpers for the auto-reply tests: rules and FAQ entries saved as the admin API saves them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from autoreply import service
from autoreply.schemas import FaqSpec, RuleSpec
from core.db import Database
from tests.factories import ChannelSetup

HOURS_FAQ: dict[str, Any] = {
    "name": "営業時間",
    "questions": ["営業時間を教えてください", "何時から開いていますか", "何時まで営業していますか"],
    "answer": "営業時間は10時から19時です。",
}
PARKING_FAQ: dict[str, Any] = {
    "name": "駐車場",
    "questions": ["駐車場はありますか", "車で行けますか"],
    "answer": "店舗の裏に駐車場が5台分あります。",
}
CANCEL_FAQ: dict[str, Any] = {
    "name": "キャンセル",
    "questions": ["予約をキャンセルしたい", "予約を取り消したいです"],
    "answer": "キャンセルは前日までにこちらからお願いします。",
}


def text(reply: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": reply}]


def rule_spec(channel: ChannelSetup, **fields: Any) -> RuleSpec:
    """A rule on the channel: by default, the exact word 営業時間 answered with a text."""
    body: dict[str, Any] = {
        "name": "hours",
        "channel": channel.channel_id,
        "match": "exact",
        "pattern": "営業時間",
        "actions": {"reply": text("10時から19時まで営業しています")},
    }
    return RuleSpec.model_validate(body | fields)


def add_rule(session: Session, channel: ChannelSetup, **fields: Any) -> int:
    rule = service.save_rule(
        session, shop_id=channel.shop_id, spec=rule_spec(channel, **fields), actor="test"
    )
    return rule.id


def add_faq(session: Session, channel: ChannelSetup, entry: dict[str, Any], **fields: Any) -> int:
    spec = FaqSpec.model_validate({"channel": channel.channel_id, **entry, **fields})
    return service.save_faq(session, shop_id=channel.shop_id, spec=spec, actor="test").id


def save_rule(database: Database, channel: ChannelSetup, **fields: Any) -> int:
    with database.session_scope() as session:
        return add_rule(session, channel, **fields)
