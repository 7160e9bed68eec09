"""Consent the friend gives themselves: on the member card (the friend named by a verified LIFF
ID token, recorded as from ``liff``) or by writing a keyword (``keyword``); the guardrails then
honour it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.db import Database
from core.tenancy import Channel
from messaging.outbox import consent
from messaging.outbox.models import ConsentRecord
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.idlink.support import Person, befriend, id_token
from tests.waiting import wait_for

CAMPAIGN = "campaign:7"
REMINDER = "reminder:1:2:2026-12-08T01:00:00+00:00"


@pytest.fixture
def person(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> Person:
    return befriend(db, line_sandbox, channel, "佐藤 花子")


def _post(
    hub_url: str, path: str, channel: ChannelSetup, token: str, **body: Any
) -> httpx.Response:
    payload = {"channel_id": channel.channel_id, "id_token": token, **body}
    return httpx.post(f"{hub_url}/api/idlink/liff/{path}", json=payload, timeout=10)


def _records(db: Database, friend_id: int) -> list[tuple[str, bool, str, str]]:
    with db.session_scope() as session:
        return [
            (r.purpose, r.granted, r.source, r.recorded_by)
            for r in session.scalars(
                select(ConsentRecord)
                .where(ConsentRecord.friend_id == friend_id)
                .order_by(ConsentRecord.id)
            )
        ]


def _withheld(db: Database, friend_id: int, source: str) -> dict[int, str]:
    with db.session_scope() as session:
        return consent.withheld(session, [friend_id], source=source)


def test_a_friend_withdraws_marketing_on_the_member_card_and_campaigns_no_longer_reach_them(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
) -> None:
    token = id_token(line_sandbox, channel, person)
    before = _post(hub_url, "consents", channel, token)
    assert before.status_code == 200, before.text
    assert {k: v["granted"] for k, v in before.json()["current"].items()} == {
        "marketing": True,
        "service": True,
    }

    response = _post(hub_url, "consent", channel, token, purpose="marketing", granted=False)

    assert response.status_code == 200, response.text
    now = response.json()["current"]
    assert now["marketing"]["granted"] is False and now["marketing"]["source"] == "liff"
    assert now["service"]["granted"] is True
    assert _records(db, person.friend_id) == [
        ("marketing", False, "liff", f"line:{person.user_id}")
    ]
    assert _withheld(db, person.friend_id, CAMPAIGN) == {
        person.friend_id: "friend withdrew consent to marketing messages"
    }
    assert _withheld(db, person.friend_id, REMINDER) == {}
    # The same page, the same token: they change their mind.
    again = _post(hub_url, "consent", channel, token, purpose="marketing", granted=True)
    assert again.json()["current"]["marketing"]["granted"] is True
    assert _withheld(db, person.friend_id, CAMPAIGN) == {}


def test_only_a_verified_friend_of_the_channel_can_change_consent(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
) -> None:
    token = id_token(line_sandbox, channel, person)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    stranger = line_sandbox.state.add_user(display_name="通りすがり")
    not_a_friend = line_sandbox.state.issue_id_token(stranger.user_id, channel.login_channel_id)

    refused = _post(hub_url, "consent", channel, forged, purpose="marketing", granted=False)
    outsider = _post(hub_url, "consent", channel, not_a_friend, purpose="service", granted=False)
    unknown = _post(hub_url, "consent", channel, token, purpose="everything", granted=False)

    assert refused.status_code == 401, refused.text
    assert outsider.status_code == 403 and outsider.json()["error"] == "NotAFriend"
    assert unknown.status_code == 422
    assert _records(db, person.friend_id) == []


def test_the_member_card_page_switches_a_purpose_off_at_375px(
    db: Database,
    hub_url: str,
    channel: ChannelSetup,
    person: Person,
    chromium: Any,
) -> None:
    with db.session_scope() as session:
        session.get_one(Channel, channel.channel_pk).liff_id = f"{channel.login_channel_id}-card"
    context = chromium.new_context(viewport={"width": 375, "height": 812}, locale="ja-JP")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{hub_url}/idlink/liff/{channel.channel_id}?sandbox_user={person.user_id}")
    marketing = page.get_by_label("キャンペーン・お得な情報 / Offers and news")
    marketing.wait_for()
    assert (
        marketing.is_checked()
        and page.get_by_label("ご予約・ご注文のご案内", exact=False).is_checked()
    )
    marketing.uncheck()
    page.get_by_text("保存しました。 / Saved.").wait_for()
    page.screenshot(path="/tmp/privacy-member-card-consent-375.png", full_page=True)
    page.reload()
    page.get_by_label("キャンペーン・お得な情報 / Offers and news").wait_for()
    assert not page.get_by_label("キャンペーン・お得な情報 / Offers and news").is_checked()
    context.close()

    assert _records(db, person.friend_id) == [
        ("marketing", False, "liff", f"line:{person.user_id}")
    ]
    assert errors == []


def test_a_friend_stops_and_restarts_marketing_by_writing_the_keyword(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, person: Person
) -> None:
    say = line_sandbox.simulate.send_text

    say(person.user_id, "配信停止してほしいかも", channel_id=channel.channel_id)
    say(person.user_id, " 配信停止 ", channel_id=channel.channel_id)
    wait_for(lambda: _records(db, person.friend_id), what="the keyword's consent record")

    assert _records(db, person.friend_id) == [
        ("marketing", False, "keyword", f"line:{person.user_id}")
    ]
    assert _withheld(db, person.friend_id, CAMPAIGN) == {
        person.friend_id: "friend withdrew consent to marketing messages"
    }
    assert _withheld(db, person.friend_id, REMINDER) == {}

    say(person.user_id, "START", channel_id=channel.channel_id)
    wait_for(lambda: len(_records(db, person.friend_id)) == 2, what="the restart")
    assert _records(db, person.friend_id)[-1][:3] == ("marketing", True, "keyword")
    assert _withheld(db, person.friend_id, CAMPAIGN) == {}
