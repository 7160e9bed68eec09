"""One person's life with a shop, lived through the hub's real doors (LINE webhooks from the
sandbox, the LIFF member card, a Shopify order webhook, a thank-you campaign), and a search of
every text and JSON column of every table for what names them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, String, select
from sqlalchemy.types import TypeDecorator

from core.db import Database
from core.tenancy import Shop
from idlink.models import ConversationMessage
from privacy.models import RichMenuUnlink
from sandbox.line.server import SandboxServer
from sandbox.shopify.server import ShopifyServer
from tests.connectors.shopify.conftest import Store, connect
from tests.factories import ChannelSetup
from tests.idlink.support import add_member, befriend, id_token, liff_link
from tests.messaging.commerce_support import start_campaign
from tests.messaging.people import texts_received, wait_until_recorded_sent
from tests.messaging.support import open_all_hours
from tests.waiting import wait_for
from tsunagu.models import Base

NAME = "Yamada Hanako"
GIVEN_NAME = "Hanako"
EMAIL = "hanako.yamada@example.jp"
PHONE = "090-1234-5678"
PHONE_FORMS = ("090-1234-5678", "09012345678", "+819012345678")
BIRTH_DATE = "1990-04-01"
THANKS = [
    {
        "type": "text",
        "text": "{{ member_name }}様、お買い上げありがとうございます "
        "{{ link:https://shop.example.jp/thanks?utm_source=line }}",
    }
]


@dataclass(frozen=True, slots=True)
class Journey:
    """The person's ids as the test knows them."""

    user_id: str
    friend_id: int
    member_id: int
    member_number: str
    store: Store
    customer_id: str
    order_id: str

    @property
    def needles(self) -> tuple[str, ...]:
        return (NAME, GIVEN_NAME, EMAIL, *PHONE_FORMS, self.user_id)


def live(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    shop: Shop,
    shopify_server: ShopifyServer,
    hub_url: str,
    *,
    member_number: str = "M-2001",
) -> Journey:
    """Follow, talk, link the member card, buy in the store, receive a personal thank-you."""
    open_all_hours(db, channel)
    person = befriend(db, line_sandbox, channel, NAME)
    line_sandbox.simulate.send_text(
        person.user_id,
        f"{NAME}です。電話は{PHONE}、メールは{EMAIL}です",
        channel_id=channel.channel_id,
    )
    wait_for(lambda: _messages(db, person.friend_id), what="the friend's message stored")
    member_id = add_member(
        db, shop.id, member_number, name=NAME, email=EMAIL, phone=PHONE, birth_date=BIRTH_DATE
    )
    linked = liff_link(
        hub_url,
        channel,
        id_token(line_sandbox, channel, person),
        member_number=member_number,
        second_factor=BIRTH_DATE,
    )
    assert linked.status_code == 200, linked.text
    start_campaign(db, channel, name="thanks", kind="purchase", messages=THANKS)
    store = connect(db, shop, shopify_server, hub_url)
    customer = store.state.add_customer(
        email=EMAIL, phone=PHONE, first_name=GIVEN_NAME, last_name="Yamada"
    )
    order = store.state.add_order(customer_id=customer["id"], email=EMAIL, phone=PHONE)
    sent = store.server.webhooks.send(
        store.webhook_url, "orders/create", store.server.webhooks.order_payload(order["id"])
    )
    assert sent.status_code == 200, sent.text
    wait_for(
        lambda: any(NAME in t for t in texts_received(line_sandbox.state, channel, person.user_id)),
        what="the personal thank-you on the phone",
    )
    wait_until_recorded_sent(db, person.friend_id)
    return Journey(
        user_id=person.user_id,
        friend_id=person.friend_id,
        member_id=member_id,
        member_number=member_number,
        store=store,
        customer_id=customer["legacyResourceId"],
        order_id=order["legacyResourceId"],
    )


def _messages(db: Database, friend_id: int) -> int:
    with db.session_scope() as session:
        return len(
            session.scalars(
                select(ConversationMessage.id).where(ConversationMessage.friend_id == friend_id)
            ).all()
        )


def _is_text(column: Any) -> bool:
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return isinstance(kind, String | JSON)


def text_columns() -> list[tuple[str, str]]:
    """Every text or JSON column of every table (encrypted ones included)."""
    return [
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if _is_text(column)
    ]


def find(db: Database, needles: tuple[str, ...]) -> dict[tuple[str, str], set[str]]:
    """Where each needle appears: (table, column) → needles found, case-insensitively.

    Rows are read through the tables' column types, so encrypted columns are searched as the
    hub decrypts them, not as ciphertext that would never match.
    """
    found: dict[tuple[str, str], set[str]] = {}
    folded = {n: n.casefold() for n in needles}
    with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if _is_text(c)]
            if not columns:
                continue
            for row in connection.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    text = (
                        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    ).casefold()
                    hits = {n for n, f in folded.items() if f in text}
                    if hits:
                        found.setdefault((table.name, column.name), set()).update(hits)
    return found


def left_after_erasure(db: Database, needles: tuple[str, ...]) -> dict[tuple[str, str], set[str]]:
    """``find`` once the erasure's last step is done: LINE took the rich menu unlinks (their
    rows hold the erased user ids until then)."""

    def pending() -> int:
        with db.session_scope() as session:
            return len(session.scalars(select(RichMenuUnlink.id)).all())

    wait_for(lambda: pending() == 0, what="LINE to take the erased friends' rich menu unlinks")
    return find(db, needles)
