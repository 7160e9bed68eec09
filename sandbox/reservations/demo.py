"""Demo bookings: a reservation system books each customer once over signed ``reservation.v1``
webhooks to the hub, and reschedules the first booking. For ``tsunagu demo`` and walkthroughs."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sandbox.reservations.sender import Delivery, WebhookSender
from sandbox.reservations.systems import Customer, ReservationSystem


def send_demo_bookings(
    webhook_url: str,
    secret: str,
    customers: list[Customer],
    *,
    today: datetime | None = None,
    same_day: Customer | None = None,
) -> list[Delivery]:
    """Book each customer at 10:00 (Asia/Tokyo, sent zone-less) on successive days from
    tomorrow, then move the first booking to 15:00, and book ``same_day`` for 90 minutes from
    now; returns the deliveries."""
    system = ReservationSystem(timezone=None)
    sender = WebhookSender()
    tokyo = today or datetime.now(ZoneInfo("Asia/Tokyo"))
    deliveries = []
    try:
        for day, customer in enumerate(customers, start=1):
            start = (tokyo + timedelta(days=day)).replace(
                hour=10, minute=0, second=0, microsecond=0
            )
            event = system.book(
                customer,
                start=start.strftime("%Y-%m-%dT%H:%M:%S"),
                end=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
            )
            deliveries.append(sender.send_v1(webhook_url, event, secrets=[secret]))
        if customers:
            first = system.booking("bk_1")
            moved = first["start"].replace("T10:00", "T15:00")
            event = system.reschedule("bk_1", start=moved, end=moved.replace("T15:00", "T16:00"))
            deliveries.append(sender.send_v1(webhook_url, event, secrets=[secret]))
        if same_day is not None:
            start = (tokyo + timedelta(minutes=90)).replace(second=0, microsecond=0)
            event = system.book(
                same_day,
                start=start.strftime("%Y-%m-%dT%H:%M:%S"),
                end=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                service="Head spa",
                location="表参道店",
            )
            deliveries.append(sender.send_v1(webhook_url, event, secrets=[secret]))
    finally:
        sender.close()
    return deliveries
