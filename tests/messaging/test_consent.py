"""Consent per purpose: a friend who withdrew marketing still gets their visit reminders, and no
campaign, sequence or segment send reaches them — each suppressed with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from messaging.outbox import audience
from messaging.outbox.consent import Purpose, purpose_of
from messaging.outbox.models import Delivery
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, admin_api
from tests.factories import ChannelSetup, make_shop
from tests.messaging.people import texts_received
from tests.messaging.support import add_followers, open_all_hours, plan, plan_audience
from tests.waiting import wait_for

WITHDREW = "friend withdrew consent to marketing messages"
REMINDER = [{"type": "text", "text": "明日10時のご予約をお待ちしております"}]
SALE = [{"type": "text", "text": "週末セール開催中"}]


@pytest.fixture
def friends(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> dict[int, str]:
    open_all_hours(db, channel)
    return add_followers(db, line_sandbox.state, channel, 2)


@pytest.fixture
def api(db: Database, hub_url: str, shop: Shop) -> AdminApi:
    return admin_api(db, hub_url, shop)


def withdraw(api: AdminApi, friend_id: int, purpose: str = "marketing") -> dict:
    response = api.post(
        f"/friends/{friend_id}/consents", {"purpose": purpose, "granted": False, "source": "liff"}
    )
    assert response.status_code == 201, response.text
    return response.json()


def states_of(db: Database, source: str) -> dict[int, tuple[str, str | None]]:
    with db.session_scope() as session:
        return {
            d.friend_id: (d.state, d.reason)
            for d in session.scalars(select(Delivery).where(Delivery.source == source))
        }


def test_a_friend_without_marketing_consent_gets_reminders_but_not_campaigns(
    db: Database,
    api: AdminApi,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    friends: dict[int, str],
) -> None:
    hanako, taro = friends
    later = plan(
        db,
        channel,
        [hanako],
        source="sequence:4",
        messages=SALE,
        due_at=utcnow() + timedelta(hours=1),
    )
    assert later.planned == 1

    body = withdraw(api, hanako)

    assert body["current"]["marketing"]["granted"] is False
    assert body["current"]["service"]["granted"] is True
    # What was pending of that purpose stops at once.
    assert states_of(db, "sequence:4") == {hanako: ("suppressed", WITHDREW)}
    campaign = plan(db, channel, [hanako, taro], source="campaign:3", messages=SALE)
    assert campaign.suppressed == {WITHDREW: 1}
    reminder = plan(db, channel, [hanako], source="reminder:1:42", messages=REMINDER)
    assert reminder.planned == 1
    wait_for(
        lambda: REMINDER[0]["text"] in texts_received(line_sandbox.state, channel, friends[hanako]),
        what="the reminder on Hanako's phone",
    )
    wait_for(
        lambda: SALE[0]["text"] in texts_received(line_sandbox.state, channel, friends[taro]),
        what="the campaign on Taro's phone",
    )
    assert SALE[0]["text"] not in texts_received(line_sandbox.state, channel, friends[hanako])


def test_a_segment_send_leaves_out_a_friend_who_withdrew_before_or_after_the_freeze(
    db: Database,
    api: AdminApi,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    friends: dict[int, str],
) -> None:
    hanako, taro = friends
    withdraw(api, hanako)
    frozen = plan_audience(db, channel, source="campaign:5", key="campaign:5:a", messages=SALE)
    assert frozen.suppressed == {WITHDREW: 1}

    # Frozen with both; Taro withdraws before the batch's first try.
    plan_audience(
        db,
        channel,
        source="campaign:6",
        key="campaign:6:a",
        messages=[{"type": "text", "text": "二通目"}],
        due_at=utcnow() + timedelta(seconds=2),
    )
    withdraw(api, taro)

    def dropped() -> dict[str, int]:
        with db.session_scope() as session:
            return dict(audience.suppressed_by_reason(session, source="campaign:6"))

    assert wait_for(lambda: dropped().get(WITHDREW) == 2, what="both left out of the send")
    assert "二通目" not in texts_received(line_sandbox.state, channel, friends[taro])


def test_consent_is_a_ledger_read_and_written_by_api_and_cli(
    cli, db: Database, hub_url: str, shop: Shop, api: AdminApi, friends: dict[int, str]
) -> None:
    hanako = next(iter(friends))
    withdraw(api, hanako)

    result = cli(
        "consent",
        "set",
        "--shop",
        shop.slug,
        "--friend",
        str(hanako),
        "--purpose",
        "marketing",
        "--granted",
        "--source",
        "form",
    )

    assert result.exit_code == 0, result.output
    body = api.get(f"/friends/{hanako}/consents").json()
    assert body["current"]["marketing"]["granted"] is True
    assert body["current"]["marketing"]["source"] == "form"
    assert [(r["granted"], r["source"], r["recorded_by"]) for r in body["history"]] == [
        (False, "liff", "token:staff"),
        (True, "form", "cli"),
    ]
    shown = cli("consent", "show", "--shop", shop.slug, "--friend", str(hanako))
    assert (
        "marketing: granted" in shown.output
        and "withdrawn from liff by token:staff" in shown.output
    )
    elsewhere = admin_api(db, hub_url, make_shop(db)).get(f"/friends/{hanako}/consents")
    assert elsewhere.status_code == 404


def test_a_refused_purpose_is_answered_422(api: AdminApi, friends: dict[int, str]) -> None:
    hanako = next(iter(friends))
    response = api.post(f"/friends/{hanako}/consents", {"purpose": "gossip", "granted": False})

    assert response.status_code == 422


def test_reminders_are_service_and_everything_else_marketing() -> None:
    assert purpose_of("reminder:1:42") == Purpose.SERVICE
    assert {purpose_of(s) for s in ("campaign:1", "sequence:2", "segment:3")} == {Purpose.MARKETING}
