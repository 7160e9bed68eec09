"""The signed generic reservation webhook, ``reservation.v1``.

Headers: ``X-Tsunagu-Event-Id`` (equal on retries: the dedup key), ``X-Tsunagu-Timestamp``
(unix seconds, refused when more than five minutes off) and ``X-Tsunagu-Signature: v1=<hex
HMAC-SHA256(secret, "{timestamp}.{raw body}")>`` — several ``v1=`` while a secret is rotated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from connectors.base import ConnectionConfig, MalformedWebhook, Page, Stream, WebhookEvent
from connectors.errors import SkippableRecord
from connectors.options import ConnectorOptions, parse_options
from connectors.records import BookingRecord, BookingStatus, Contact
from connectors.reservations.signing import (
    any_matches,
    digest_key,
    header,
    hmac_hex,
    webhook_secrets,
)
from connectors.reservations.times import optional_time, parse_time
from core.errors import InvalidSignature

SCHEMA = "reservation.v1"
DEFAULT_TOLERANCE_SECONDS = 300


class GenericReservationOptions(ConnectorOptions):
    # How far a webhook's X-Tsunagu-Timestamp may be from the hub's clock.
    timestamp_tolerance_seconds: int = Field(DEFAULT_TOLERANCE_SECONDS, gt=0)


MAX_DEDUP_KEY = 128

# The status an event type implies; the others take the booking's own status.
_IMPLIED_STATUS = {
    "booking.cancelled": BookingStatus.CANCELLED,
    "booking.no_show": BookingStatus.NO_SHOW,
    "booking.completed": BookingStatus.COMPLETED,
}
EVENT_TYPES = frozenset(
    {"booking.created", "booking.updated", "booking.rescheduled", *_IMPLIED_STATUS}
)
_SIGNATURE = re.compile(r"v1=([0-9a-fA-F]+)")


class GenericReservationConnector:
    """Bookings pushed by any system that signs ``reservation.v1`` webhooks (push only)."""

    kind: ClassVar[str] = "reservations"
    streams: ClassVar[tuple[Stream, ...]] = ()

    def __init__(self, config: ConnectionConfig) -> None:
        self._config = config
        options = parse_options(GenericReservationOptions, self.kind, config.options)
        self._tolerance = options.timestamp_tolerance_seconds

    def pull(
        self, stream: str, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Page]:
        """Nothing to pull: this source only pushes."""
        return iter(())

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> None:
        """Check the timestamp's freshness and that one ``v1=`` signature matches a secret."""
        timestamp = (header(headers, "X-Tsunagu-Timestamp") or "").strip()
        if not timestamp.isdigit():
            raise InvalidSignature("missing or non-numeric X-Tsunagu-Timestamp header")
        skew = abs(now.timestamp() - int(timestamp))
        if skew > self._tolerance:
            raise InvalidSignature(
                f"X-Tsunagu-Timestamp is {skew:.0f} s away from the hub's clock (at most "
                f"{self._tolerance} s allowed): check the sender's clock, and sign each "
                "delivery afresh"
            )
        provided = _SIGNATURE.findall(header(headers, "X-Tsunagu-Signature") or "")
        if not provided:
            raise InvalidSignature("missing X-Tsunagu-Signature header (expected v1=<hex>)")
        message = timestamp.encode() + b"." + body
        expected = [hmac_hex(s, message) for s in webhook_secrets(self._config.credentials)]
        if not any_matches(expected, provided):
            raise InvalidSignature("X-Tsunagu-Signature matches none of this connection's secrets")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """One event per delivery, keyed by its event id."""
        event_id = (header(headers, "X-Tsunagu-Event-Id") or "").strip()
        if not event_id:
            raise MalformedWebhook("missing X-Tsunagu-Event-Id header")
        payload = _json_object(body)
        if payload.get("schema") != SCHEMA:
            raise MalformedWebhook(f"schema must be {SCHEMA!r}, got {payload.get('schema')!r}")
        if str(payload.get("event_id", "")) != event_id:
            raise MalformedWebhook("body event_id differs from the X-Tsunagu-Event-Id header")
        topic = payload.get("event_type")
        if not isinstance(topic, str) or not topic:
            raise MalformedWebhook("missing event_type")
        try:
            occurred_at = optional_time(
                payload.get("occurred_at"), default_zone=self._config.timezone, field="occurred_at"
            )
            # A signed body the hub could not use later is refused now, with the reason.
            self.normalize(topic, payload)
        except SkippableRecord as exc:
            raise MalformedWebhook(str(exc)) from exc
        # Senders pick their own event ids: two shops' systems may both send "evt_1".
        scoped = f"{self._config.connection_id}:{event_id}"
        key = scoped if len(scoped) <= MAX_DEDUP_KEY else digest_key(scoped)
        return [WebhookEvent(dedup_key=key, topic=topic, payload=payload, occurred_at=occurred_at)]

    def normalize(self, topic: str, payload: dict[str, Any]) -> BookingRecord | None:
        """The booking a ``reservation.v1`` event carries; None for event types not known."""
        if topic not in EVENT_TYPES:
            return None
        booking = _object(payload, "booking")
        customer = _object(payload, "customer", required=False)
        booking_id = booking.get("id")
        if booking_id in (None, ""):
            raise SkippableRecord("booking.id is missing")
        tz = booking.get("timezone") or self._config.timezone
        if not isinstance(tz, str):
            raise SkippableRecord("booking.timezone must be an IANA zone name")
        occurred = payload.get("occurred_at")
        return BookingRecord(
            external_id=str(booking_id),
            status=_status(topic, booking.get("status")),
            start_at=parse_time(booking.get("start"), default_zone=tz, field="booking.start"),
            end_at=optional_time(booking.get("end"), default_zone=tz, field="booking.end"),
            updated_at=parse_time(occurred, default_zone=tz, field="occurred_at"),
            contact=Contact(
                email=_text(customer.get("email")),
                phone=_text(customer.get("phone_e164")),
                member_number=_text(customer.get("member_id")),
                line_user_id=_text(customer.get("line_user_id")),
                name=_text(customer.get("name")),
            ),
            customer_external_id=_text(customer.get("external_id")),
            service=_name(booking.get("service")),
            staff=_name(booking.get("staff")),
            location=_name(booking.get("location")),
            timezone=tz,
            previous_external_id=_text(booking.get("previous_id")),
            version=_version(booking.get("version")),
        )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise MalformedWebhook(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedWebhook("body must be a JSON object")
    return payload


def _object(payload: dict[str, Any], key: str, *, required: bool = True) -> dict[str, Any]:
    value = payload.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise SkippableRecord(f"{key} must be an object")
    return value


def _status(topic: str, given: object) -> BookingStatus:
    if topic in _IMPLIED_STATUS:
        return _IMPLIED_STATUS[topic]
    if given is None:
        return BookingStatus.CONFIRMED
    try:
        return BookingStatus(str(given).lower())
    except ValueError:
        allowed = ", ".join(s.value for s in BookingStatus)
        raise SkippableRecord(f"booking.status {given!r} is not one of {allowed}") from None


def _version(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SkippableRecord(f"booking.version must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise SkippableRecord(f"booking.version must be an integer, got {value!r}") from None


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _name(value: object) -> str | None:
    """``service``/``staff``/``location`` may be ``{id, name}`` objects or plain strings."""
    if isinstance(value, dict):
        return _text(value.get("name")) or _text(value.get("id"))
    return _text(value)
