"""A sandbox Shopify store over real HTTP and a hub connection to it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from commerce.connections import create_connection
from commerce.models import Purchase
from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from idlink import members
from idlink.members import MemberFields
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState

NEVER = 10**9
FAST_OPTIONS = {
    "page_size": 3,
    "bulk_poll_seconds": 0.02,
    "member_number_tag_prefix": "member:",
}


@dataclass(frozen=True, slots=True)
class Store:
    """A hub connection to the sandbox store, and the store itself."""

    connection_id: int
    server: ShopifyServer
    webhook_url: str

    @property
    def state(self) -> ShopifyState:
        return self.server.state


@pytest.fixture
def shopify_server(tmp_path) -> Iterator[ShopifyServer]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield server


def connect(
    database: Database,
    shop: Shop,
    server: ShopifyServer,
    hub_url: str,
    *,
    options: dict[str, Any] | None = None,
    access_token: str | None = None,
) -> Store:
    """Add a ``shopify`` connection pointed at the sandbox store."""
    with database.session_scope() as session:
        connection = create_connection(
            session,
            shop=session.get_one(Shop, shop.id),
            kind="shopify",
            name=f"store-{secrets.token_hex(3)}",
            base_url=server.url,
            credentials={
                "access_token": access_token or server.state.access_token,
                "client_secret": server.state.client_secret,
            },
            options={**FAST_OPTIONS, **(options or {})},
            # The hub's scheduler must not sync behind the test's back.
            sync_interval_seconds=NEVER,
        )
        connection.last_sync_started_at = utcnow()
        connection_id = connection.id
    return Store(connection_id, server, f"{hub_url}/webhooks/shopify/{connection_id}")


@pytest.fixture
def store(db: Database, shop: Shop, shopify_server: ShopifyServer, hub_url: str) -> Store:
    return connect(db, shop, shopify_server, hub_url)


def add_member(database: Database, shop: Shop, number: str, **fields: Any) -> int:
    with database.session_scope() as session:
        member = members.create_member(
            session,
            shop_id=shop.id,
            member_number=number,
            fields=MemberFields(**fields),
            actor="test",
        )
        return member.id


def purchases(database: Database, connection_id: int) -> dict[str, Purchase]:
    """The connection's stored purchases by order id, lines loaded."""
    with database.session_scope() as session:
        found = session.scalars(select(Purchase).where(Purchase.connection_id == connection_id))
        result = {p.external_id: p for p in found}
        for purchase in result.values():
            _ = list(purchase.items)
        session.expunge_all()
        return result
