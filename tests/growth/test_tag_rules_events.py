"""Tag rules on what happens as the hub watches: a click on a standalone tracked link sent in a
message, a rich-menu tap (postback), a follow route bringing a friend back, a form answer."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from core.db import Database
from core.inbox import InboundEvent
from core.tenancy import Shop
from growth.tagrules import events, rules
from messaging.compose import links
from messaging.compose.link_schemas import StandaloneLinkSpec
from messaging.compose.models import TrackedLink
from sandbox.line.server import SandboxServer
from tests.api.admin_support import admin_api
from tests.factories import ChannelSetup
from tests.growth.support import give_liff_app, make_route, visit
from tests.growth.tagrule_support import history_of, hits_of, make_rule, wait_for_tag
from tests.idlink.support import befriend, tags_of
from tests.messaging.commerce_support import (
    add_connection,
    linked_customer,
    record_purchase,
    start_campaign,
    wait_for_texts,
)
from tests.messaging.support import open_all_hours

MENU = "https://salon.example/menu"


def save_link(db: Database, shop_id: int, name: str, **spec: object) -> int:
    with db.session_scope() as session:
        link = links.save_link(
            session,
            shop_id=shop_id,
            spec=StandaloneLinkSpec.model_validate({"name": name, **spec}),
            actor="test",
        )
        return link.id


def test_a_standalone_link_in_a_message_counts_each_friends_clicks_and_tags_them(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    store = add_connection(db, channel.shop_id, "shopify")
    link_id = save_link(db, channel.shop_id, "menu", url=MENU, tag="saw-menu")
    rule = make_rule(
        db,
        channel.shop_id,
        "menu readers",
        trigger={"event": "click", "link": "menu"},
        add=["curious"],
    )
    start_campaign(
        db,
        channel,
        name="thanks with menu",
        kind="purchase",
        messages=[{"type": "text", "text": "メニューはこちら {{ tracked:menu }}"}],
    )
    hanako = linked_customer(db, line_sandbox, channel, "C-1")
    taro = linked_customer(db, line_sandbox, channel, "C-2")
    urls = {}
    for number, person in (("1", hanako), ("2", taro)):
        record_purchase(db, store, person, f"C-{number}")
        text = wait_for_texts(line_sandbox, channel, person, 1)[0]
        found = re.search(r"https?://\S+/r/[0-9a-f]+", text)
        assert found is not None, text
        urls[person.friend_id] = found.group(0)

    answers = [
        httpx.get(url, follow_redirects=False, timeout=10)
        for url in (urls[hanako.friend_id], urls[hanako.friend_id], urls[taro.friend_id])
    ]

    assert [(a.status_code, a.headers["location"]) for a in answers] == [(302, MENU)] * 3
    assert urls[hanako.friend_id] != urls[taro.friend_id]
    with db.session_scope() as session:
        counts = dict(
            session.execute(
                select(TrackedLink.friend_id, TrackedLink.clicks).where(
                    TrackedLink.link_id == link_id
                )
            ).all()
        )
    assert counts == {hanako.friend_id: 2, taro.friend_id: 1}
    assert {"saw-menu", "curious"} <= tags_of(db, hanako.friend_id)
    assert {"saw-menu", "curious"} <= tags_of(db, taro.friend_id)
    assert sorted(f for f, _ in hits_of(db, rule)) == sorted([hanako.friend_id, taro.friend_id])
    assert ("curious", True, "rule:menu readers") in history_of(db, hanako.friend_id)


def test_a_rich_menu_tap_tags_once_even_when_its_event_is_processed_again(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    rule = make_rule(
        db,
        channel.shop_id,
        "coupon tappers",
        trigger={"event": "postback", "data": "menu=coupons"},
        add=["wants-coupons"],
    )
    hanako = befriend(db, line_sandbox, channel, "Hanako")
    taro = befriend(db, line_sandbox, channel, "Taro")

    delivery = line_sandbox.simulate.postback(
        hanako.user_id, "menu=coupons", channel_id=channel.channel_id
    )
    line_sandbox.simulate.postback(taro.user_id, "menu=booking", channel_id=channel.channel_id)
    wait_for_tag(db, hanako.friend_id, "wants-coupons")
    line_sandbox.simulate.redeliver(delivery.events[0]["webhookEventId"])
    with db.session_scope() as session:
        stored = session.scalars(
            select(InboundEvent).where(InboundEvent.event_type == "postback")
        ).all()
        assert sum(events.on_line_event(session, event) for event in stored) == 0
        tapped = {event.payload["source"]["userId"]: event.id for event in stored}

    assert len(stored) == 2
    assert hits_of(db, rule) == [(hanako.friend_id, f"postback:{tapped[hanako.user_id]}")]
    assert "wants-coupons" not in tags_of(db, taro.friend_id)


def test_a_follow_route_bringing_a_friend_back_fires_its_rule(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, shop: Shop
) -> None:
    give_liff_app(db, channel)
    api = admin_api(db, hub_url, shop)
    route = make_route(api, "Counter QR")
    make_rule(
        db,
        channel.shop_id,
        "came to the shop",
        trigger={"event": "follow_route", "route": "Counter QR"},
        add=["visited-shop"],
    )
    hanako = befriend(db, line_sandbox, channel, "Hanako")

    answer = visit(hub_url, line_sandbox, channel, route["code"], hanako.user_id)

    assert answer.status_code == 200, answer.text
    assert "visited-shop" in tags_of(db, hanako.friend_id)


def test_a_form_answer_fires_the_rules_of_its_question_and_choice_once(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    hanako = befriend(db, line_sandbox, channel, "Hanako")
    dry = make_rule(
        db,
        channel.shop_id,
        "dry skin",
        trigger={"event": "form_answer", "form": "skin", "question": "type", "choice": "dry"},
        add=["dry-skin"],
    )
    answered = make_rule(
        db,
        channel.shop_id,
        "answered",
        trigger={"event": "form_answer", "form": "skin", "question": "concerns"},
        add=["answered-skin"],
    )
    make_rule(
        db,
        channel.shop_id,
        "other form",
        trigger={"event": "form_answer", "form": "survey", "question": "type", "choice": "dry"},
        add=["wrong"],
    )

    with db.session_scope() as session:
        first = events.on_form_answer(
            session, hanako.friend_id, "skin", {"type": ["dry", "sensitive"], "concerns": "冬"}
        )
        again = events.on_form_answer(
            session, hanako.friend_id, "skin", {"type": "dry", "concerns": " "}
        )

    assert (first, again) == (2, 0)
    assert {"dry-skin", "answered-skin"} <= tags_of(db, hanako.friend_id)
    assert "wrong" not in tags_of(db, hanako.friend_id)
    assert len(hits_of(db, dry)) == len(hits_of(db, answered)) == 1


def test_long_event_keys_are_stored_short_and_two_never_collide() -> None:
    prefix = "form:skin:concerns:" + "乾燥" * 80

    first, second = rules.event_key(prefix + "A"), rules.event_key(prefix + "B")

    assert len(first) <= rules.KEY_LENGTH and len(second) <= rules.KEY_LENGTH
    assert first != second
    assert rules.event_key("purchase:812") == "purchase:812"
