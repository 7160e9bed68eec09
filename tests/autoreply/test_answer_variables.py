"""An auto-reply's answer holds the same ``{{ variables }}`` as campaigns and the composer's
templates, filled for the friend who wrote; an unknown one is refused when the rule is saved."""

from __future__ import annotations

import pytest

from core.db import Database
from idlink.models import Friend
from messaging.compose.templates import InvalidTemplate
from sandbox.line.server import SandboxServer
from tests.autoreply.support import add_faq, save_rule, text
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub


def test_a_rules_answer_and_a_faq_answer_greet_the_friend_by_name(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    with db.session_scope() as session:
        session.get_one(Friend, friend_id).display_name = "鈴木 一郎"
        add_faq(
            session,
            channel,
            {
                "name": "駐車場",
                "questions": ["駐車場はありますか", "車で行けますか"],
                "answer": "{{ display_name }}様、駐車場は5台分あります。",
            },
        )
    save_rule(
        db,
        channel,
        pattern="営業時間",
        actions={"reply": text("{{ display_name }}様、10時からです")},
    )

    line_sandbox.simulate.send_text(user_id, "営業時間", channel_id=channel.channel_id)
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 1, what="the rule's answer")
    line_sandbox.simulate.send_text(user_id, "駐車場はありますか", channel_id=channel.channel_id)
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 2, what="the FAQ's answer")

    assert [m.message["text"] for m in line_sandbox.state.inbox(user_id)] == [
        "鈴木 一郎様、10時からです",
        "鈴木 一郎様、駐車場は5台分あります。",
    ]


def test_a_rule_answering_with_an_unknown_variable_is_refused(
    db: Database, channel: ChannelSetup
) -> None:
    with pytest.raises(InvalidTemplate, match="nickname"):
        save_rule(db, channel, actions={"reply": text("{{ nickname }}さん、こんにちは")})
