"""Cal.com booking webhooks: ``X-Cal-Signature-256`` (hex HMAC-SHA256 of the raw body).

Cal.com sends no event id and no timestamp header: the dedup key is derived from the trigger,
the booking uid and the body's ``createdAt``, and ``createdAt`` orders versions of a booking.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

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

UNSIGNED = "no-secret-provided"

_STATUS = {
    "BOOKING_CREATED": BookingStatus.CONFIRMED,
    "BOOKING_RESCHEDULED": BookingStatus.CONFIRMED,
    "BOOKING_REQUESTED": BookingStatus.PENDING,
    "BOOKING_CANCELLED": BookingStatus.CANCELLED,
    "BOOKING_REJECTED": BookingStatus.REJECTED,
}
# Form answers that carry strong keys, unless the connection's options name others.
StrongKey = Literal["member_number", "line_user_id", "phone"]
DEFAULT_RESPONSE_KEYS: dict[StrongKey, str] = {
    "member_number": "memberNumber",
    "line_user_id": "lineUserId",
    "phone": "attendeePhoneNumber",
}


class CalcomOptions(ConnectorOptions):
    # Booking form questions that carry a strong key, by the key's name (see the defaults).
    response_keys: dict[StrongKey, str] = {}


class CalcomConnector:
    """Bookings pushed by a Cal.com webhook subscription (push only)."""

    kind: ClassVar[str] = "calcom"
    streams: ClassVar[tuple[Stream, ...]] = ()

    def __init__(self, config: ConnectionConfig) -> None:
        self._config = config
        options = parse_options(CalcomOptions, self.kind, config.options)
        self._keys: dict[StrongKey, str] = {**DEFAULT_RESPONSE_KEYS, **options.response_keys}

    def pull(
        self, stream: str, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Page]:
        """Nothing to pull: this source only pushes."""
        return iter(())

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> None:
        """Check ``X-Cal-Signature-256`` against each configured secret; refuse unsigned hooks."""
        provided = (header(headers, "X-Cal-Signature-256") or "").strip()
        if not provided or provided == UNSIGNED:
            raise InvalidSignature(
                "Cal.com sent this webhook unsigned: set the webhook's secret in Cal.com to "
                "the connection's secret"
            )
        expected = [hmac_hex(s, body) for s in webhook_secrets(self._config.credentials)]
        if not any_matches(expected, [provided]):
            raise InvalidSignature("X-Cal-Signature-256 matches none of this connection's secrets")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """One event per delivery; retries of the same trigger share their dedup key."""
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise MalformedWebhook(f"body is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise MalformedWebhook("body must be a JSON object")
        trigger = document.get("triggerEvent")
        created_at = document.get("createdAt")
        payload = document.get("payload")
        if not isinstance(trigger, str) or not trigger:
            raise MalformedWebhook("missing triggerEvent")
        if not isinstance(created_at, str) or not isinstance(payload, dict):
            raise MalformedWebhook("a Cal.com webhook has createdAt and a payload object")
        try:
            occurred_at = parse_time(
                created_at, default_zone=self._config.timezone, field="createdAt"
            )
            self.normalize(trigger, document)
        except SkippableRecord as exc:
            raise MalformedWebhook(str(exc)) from exc
        uid = str(payload.get("uid") or "")
        return [
            WebhookEvent(
                dedup_key="calcom:"
                + digest_key(str(self._config.connection_id), trigger, uid, created_at),
                topic=trigger,
                payload=document,
                occurred_at=occurred_at,
            )
        ]

    def normalize(self, topic: str, payload: dict[str, Any]) -> BookingRecord | None:
        """The booking a trigger carries; None for triggers that are not about bookings."""
        if topic not in _STATUS:
            return None
        booking = payload.get("payload")
        if not isinstance(booking, dict):
            raise SkippableRecord("payload must be an object")
        uid = booking.get("uid")
        if not uid:
            raise SkippableRecord("payload.uid is missing")
        tz = self._booking_zone(booking)
        attendee = _first_attendee(booking)
        answers = booking.get("responses")
        responses: dict[str, Any] = answers if isinstance(answers, dict) else {}
        return BookingRecord(
            external_id=str(uid),
            status=_STATUS[topic],
            start_at=parse_time(booking.get("startTime"), default_zone=tz, field="startTime"),
            end_at=optional_time(booking.get("endTime"), default_zone=tz, field="endTime"),
            updated_at=parse_time(payload.get("createdAt"), default_zone=tz, field="createdAt"),
            contact=Contact(
                email=_text(attendee.get("email")),
                phone=_text(attendee.get("phoneNumber")) or _answer(responses, self._keys["phone"]),
                member_number=_answer(responses, self._keys["member_number"])
                or _text(_metadata(booking).get(self._keys["member_number"])),
                line_user_id=_answer(responses, self._keys["line_user_id"])
                or _text(_metadata(booking).get(self._keys["line_user_id"])),
                name=_text(attendee.get("name")),
            ),
            service=_text(booking.get("title")) or _text(booking.get("type")),
            staff=_text(_object(booking, "organizer").get("name")),
            location=_text(booking.get("location")),
            timezone=tz,
            previous_external_id=(
                _text(booking.get("rescheduleUid")) if topic == "BOOKING_RESCHEDULED" else None
            ),
        )

    def _booking_zone(self, booking: dict[str, Any]) -> str:
        """The zone the shop books in: the organizer's, else the connection's."""
        organizer = booking.get("organizer")
        if isinstance(organizer, dict) and isinstance(organizer.get("timeZone"), str):
            return organizer["timeZone"]
        return self._config.timezone


def _first_attendee(booking: dict[str, Any]) -> dict[str, Any]:
    attendees = booking.get("attendees")
    if isinstance(attendees, list) and attendees and isinstance(attendees[0], dict):
        return attendees[0]
    return {}


def _object(booking: dict[str, Any], key: str) -> dict[str, Any]:
    value = booking.get(key)
    return value if isinstance(value, dict) else {}


def _metadata(booking: dict[str, Any]) -> dict[str, Any]:
    return _object(booking, "metadata")


def _answer(responses: dict[str, Any], key: str) -> str | None:
    """A form answer: Cal.com sends ``{"label": …, "value": …}``, older hooks the bare value."""
    value = responses.get(key)
    if isinstance(value, dict):
        value = value.get("value")
    return _text(value)


def _text(value: object) -> str | None:
    if value is None or value == "" or isinstance(value, dict | list):
        return None
    return str(value)
