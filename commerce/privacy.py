"""What the store's app and privacy webhooks ask of the hub: report what it holds about a
customer, erase a customer's (or a whole store's) personal data, stop using an uninstalled app.

Purchases are business records and stay; what goes is everything that says who made them:
the identity's email, phone, name, member number and LINE user id, and the link to a member.
Every action leaves an audit record; none of them stores the personal data it was about.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from commerce.models import Booking, Connection, ConnectionStatus, Purchase
from core import audit
from core.clock import utcnow
from idlink.identities import ExternalIdentity, IdentityReview, MatchStatus

log = logging.getLogger(__name__)

ACTOR = "shopify-webhook"


def handle_action(
    session: Session,
    *,
    connection: Connection,
    topic: str,
    payload: dict[str, Any],
    now: datetime | None = None,
) -> bool:
    """Act on an app or privacy topic; False when the topic is not one of them."""
    when = now or utcnow()
    if topic == "customers/data_request":
        report_customer_data(session, connection=connection, payload=payload, now=when)
    elif topic == "customers/redact":
        redact_customer(session, connection=connection, payload=payload, now=when)
    elif topic == "shop/redact":
        redact_shop(session, connection=connection, now=when)
    elif topic == "app/uninstalled":
        disable_connection(
            session,
            connection=connection,
            reason="the app was uninstalled from the store: reinstall it, then add the "
            "connection again with `tsunagu connector add shopify …`",
            now=when,
        )
    else:
        return False
    return True


def customer_identities(
    session: Session, connection: Connection, payload: dict[str, Any], orders_field: str
) -> list[ExternalIdentity]:
    """The identities a privacy request names: the customer's and its orders' guest buyers."""
    customer_id = str((payload.get("customer") or {}).get("id", ""))
    keys = [customer_id] if customer_id else []
    keys += [f"purchase:{order_id}" for order_id in payload.get(orders_field) or ()]
    if not keys:
        return []
    return list(
        session.scalars(
            select(ExternalIdentity).where(
                ExternalIdentity.connection_id == connection.id,
                ExternalIdentity.external_id.in_(keys),
            )
        )
    )


def _purchases_of(connection: Connection, identity_ids: list[int], order_ids: list[str]) -> Any:
    return select(Purchase).where(
        Purchase.connection_id == connection.id,
        or_(Purchase.identity_id.in_(identity_ids), Purchase.external_id.in_(order_ids)),
    )


def report_customer_data(
    session: Session, *, connection: Connection, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """What the hub holds about the customer (which fields, which orders), audited."""
    found = customer_identities(session, connection, payload, "orders_requested")
    order_ids = [str(o) for o in payload.get("orders_requested") or ()]
    purchases = list(session.scalars(_purchases_of(connection, [i.id for i in found], order_ids)))
    report = {
        "shopify_customer_id": str((payload.get("customer") or {}).get("id", "")),
        "data_request_id": str((payload.get("data_request") or {}).get("id", "")),
        "identities": [
            {
                "external_id": identity.external_id,
                "fields_held": [
                    name
                    for name in ("email", "phone", "name", "member_number", "line_user_id")
                    if getattr(identity, name)
                ],
                "member_id": identity.member_id,
            }
            for identity in found
        ],
        "purchases": [{"order_id": p.external_id, "name": p.name} for p in purchases],
    }
    audit.record(
        session,
        shop_id=connection.shop_id,
        actor=ACTOR,
        action="privacy.data_request",
        subject_type="connection",
        subject_id=connection.id,
        now=now,
        **report,
    )
    log.info(
        "shopify data request for customer %s: %d identities, %d purchases",
        report["shopify_customer_id"],
        len(found),
        len(purchases),
    )
    return report


def erase_identities(session: Session, identities: list[ExternalIdentity], now: datetime) -> None:
    """Clear what identifies the customers; their orders and bookings stay, attached to nobody."""
    for identity in identities:
        identity.email = identity.email_index = None
        identity.phone = identity.phone_index = None
        identity.name = identity.member_number = identity.line_user_id = None
        identity.member_id = None
        identity.status = MatchStatus.UNMATCHED
        identity.resolved_at = now
    ids = [i.id for i in identities]
    if not ids:
        return
    for model in (Purchase, Booking):
        session.execute(update(model).where(model.identity_id.in_(ids)).values(member_id=None))
    session.execute(
        update(IdentityReview)
        .where(IdentityReview.identity_id.in_(ids), IdentityReview.resolved_at.is_(None))
        .values(resolved_at=now)
    )


def redact_customer(
    session: Session, *, connection: Connection, payload: dict[str, Any], now: datetime
) -> int:
    """Erase one customer's personal data; their orders stay, attached to nobody."""
    found = customer_identities(session, connection, payload, "orders_to_redact")
    erase_identities(session, found, now)
    audit.record(
        session,
        shop_id=connection.shop_id,
        actor=ACTOR,
        action="privacy.customer_redacted",
        subject_type="connection",
        subject_id=connection.id,
        now=now,
        shopify_customer_id=str((payload.get("customer") or {}).get("id", "")),
        identities=len(found),
    )
    return len(found)


def redact_shop(session: Session, *, connection: Connection, now: datetime) -> int:
    """Erase the personal data of every customer this connection brought in."""
    found = list(
        session.scalars(
            select(ExternalIdentity).where(ExternalIdentity.connection_id == connection.id)
        )
    )
    erase_identities(session, found, now)
    disable_connection(
        session, connection=connection, reason="the store asked for its data to be erased", now=now
    )
    audit.record(
        session,
        shop_id=connection.shop_id,
        actor=ACTOR,
        action="privacy.shop_redacted",
        subject_type="connection",
        subject_id=connection.id,
        now=now,
        identities=len(found),
    )
    return len(found)


def disable_connection(
    session: Session, *, connection: Connection, reason: str, now: datetime
) -> None:
    """Stop syncing and accepting webhooks for the connection, saying why."""
    connection.status = ConnectionStatus.DISABLED
    connection.status_reason = reason
    audit.record(
        session,
        shop_id=connection.shop_id,
        actor=ACTOR,
        action="connection.disabled",
        subject_type="connection",
        subject_id=connection.id,
        now=now,
        reason=reason,
    )
