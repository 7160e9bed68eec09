"""Reservation systems without webhooks, through their iCal (.ics) feed.

Each poll sends ``If-None-Match`` with the last ETag (304: nothing to do). On a new body, the
events are compared with what the last poll saw, by UID: a new UID, a higher SEQUENCE or a
changed event (DTSTAMP aside) becomes a booking version; a UID that disappeared cancels its
booking. The cursor keeps, per UID, the SEQUENCE, a fingerprint and the times — no personal data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field

from connectors.base import ConnectionConfig, MalformedWebhook, Page, Stream, WebhookEvent
from connectors.errors import FatalError, RetriableError, SkippableRecord
from connectors.options import ConnectorOptions, parse_options
from connectors.records import BookingRecord, BookingStatus, Contact
from connectors.reservations import icalendar
from connectors.reservations.icalendar import VEvent
from core.errors import ConfigurationError, InvalidSignature

log = logging.getLogger(__name__)

BOOKINGS = "bookings"
_STATUS = {
    "CANCELLED": BookingStatus.CANCELLED,
    "TENTATIVE": BookingStatus.PENDING,
    "CONFIRMED": BookingStatus.CONFIRMED,
}


@dataclass(frozen=True, slots=True)
class Seen:
    """What the last poll saw of one event."""

    sequence: int
    fingerprint: str
    start: str
    end: str | None


class ICalOptions(ConnectorOptions):
    # A feed that has not answered after this long is tried again on the next poll.
    timeout_seconds: float = Field(30, gt=0)


class ICalConnector:
    """Bookings polled from an .ics feed (``base_url`` is the feed's URL)."""

    kind: ClassVar[str] = "ical"
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream(BOOKINGS, primary_key="UID", cursor_field="SEQUENCE"),
    )

    def __init__(self, config: ConnectionConfig) -> None:
        if not config.base_url:
            raise ConfigurationError("an iCal connection needs --base-url: the feed's URL")
        self._config = config
        self._url = config.base_url
        credentials = config.credentials
        self._auth = (
            (credentials["username"], credentials.get("password", ""))
            if credentials.get("username")
            else None
        )
        self._timeout = parse_options(ICalOptions, self.kind, config.options).timeout_seconds

    def pull(
        self, stream: str, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Page]:
        """One page: the bookings that changed since the last poll, and the new cursor."""
        etag, seen = (None, {}) if full else _read_cursor(cursor)
        response = self._fetch(etag)
        if response.status_code == 304:
            return
        new_etag = response.headers.get("etag")
        page = Page(records=[], cursor=None)
        current: dict[str, Seen] = {}
        for event in icalendar.events(response.text):
            try:
                uid, state, record = self._version(event, now=now)
            except SkippableRecord as exc:
                log.warning("skipped iCal event %s: %s", event.uid, exc)
                page.skipped += 1
                continue
            current[uid] = state
            # New, re-sequenced or otherwise changed since the last poll.
            if state != seen.get(uid):
                page.records.append(record)
        for uid, gone in seen.items():
            if uid not in current:
                page.records.append(self._removed(uid, gone, now=now))
        page.cursor = _write_cursor(new_etag, current)
        yield page

    def _fetch(self, etag: str | None) -> httpx.Response:
        headers = {"If-None-Match": etag} if etag else {}
        try:
            response = httpx.get(self._url, headers=headers, auth=self._auth, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise RetriableError(f"iCal feed {self._url} unreachable: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise RetriableError(
                f"iCal feed answered {response.status_code}", status=response.status_code
            )
        if response.status_code not in (200, 304):
            raise FatalError(
                f"iCal feed {self._url} answered {response.status_code}: check the URL and its "
                "credentials",
                status=response.status_code,
            )
        return response

    def _version(self, event: VEvent, *, now: datetime) -> tuple[str, Seen, BookingRecord]:
        uid = event.uid
        start_prop = event.first("DTSTART")
        if not uid or start_prop is None:
            raise SkippableRecord("a VEVENT needs UID and DTSTART")
        tz = self._config.timezone
        start = icalendar.to_datetime(start_prop, default_zone=tz)
        end_prop = event.first("DTEND")
        end = icalendar.to_datetime(end_prop, default_zone=tz) if end_prop else None
        status_prop = event.first("STATUS")
        status = _STATUS.get(status_prop.value.upper() if status_prop else "CONFIRMED")
        record = BookingRecord(
            external_id=uid,
            status=status or BookingStatus.CONFIRMED,
            start_at=start,
            end_at=end,
            # The poller is the only writer of its bookings and polls never overlap: the poll's
            # time orders versions (DTSTAMP may be the export time, not the change time).
            updated_at=now,
            contact=_contact(event),
            customer_external_id=f"ical:{uid}",
            service=_text(event, "SUMMARY"),
            location=_text(event, "LOCATION"),
            timezone=tz,
        )
        seen = Seen(
            event.sequence, event.fingerprint(), start.isoformat(), end.isoformat() if end else None
        )
        return uid, seen, record

    def _removed(self, uid: str, gone: Seen, *, now: datetime) -> BookingRecord:
        """A UID no longer in the feed: its booking is cancelled (customer kept by id)."""
        return BookingRecord(
            external_id=uid,
            status=BookingStatus.CANCELLED,
            start_at=datetime.fromisoformat(gone.start),
            end_at=datetime.fromisoformat(gone.end) if gone.end else None,
            updated_at=now,
            contact=Contact(),
            customer_external_id=f"ical:{uid}",
            timezone=self._config.timezone,
            deleted=True,
        )

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> None:
        """iCal feeds are polled; they send no webhooks."""
        raise InvalidSignature("iCal connections take no webhooks; the feed is polled")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        raise MalformedWebhook("iCal connections take no webhooks")

    def normalize(self, topic: str, payload: dict[str, Any]) -> BookingRecord | None:
        """Nothing is stored as an event for iCal feeds."""
        return None


def _contact(event: VEvent) -> Contact:
    """The first attendee's email (``mailto:``) or phone (``tel:``), and X- keys if present."""
    email = phone = None
    for attendee in event.all("ATTENDEE"):
        value = attendee.value
        if value.lower().startswith("mailto:") and email is None:
            email = value[7:]
        elif value.lower().startswith("tel:") and phone is None:
            phone = value[4:]
    member = event.first("X-MEMBER-NUMBER")
    line = event.first("X-LINE-USER-ID")
    return Contact(
        email=email,
        phone=phone,
        member_number=member.value if member else None,
        line_user_id=line.value if line else None,
    )


def _text(event: VEvent, name: str) -> str | None:
    found = event.first(name)
    return icalendar.unescape(found.value) if found and found.value else None


def _read_cursor(cursor: str | None) -> tuple[str | None, dict[str, Seen]]:
    """The stored ETag and events; a timestamp cursor (``--since``) means start afresh."""
    if not cursor or not cursor.startswith("{"):
        return None, {}
    document = json.loads(cursor)
    seen = {uid: Seen(*values) for uid, values in document.get("events", {}).items()}
    return document.get("etag"), seen


def _write_cursor(etag: str | None, seen: dict[str, Seen]) -> str:
    events = {uid: [s.sequence, s.fingerprint, s.start, s.end] for uid, s in seen.items()}
    return json.dumps({"etag": etag, "events": events}, separators=(",", ":"))
