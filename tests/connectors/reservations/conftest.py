"""Reservation connections in the hub, and the emulated systems that send them webhooks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from commerce.connections import create_connection
from commerce.models import Booking
from core.db import Database
from core.inbox import InboundEvent
from core.tenancy import Shop
from idlink import members
from idlink.members import MemberFields
from sandbox.reservations.sender import WebhookSender
from tests.waiting import wait_for


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A reservation connection as its sender knows it."""

    connection_id: int
    url: str
    secrets: list[str]


def add_connection(
    database: Database,
    shop: Shop,
    hub_url: str,
    *,
    kind: str,
    credentials: dict[str, Any],
    timezone: str = "Asia/Tokyo",
) -> Endpoint:
    with database.session_scope() as session:
        connection = create_connection(
            session,
            shop=session.get_one(Shop, shop.id),
            kind=kind,
            name=f"{kind}-{secrets.token_hex(3)}",
            credentials=credentials,
            timezone=timezone,
        )
        connection_id = connection.id
    found = credentials.get("secrets") or [credentials["secret"]]
    return Endpoint(connection_id, f"{hub_url}/webhooks/reservations/{connection_id}", found)


@pytest.fixture
def sender() -> Iterator[WebhookSender]:
    client = WebhookSender()
    yield client
    client.close()


@pytest.fixture
def generic(db: Database, shop: Shop, hub_url: str) -> Endpoint:
    return add_connection(
        db, shop, hub_url, kind="reservations", credentials={"secret": secrets.token_hex(16)}
    )


@pytest.fixture
def calcom(db: Database, shop: Shop, hub_url: str) -> Endpoint:
    return add_connection(
        db, shop, hub_url, kind="calcom", credentials={"secret": secrets.token_hex(16)}
    )


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


def booking(database: Database, endpoint: Endpoint, external_id: str) -> Booking | None:
    with database.session_scope() as session:
        return session.scalar(
            select(Booking).where(
                Booking.connection_id == endpoint.connection_id,
                Booking.external_id == external_id,
            )
        )


def wait_for_booking(
    database: Database, endpoint: Endpoint, external_id: str, **expected: Any
) -> Booking:
    """The stored booking once the worker has applied it with the expected field values."""

    def check() -> Booking | None:
        found = booking(database, endpoint, external_id)
        if found is None or any(getattr(found, k) != v for k, v in expected.items()):
            return None
        return found

    return wait_for(check, what=f"booking {external_id} with {expected}")


def stored_events(database: Database, endpoint: Endpoint) -> list[InboundEvent]:
    with database.session_scope() as session:
        return list(
            session.scalars(
                select(InboundEvent)
                .where(InboundEvent.connection_id == endpoint.connection_id)
                .order_by(InboundEvent.id)
            )
        )


def wait_until_processed(database: Database, endpoint: Endpoint, count: int) -> None:
    """Every stored event of the connection processed (so a late one has had its chance)."""

    def check() -> bool:
        events = stored_events(database, endpoint)
        return len(events) >= count and all(e.status != "pending" for e in events)

    wait_for(check, what=f"{count} processed events")
