"""Emulated reservation systems: they keep bookings and describe each change as the webhook
body their real counterpart sends — ``reservation.v1`` for an in-house system, Cal.com's
trigger format for Cal.com. Nothing is sent here: a :class:`~sandbox.reservations.sender.
WebhookSender` delivers the bodies, in any order and as often as a test wants.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer as the reservation system knows them."""

    external_id: str
    name: str | None = None
    email: str | None = None
    phone_e164: str | None = None
    member_id: str | None = None
    line_user_id: str | None = None


class _Clock:
    """Strictly increasing millisecond timestamps, so each change is newer than the last."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> datetime:
        ms = max(int(time.time() * 1000), self._last + 1)
        self._last = ms
        return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _Booking:
    id: str
    customer: Customer
    start: str
    end: str | None
    status: str
    service: str
    staff: str
    location: str | None
    timezone: str | None
    version: int = 1
    previous_id: str | None = None


class ReservationSystem:
    """An in-house booking system reporting changes as signed ``reservation.v1`` events.

    Times are passed through as given, so a test can send zone-less local times the way many
    Japanese systems do; ``timezone`` (None to leave it out) is sent with each booking.
    """

    def __init__(self, *, timezone: str | None = "Asia/Tokyo") -> None:
        self.timezone = timezone
        self._lock = threading.Lock()
        self._bookings: dict[str, _Booking] = {}
        self._ids = itertools.count(1)
        self._clock = _Clock()

    def booking(self, booking_id: str) -> dict[str, Any]:
        """The system's current view of one booking."""
        with self._lock:
            return self._snapshot(self._bookings[booking_id])

    def book(
        self,
        customer: Customer,
        *,
        start: str,
        end: str | None = None,
        service: str = "Cut",
        staff: str = "Sato",
        location: str | None = "Shibuya",
        status: str = "confirmed",
    ) -> dict[str, Any]:
        """Take a booking; returns its ``booking.created`` event."""
        with self._lock:
            booking = _Booking(
                id=f"bk_{next(self._ids)}",
                customer=customer,
                start=start,
                end=end,
                status=status,
                service=service,
                staff=staff,
                location=location,
                timezone=self.timezone,
            )
            self._bookings[booking.id] = booking
            return self._event("booking.created", booking)

    def update(self, booking_id: str, **changes: Any) -> dict[str, Any]:
        """Change a booking's details (status, service, staff, …): ``booking.updated``."""
        with self._lock:
            booking = self._bookings[booking_id]
            for name, value in changes.items():
                setattr(booking, name, value)
            booking.version += 1
            return self._event("booking.updated", booking)

    def reschedule(
        self, booking_id: str, *, start: str, end: str | None = None, new_id: bool = False
    ) -> dict[str, Any]:
        """Move a booking: same id and a new version, or (``new_id``) a new booking naming the
        old one in ``previous_id``, as systems that re-issue ids do."""
        with self._lock:
            booking = self._bookings[booking_id]
            if new_id:
                moved = copy.copy(booking)
                moved.id, moved.version, moved.previous_id = f"bk_{next(self._ids)}", 1, booking.id
                booking.status = "rescheduled"
                self._bookings[moved.id] = booking = moved
            else:
                booking.version += 1
            booking.start, booking.end = start, end
            return self._event("booking.rescheduled", booking)

    def cancel(self, booking_id: str) -> dict[str, Any]:
        """Cancel a booking: ``booking.cancelled``."""
        with self._lock:
            booking = self._bookings[booking_id]
            booking.status = "cancelled"
            booking.version += 1
            return self._event("booking.cancelled", booking)

    def _event(self, event_type: str, booking: _Booking) -> dict[str, Any]:
        customer = booking.customer
        return {
            "schema": "reservation.v1",
            "event_id": f"evt_{secrets.token_hex(8)}",
            "event_type": event_type,
            "occurred_at": _iso(self._clock.next()),
            "booking": self._snapshot(booking),
            "customer": {
                "external_id": customer.external_id,
                "member_id": customer.member_id,
                "email": customer.email,
                "phone_e164": customer.phone_e164,
                "name": customer.name,
                "line_user_id": customer.line_user_id,
            },
        }

    @staticmethod
    def _snapshot(booking: _Booking) -> dict[str, Any]:
        snapshot: dict[str, Any] = {
            "id": booking.id,
            "previous_id": booking.previous_id,
            "status": booking.status,
            "start": booking.start,
            "end": booking.end,
            "version": booking.version,
            "service": {"id": booking.service.lower(), "name": booking.service},
            "staff": {"id": booking.staff.lower(), "name": booking.staff},
            "location": booking.location,
        }
        if booking.timezone is not None:
            snapshot["timezone"] = booking.timezone
        return snapshot


@dataclass(slots=True)
class _CalBooking:
    uid: str
    title: str
    start: str
    end: str
    attendee: dict[str, Any]
    responses: dict[str, Any]
    status: str
    metadata: dict[str, Any] = field(default_factory=dict)


class CalcomAccount:
    """A Cal.com user's event type: bookings and the trigger bodies Cal.com would post."""

    def __init__(
        self, *, organizer: str = "Sato", organizer_zone: str = "Asia/Tokyo", title: str = "Cut"
    ) -> None:
        self.organizer = {
            "name": organizer,
            "email": "owner@example.com",
            "timeZone": organizer_zone,
        }
        self.title = title
        self._lock = threading.Lock()
        self._bookings: dict[str, _CalBooking] = {}
        self._clock = _Clock()

    def create(
        self,
        *,
        name: str,
        email: str,
        start: str,
        end: str,
        phone: str | None = None,
        responses: dict[str, str] | None = None,
        requires_confirmation: bool = False,
    ) -> dict[str, Any]:
        """Book a slot: ``BOOKING_CREATED`` (``BOOKING_REQUESTED`` when it needs approval)."""
        attendee: dict[str, Any] = {"name": name, "email": email, "timeZone": "Asia/Tokyo"}
        if phone:
            attendee["phoneNumber"] = phone
        answers = {
            "name": {"label": "your_name", "value": name},
            "email": {"label": "email_address", "value": email},
            **{key: {"label": key, "value": value} for key, value in (responses or {}).items()},
        }
        with self._lock:
            booking = _CalBooking(
                uid=secrets.token_urlsafe(16),
                title=self.title,
                start=start,
                end=end,
                attendee=attendee,
                responses=answers,
                status="PENDING" if requires_confirmation else "ACCEPTED",
            )
            self._bookings[booking.uid] = booking
            trigger = "BOOKING_REQUESTED" if requires_confirmation else "BOOKING_CREATED"
            return self._document(trigger, booking)

    def confirm(self, uid: str) -> dict[str, Any]:
        """The organizer accepts a requested booking: ``BOOKING_CREATED``."""
        with self._lock:
            booking = self._bookings[uid]
            booking.status = "ACCEPTED"
            return self._document("BOOKING_CREATED", booking)

    def reject(self, uid: str) -> dict[str, Any]:
        """The organizer declines a requested booking: ``BOOKING_REJECTED``."""
        with self._lock:
            booking = self._bookings[uid]
            booking.status = "REJECTED"
            return self._document("BOOKING_REJECTED", booking)

    def reschedule(self, uid: str, *, start: str, end: str) -> dict[str, Any]:
        """Cal.com reschedules into a *new* booking uid; ``rescheduleUid`` names the old one."""
        with self._lock:
            old = self._bookings[uid]
            old.status = "CANCELLED"
            new = _CalBooking(
                uid=secrets.token_urlsafe(16),
                title=old.title,
                start=start,
                end=end,
                attendee=old.attendee,
                responses=old.responses,
                status="ACCEPTED",
            )
            self._bookings[new.uid] = new
            return self._document("BOOKING_RESCHEDULED", new, rescheduleUid=uid)

    def cancel(self, uid: str) -> dict[str, Any]:
        """Cancel a booking: ``BOOKING_CANCELLED``."""
        with self._lock:
            booking = self._bookings[uid]
            booking.status = "CANCELLED"
            return self._document("BOOKING_CANCELLED", booking, cancellationReason="")

    def _document(self, trigger: str, booking: _CalBooking, **extra: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "type": booking.title.lower(),
            "title": booking.title,
            "uid": booking.uid,
            "startTime": booking.start,
            "endTime": booking.end,
            "status": booking.status,
            "organizer": self.organizer,
            "attendees": [booking.attendee],
            "responses": booking.responses,
            "location": "Shibuya",
            "metadata": booking.metadata,
            **extra,
        }
        return {"triggerEvent": trigger, "createdAt": _iso(self._clock.next()), "payload": payload}
