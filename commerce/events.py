"""Processing stored connector webhook events: normalise through the connector, then upsert."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from commerce import privacy
from commerce.connections import connector_for
from commerce.models import Connection
from commerce.service import apply_record
from core.errors import NotFound
from core.inbox import InboundEvent

log = logging.getLogger(__name__)


class UnknownConnection(NotFound):
    """A stored connector event whose connection is gone (or was never recorded)."""


def handle_connector_event(session: Session, stored: InboundEvent) -> None:
    """Apply one stored Shopify/reservation event; stale versions change nothing."""
    connection = session.get(Connection, stored.connection_id) if stored.connection_id else None
    if connection is None:
        raise UnknownConnection(
            f"{stored.source} event {stored.id} names no existing connection; kept for staff"
        )
    if stored.source == "shopify" and privacy.handle_action(
        session, connection=connection, topic=stored.event_type, payload=stored.payload
    ):
        log.info("shopify %s handled (event %s)", stored.event_type, stored.id)
        return
    record = connector_for(connection).normalize(stored.event_type, stored.payload)
    if record is None:
        log.info("%s event %s carries no record; kept as stored", stored.source, stored.id)
        return
    outcome = apply_record(session, connection=connection, record=record)
    log.info(
        "%s %s %s: %s",
        stored.source,
        stored.event_type,
        getattr(record, "external_id", type(record).__name__),
        outcome,
        extra={"connection_id": connection.id, "event_id": stored.id},
    )
