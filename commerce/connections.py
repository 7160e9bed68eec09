"""Configuring a shop's connections, and building the connector for one."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from commerce.models import Connection, ConnectionStatus
from connectors.base import ConnectionConfig, Connector
from connectors.options import ConnectorOptions, parse_options
from connectors.reservations.calcom import CalcomConnector, CalcomOptions
from connectors.reservations.generic import GenericReservationConnector, GenericReservationOptions
from connectors.reservations.ical import ICalConnector, ICalOptions
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.settings import SalesforceOptions
from connectors.shopify.connector import ShopifyConnector
from connectors.shopify.options import ShopifyOptions
from core.errors import BadRequest, Conflict, NotFound
from core.tenancy import Shop

ConnectorFactory = Callable[[ConnectionConfig], Connector]

# kind → its options, checked when a connection is added.
OPTIONS: dict[str, type[ConnectorOptions]] = {
    "shopify": ShopifyOptions,
    "reservations": GenericReservationOptions,
    "calcom": CalcomOptions,
    "ical": ICalOptions,
    "salesforce": SalesforceOptions,
}
# kind → factory. Each connector sub-package contributes one entry.
FACTORIES: dict[str, ConnectorFactory] = {
    "shopify": ShopifyConnector,
    "reservations": GenericReservationConnector,
    "calcom": CalcomConnector,
    "ical": ICalConnector,
    "salesforce": SalesforceConnector,
}


def config_of(connection: Connection) -> ConnectionConfig:
    return ConnectionConfig(
        kind=connection.kind,
        base_url=connection.base_url,
        credentials=json.loads(connection.credentials),
        options=dict(connection.options or {}),
        timezone=connection.timezone,
        connection_id=connection.id,
    )


def connector_for(connection: Connection) -> Connector:
    """The connector of this connection's kind, configured from its row."""
    try:
        factory = FACTORIES[connection.kind]
    except KeyError:
        raise BadRequest(
            f"connection {connection.name!r} has kind {connection.kind!r}, which this version "
            f"does not support (supported: {', '.join(sorted(FACTORIES)) or 'none'})"
        ) from None
    return factory(config_of(connection))


def create_connection(
    session: Session,
    *,
    shop: Shop,
    kind: str,
    name: str,
    credentials: dict[str, Any],
    base_url: str | None = None,
    options: dict[str, Any] | None = None,
    timezone: str = "Asia/Tokyo",
    sync_interval_seconds: int = 900,
) -> Connection:
    """Add a connection to a shop; credentials are encrypted at rest."""
    if kind not in FACTORIES:
        raise BadRequest(f"unknown connector kind {kind!r}: one of {', '.join(sorted(FACTORIES))}")
    checked = parse_options(OPTIONS[kind], kind, options or {})
    taken = session.scalar(
        select(Connection).where(Connection.shop_id == shop.id, Connection.name == name)
    )
    if taken is not None:
        raise Conflict(f"shop {shop.slug!r} already has a connection named {name!r}")
    connection = Connection(
        shop_id=shop.id,
        kind=kind,
        name=name,
        base_url=base_url.rstrip("/") if base_url else None,
        credentials=json.dumps(credentials),
        options=checked.model_dump(mode="json", by_alias=True, exclude_unset=True),
        timezone=timezone,
        sync_interval_seconds=sync_interval_seconds,
    )
    session.add(connection)
    session.flush()
    return connection


def get_connection(session: Session, connection_id: int) -> Connection:
    connection = session.get(Connection, connection_id)
    if connection is None:
        raise NotFound(f"no connection {connection_id}: `tsunagu connector list` shows them")
    return connection


def due_connections(session: Session, *, now: datetime) -> list[Connection]:
    """Connections whose next scheduled sync is due (paused ones once their pause is over)."""
    candidates = session.scalars(
        select(Connection).where(
            or_(
                Connection.status == ConnectionStatus.ACTIVE,
                (Connection.status == ConnectionStatus.PAUSED) & (Connection.paused_until <= now),
            )
        )
    )
    return [
        c
        for c in candidates
        if c.last_sync_started_at is None
        or (now - c.last_sync_started_at).total_seconds() >= c.sync_interval_seconds
    ]
