"""The friends list's search, filters and sorts through the admin API, as a script uses them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from crm import fields, owners
from crm.field_schemas import FieldDefinitionIn, FieldType
from idlink import friends
from idlink import members as member_service
from idlink.models import Friend, Member
from idlink.search_index import MemberSearchToken
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.api.admin_support import AdminApi, add_friend, add_link, add_member, admin_api
from tests.console.support import add_staff
from tests.factories import ChannelSetup, make_shop
from tests.messaging.commerce_support import (
    add_connection,
    linked_customer,
    record_booking,
    record_purchase,
)
from tests.messaging.people import set_friend


@pytest.fixture
def admin(db: Database, hub_url: str, shop: Shop) -> AdminApi:
    return admin_api(db, hub_url, shop)


# 090-1234-5678 as a Japanese IME types it, in full-width digits.
FULL_WIDTH_PHONE = "".join(chr(0xFF10 + int(d)) for d in "09012345678")


def user_id(n: int) -> str:
    return f"U{n:032x}"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_member_is_found_by_email_phone_or_name_however_it_is_written(
    db: Database, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    hanako = add_friend(db, channel.channel_pk, user_id(1), display_name="はな")
    taro = add_friend(db, channel.channel_pk, user_id(2), display_name="たろう")
    add_link(
        db,
        shop.id,
        hanako,
        add_member(
            db,
            shop.id,
            "M-1",
            name="サトウ ハナコ",
            email="Hanako@Example.jp",
            phone="090-1234-5678",
        ),
    )
    add_link(db, shop.id, taro, add_member(db, shop.id, "M-2", name="John Smith"))

    assert ids(admin.get("/friends", q="hanako@example.JP")) == [hanako]
    assert ids(admin.get("/friends", q="+81 90 1234 5678")) == [hanako]
    assert ids(admin.get("/friends", q=FULL_WIDTH_PHONE)) == [hanako]
    assert ids(admin.get("/friends", q="さとう")) == [hanako]
    assert ids(admin.get("/friends", q="ﾊﾅｺ")) == [hanako]
    assert ids(admin.get("/friends", q="SMITH")) == [taro]
    assert ids(admin.get("/friends", q="はなこ たろう")) == []
    assert ids(admin.get("/friends", q="hanako@example")) == []
    assert ids(admin.get("/friends", q="090-1234-5679")) == []


def test_the_name_index_holds_no_name_follows_changes_and_is_per_shop(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    friend = add_friend(db, channel.channel_pk, user_id(1))
    member_id = add_member(db, shop.id, "M-1", name="佐藤 花子")
    add_link(db, shop.id, friend, member_id)
    other_shop = make_shop(db)
    other = admin_api(db, hub_url, other_shop)

    before = ids(admin.get("/friends", q="花子"))
    with db.session_scope() as session:
        stored = session.scalars(
            select(MemberSearchToken.token).where(MemberSearchToken.member_id == member_id)
        ).all()
        member = session.get_one(Member, member_id)
        member_service.update_member(
            session, member=member, fields=member_service.MemberFields(name="鈴木 一郎"), actor="t"
        )
    renamed_old = ids(admin.get("/friends", q="花子"))
    renamed_new = ids(admin.get("/friends", q="一郎"))

    assert before == [friend] and renamed_old == [] and renamed_new == [friend]
    assert len(stored) == 3 and not any("花" in token or "佐" in token for token in stored)
    assert ids(other.get("/friends", q="一郎")) == []


def test_tags_any_all_none_and_owner_filter_the_list(
    db: Database, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    both = add_friend(db, channel.channel_pk, user_id(1), tags=("vip", "常連"))
    vip = add_friend(db, channel.channel_pk, user_id(2), tags=("vip",))
    regular = add_friend(db, channel.channel_pk, user_id(3), tags=("常連",))
    none = add_friend(db, channel.channel_pk, user_id(4))
    add_staff(db, shop, "owner@example.jp", Role.OPERATOR)
    with db.session_scope() as session:
        owners.set_owner(
            session, friend=session.get_one(Friend, vip), email="owner@example.jp", actor="t"
        )

    assert ids(admin.get("/friends", tags_any=["vip", "常連"])) == [regular, vip, both]
    assert ids(admin.get("/friends", tags_all=["vip", "常連"])) == [both]
    assert ids(admin.get("/friends", tags_none=["vip"])) == [none, regular]
    assert ids(admin.get("/friends", tags_any=["vip"], tags_none=["常連"])) == [vip]
    assert ids(admin.get("/friends", owner="OWNER@example.jp")) == [vip]
    assert ids(admin.get("/friends", owner="none")) == [none, regular, both]
    assert admin.get("/friends/count", tags_any=["vip", "常連"]).json() == {"count": 3}


def test_messages_purchases_and_bookings_filter_the_list(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, admin: AdminApi
) -> None:
    shop_connection = add_connection(db, channel.shop_id, "shopify")
    bookings = add_connection(db, channel.shop_id)
    big = linked_customer(db, line_sandbox, channel, "M-1")
    small = linked_customer(db, line_sandbox, channel, "M-2")
    idle = linked_customer(db, line_sandbox, channel, "M-3")
    for n in range(3):
        record_purchase(db, shop_connection, big, f"big-{n}", total="10000")
    record_purchase(db, shop_connection, small, "small-1", total="2500")
    record_booking(db, bookings, small, "b-1", start_at=utcnow() + timedelta(days=2))
    record_booking(db, bookings, idle, "b-2", start_at=utcnow() - timedelta(days=2))
    with db.session_scope() as session:
        for friend_id, days in ((big.friend_id, 40), (small.friend_id, 3)):
            friends.record_message(
                session,
                friend=session.get_one(Friend, friend_id),
                direction="in",
                message={"type": "text", "text": "こんにちは"},
                occurred_at=utcnow() - timedelta(days=days),
            )

    assert ids(admin.get("/friends", purchases_min=2)) == [big.friend_id]
    assert ids(admin.get("/friends", purchases_max=1)) == [idle.friend_id, small.friend_id]
    assert ids(admin.get("/friends", purchases_max=0)) == [idle.friend_id]
    assert ids(admin.get("/friends", total_min=2500, total_max=2500)) == [small.friend_id]
    assert ids(admin.get("/friends", booking_upcoming="true")) == [small.friend_id]
    assert ids(admin.get("/friends", messaged_within_days=7)) == [small.friend_id]
    assert ids(admin.get("/friends", never_messaged="true")) == [idle.friend_id]
    assert ids(admin.get("/friends", messaged_within_days=60, purchases_min=1)) == [
        small.friend_id,
        big.friend_id,
    ]


def test_each_sort_pages_on_in_its_own_order(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, admin: AdminApi
) -> None:
    names = ["う", "あ", None, "い", "あ"]
    made = [
        add_friend(db, channel.channel_pk, user_id(n), display_name=name)
        for n, name in enumerate(names)
    ]
    with db.session_scope() as session:
        for n, friend_id in enumerate(made):
            friend = session.get_one(Friend, friend_id)
            friend.last_followed_at = datetime(2026, 3, 1 + n % 3, tzinfo=UTC)

    def walk(**params) -> list[int]:
        seen, cursor = [], None
        while True:
            response = admin.get(
                "/friends", limit=2, **params, **({"cursor": cursor} if cursor else {})
            )
            seen += ids(response)
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return seen

    by_name = walk(sort="display_name")
    by_follow = walk(sort="followed_at")

    assert by_name == [made[2], made[1], made[4], made[3], made[0]]
    assert by_follow == [made[2], made[4], made[1], made[3], made[0]]
    first = admin.get("/friends", limit=2, sort="display_name").json()["next_cursor"]
    refused = admin.get("/friends", sort="followed_at", cursor=first)
    assert refused.status_code == 400 and refused.json()["error"] == "InvalidCursor"


def test_friends_sort_by_purchase_total_and_last_message(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, admin: AdminApi
) -> None:
    connection = add_connection(db, channel.shop_id, "shopify")
    customers = [linked_customer(db, line_sandbox, channel, f"M-{n}") for n in range(3)]
    for customer, total in zip(customers, ("500", "9000", "0"), strict=True):
        if total != "0":
            record_purchase(db, connection, customer, f"o-{customer.member_number}", total=total)
    with db.session_scope() as session:
        friends.record_message(
            session,
            friend=session.get_one(Friend, customers[0].friend_id),
            direction="in",
            message={"type": "text", "text": "hi"},
            occurred_at=utcnow(),
        )

    by_total = ids(admin.get("/friends", sort="purchase_total", limit=1))
    all_by_total = ids(admin.get("/friends", sort="purchase_total"))
    by_message = ids(admin.get("/friends", sort="last_message"))

    assert by_total == [customers[1].friend_id]
    assert all_by_total == [c.friend_id for c in (customers[1], customers[0], customers[2])]
    assert by_message[0] == customers[0].friend_id


def test_reindex_rebuilds_a_lost_name_index(
    db: Database, shop: Shop, channel: ChannelSetup, admin: AdminApi, cli
) -> None:
    friend = add_friend(db, channel.channel_pk, user_id(1))
    add_link(db, shop.id, friend, add_member(db, shop.id, "M-1", name="高橋 美咲"))
    with db.session_scope() as session:
        session.execute(delete(MemberSearchToken))

    lost = ids(admin.get("/friends", q="美咲"))
    result = cli("member", "reindex", "--shop", shop.slug)

    assert lost == [] and result.exit_code == 0 and "1 members indexed" in result.output
    assert ids(admin.get("/friends", q="美咲")) == [friend]


def test_custom_fields_filter_the_list(
    db: Database, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    regular, gold, none = (add_friend(db, channel.channel_pk, user_id(n)) for n in (1, 2, 3))
    with db.session_scope() as session:
        for key, kind in (("visits", FieldType.NUMBER), ("rank", FieldType.TEXT)):
            fields.define(
                session,
                shop_id=shop.id,
                spec=FieldDefinitionIn(key=key, label=key, type=kind),
                actor="t",
            )
        for friend_id, visits, rank in ((regular, "5", "silver"), (gold, "1", "gold")):
            friend = session.get_one(Friend, friend_id)
            fields.set_value(session, friend=friend, key="visits", value=visits, actor="t")
            fields.set_value(session, friend=friend, key="rank", value=rank, actor="t")

    assert ids(admin.get("/friends", field="visits:gte:3")) == [regular]
    assert ids(admin.get("/friends", field=["rank:eq:gold", "visits:lte:2"])) == [gold]
    assert ids(admin.get("/friends", field="rank:ne:gold")) == [none, regular]
    assert ids(admin.get("/friends", field="rank:exists")) == [gold, regular]
    unknown = admin.get("/friends", field="colour:eq:red")
    malformed = admin.get("/friends", field="rank=gold")
    assert unknown.status_code == 400 and "colour" in unknown.json()["detail"]
    assert malformed.status_code == 422


def test_the_follow_route_filters_the_list_and_counts(
    db: Database, channel: ChannelSetup, admin: AdminApi
) -> None:
    store, web, unknown = (add_friend(db, channel.channel_pk, user_id(n)) for n in (1, 2, 3))
    for friend_id, route in ((store, "qr_store"), (web, "web_banner")):
        set_friend(db, friend_id, follow_route=route)

    assert ids(admin.get("/friends", follow_route="qr_store")) == [store]
    assert ids(admin.get("/friends", follow_route="QR_STORE")) == []
    assert ids(admin.get("/friends", follow_route="")) == [unknown, web, store]
    assert admin.get("/friends/count", follow_route="web_banner").json() == {"count": 1}
    assert admin.get("/friends", follow_route="x" * 65).status_code == 422


def test_the_last_message_time_only_moves_forward_and_counts_only_messages_in(
    db: Database, channel: ChannelSetup, admin: AdminApi
) -> None:
    early, late, quiet = (add_friend(db, channel.channel_pk, user_id(n)) for n in (1, 2, 3))
    now = utcnow()
    with db.session_scope() as session:
        for friend_id, direction, days in (
            (late, "in", 2),
            (late, "in", 30),  # an older message arriving late
            (early, "in", 10),
            (quiet, "out", 0),
        ):
            friends.record_message(
                session,
                friend=session.get_one(Friend, friend_id),
                direction=direction,
                message={"type": "text", "text": "はい"},
                occurred_at=now - timedelta(days=days),
            )
    with db.session_scope() as session:
        stored = {f: session.get_one(Friend, f).last_message_at for f in (early, late, quiet)}

    assert stored[late] == now - timedelta(days=2) and stored[quiet] is None
    assert ids(admin.get("/friends", sort="last_message")) == [late, early, quiet]
    assert ids(admin.get("/friends", messaged_within_days=7)) == [late]
    assert ids(admin.get("/friends", never_messaged="true")) == [quiet]
    assert ids(admin.get("/friends", never_messaged="false")) == [late, early]


def test_erased_friends_are_a_status_the_list_and_a_segment_can_filter_on(
    db: Database, channel: ChannelSetup, admin: AdminApi
) -> None:
    kept = add_friend(db, channel.channel_pk, user_id(1))
    gone = add_friend(db, channel.channel_pk, user_id(2))
    set_friend(db, gone, status="erased")

    erased = admin.get("/friends", status="erased")
    counted = admin.get("/friends/count", status="followed")

    assert erased.status_code == 200, erased.text
    assert ids(erased) == [gone]
    assert counted.json() == {"count": 1} and kept not in ids(erased)
