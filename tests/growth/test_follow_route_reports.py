"""What a route's report counts after joining — blocks, links, purchases — and what erasing a
friend it brought leaves of them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from growth.models import RouteVisit
from messaging.sequences.models import Enrollment
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, add_link, add_member, admin_api
from tests.factories import ChannelSetup
from tests.growth.support import (
    add_friend_on_screen,
    friend_of,
    give_liff_app,
    make_route,
    visit,
    wait_touches,
)
from tests.idlink.support import befriend, create_rich_menu
from tests.messaging.commerce_support import Customer, add_connection, record_purchase
from tests.messaging.test_rich_menu_segments import menu_of, set_rules
from tests.waiting import wait_for


@pytest.fixture
def api(db: Database, hub_url: str, shop: Shop, channel: ChannelSetup) -> AdminApi:
    give_liff_app(db, channel)
    return admin_api(db, hub_url, shop)


def _joins(
    db: Database, hub_url: str, sandbox: SandboxServer, channel: ChannelSetup, code: str, name: str
) -> tuple[str, int]:
    user = sandbox.state.add_user(display_name=name)
    opened = visit(hub_url, sandbox, channel, code, user.user_id)
    add_friend_on_screen(opened.json()["next_url"], user.user_id)
    friend = wait_for(lambda: friend_of(db, channel, user.user_id), what=f"{name}'s follow")
    wait_touches(db, friend.id, 1)
    return user.user_id, friend.id


def test_blocks_links_and_purchases_after_joining_are_counted(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    route = make_route(api, "Shop window")
    blocker, _ = _joins(db, hub_url, line_sandbox, channel, route["code"], "Blocker")
    buyer, buyer_id = _joins(db, hub_url, line_sandbox, channel, route["code"], "Buyer")
    line_sandbox.simulate.unfollow(blocker, channel_id=channel.channel_id)
    wait_for(
        lambda: (f := friend_of(db, channel, blocker)) and f.status == "blocked", what="the block"
    )
    member_id = add_member(db, channel.shop_id, "M-7001")
    add_link(db, channel.shop_id, buyer_id, member_id)
    shopify = add_connection(db, channel.shop_id, "shopify")
    customer = Customer(member_id, "M-7001", buyer_id, buyer)
    record_purchase(db, shopify, customer, "1001", ordered_at=utcnow() + timedelta(hours=1))
    # Before joining: not the route's doing.
    record_purchase(
        db, shopify, customer, "1000", total="999", ordered_at=utcnow() - timedelta(days=3)
    )

    totals = api.get(f"/routes/{route['id']}/report").json()["totals"]

    assert totals["new_friends"] == 2
    assert (totals["blocked_within_7_days"], totals["blocked_within_30_days"]) == (1, 1)
    assert totals["linked"] == 1
    assert totals["purchases"] == 1
    assert Decimal(totals["revenue"]["JPY"]) == Decimal("3000")
    csv = api.get(f"/routes/{route['id']}/report.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "day,visits,new_friends,returning_friends"
    assert csv.text.splitlines()[1].endswith(",2,2,0")


def test_erasing_a_friend_keeps_the_visit_counted_but_not_who_made_it(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    route = make_route(api, "Flyer")
    user_id, friend_id = _joins(db, hub_url, line_sandbox, channel, route["code"], "Erased")

    erased = api.post(f"/friends/{friend_id}/erase", {})

    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["route_visits"] == 1
    with db.session_scope() as session:
        assert session.scalars(select(RouteVisit.line_user_id)).all() == [None]
    totals = api.get(f"/routes/{route['id']}/report").json()["totals"]
    assert (totals["visits"], totals["new_friends"]) == (1, 1)
    assert user_id not in api.get(f"/routes/{route['id']}/report").text


def test_field_sequence_and_rich_menu_actions_run_for_a_returning_friend(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    person = befriend(db, line_sandbox, channel, "Regular")
    field = {"key": "store", "label": "Store", "type": "choice", "choices": ["Shibuya", "Ueno"]}
    assert api.put("/fields/store", field).status_code == 200
    sequence = {
        "name": "counter-follow-up",
        "channel": channel.channel_id,
        "enroll_on": {"event": "tag", "tag": "by-hand"},
        "steps": [{"delay": {"days": 1}, "messages": [{"type": "text", "text": "また来てね"}]}],
    }
    assert api.put("/sequences/counter-follow-up", sequence).status_code == 200, "sequence"
    menu = create_rich_menu(line_sandbox, channel, "counter")
    set_rules(db, channel, [("counter-visitors", {"tag": "counter"}, menu)])
    route = make_route(
        api,
        "Counter in Shibuya",
        actions=[
            {"kind": "field", "target": "store", "value": "Shibuya"},
            {"kind": "field", "target": "store", "value": "Nagoya"},  # not a choice: skipped
            {"kind": "sequence", "target": "counter-follow-up"},
            {"kind": "tag", "target": "counter"},
            {"kind": "rich_menu"},
        ],
    )

    opened = visit(hub_url, line_sandbox, channel, route["code"], person.user_id)

    assert opened.status_code == 200, opened.text
    [touch] = wait_touches(db, person.friend_id, 1)
    assert touch.outcome[0] == "field store: set"
    assert touch.outcome[1].startswith("field store: not done:")
    assert touch.outcome[2:] == [
        "sequence counter-follow-up: enrolled",
        "tag counter: added",
        "rich_menu: menu shown",
    ]
    fields = api.get(f"/friends/{person.friend_id}/fields").json()
    assert {f["key"]: f["value"] for f in fields}["store"] == "Shibuya"
    with db.session_scope() as session:
        enrolled = session.scalars(
            select(Enrollment.state).where(Enrollment.friend_id == person.friend_id)
        ).all()
    assert enrolled == ["active"]
    wait_for(lambda: menu_of(line_sandbox, channel, person.user_id) == menu, what="the menu")
