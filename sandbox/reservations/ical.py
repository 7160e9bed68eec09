"""A reservation system's iCal feed over real HTTP, with ETags and If-None-Match.

Like many real feeds it stamps every export with a fresh DTSTAMP, so a poller that diffs whole
bodies sees changes that are not there; the ETag only changes when an event does.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import FastAPI, Request, Response

from core.serving import ThreadedServer


@dataclass(slots=True)
class FeedEvent:
    """One VEVENT: times as written into the feed (``…Z``, floating, or with a TZID)."""

    uid: str
    start: str
    end: str | None = None
    summary: str = "Cut"
    sequence: int = 0
    status: str = "CONFIRMED"
    attendee_email: str | None = None
    tzid: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedRequest:
    path: str
    if_none_match: str | None
    status: int


class FeedState:
    """Calendars by name, and the requests they received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calendars: dict[str, dict[str, FeedEvent]] = {}
        self.requests: list[FeedRequest] = []

    def put(self, calendar: str, event: FeedEvent) -> None:
        """Add or replace an event (bump ``sequence`` yourself for a real change)."""
        with self._lock:
            self._calendars.setdefault(calendar, {})[event.uid] = event

    def remove(self, calendar: str, uid: str) -> None:
        with self._lock:
            self._calendars.get(calendar, {}).pop(uid, None)

    def render(self, calendar: str) -> tuple[str, str]:
        """The calendar's text and its ETag (a digest of the events, not of DTSTAMP)."""
        with self._lock:
            events = list(self._calendars.get(calendar, {}).values())
        body_events = [_vevent(e) for e in events]
        digest = hashlib.sha256("\n".join(body_events).encode()).hexdigest()[:20]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tsunagu sandbox//reservations//EN"]
        for text in body_events:
            lines += text.replace("DTSTAMP:-", f"DTSTAMP:{stamp}").split("\n")
        lines.append("END:VCALENDAR")
        return "\r\n".join(_fold(line) for line in lines) + "\r\n", f'"{digest}"'

    def log(self, entry: FeedRequest) -> None:
        with self._lock:
            self.requests.append(entry)


def _vevent(event: FeedEvent) -> str:
    zone = f";TZID={event.tzid}" if event.tzid else ""
    lines = [
        "BEGIN:VEVENT",
        f"UID:{event.uid}",
        "DTSTAMP:-",
        f"DTSTART{zone}:{event.start}",
    ]
    if event.end:
        lines.append(f"DTEND{zone}:{event.end}")
    summary = event.summary.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    lines += [f"SUMMARY:{summary}", f"SEQUENCE:{event.sequence}", f"STATUS:{event.status}"]
    if event.attendee_email:
        lines.append(f'ATTENDEE;CN="Guest";ROLE=REQ-PARTICIPANT:mailto:{event.attendee_email}')
    lines += [f"{name}:{value}" for name, value in event.extra.items()]
    lines.append("END:VEVENT")
    return "\n".join(lines)


def _fold(line: str) -> str:
    """Fold content lines longer than 75 octets, as RFC 5545 asks."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts: list[str] = []
    current = b""
    for char in line:
        piece = char.encode()
        if len(current) + len(piece) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += piece
    parts.append(current.decode())
    return "\r\n ".join(parts)


def create_app(state: FeedState) -> FastAPI:
    app = FastAPI(title="sandbox iCal feeds", docs_url=None, redoc_url=None)

    @app.get("/calendars/{name}.ics")
    async def feed(name: str, request: Request) -> Response:
        body, etag = state.render(name)
        asked = request.headers.get("if-none-match")
        status = 304 if asked == etag else 200
        state.log(FeedRequest(request.url.path, asked, status))
        if status == 304:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="text/calendar; charset=utf-8", headers={"ETag": etag})

    return app


class ICalFeedServer:
    """The feed server: ``url_of(calendar)`` is what an iCal connection's base URL is set to."""

    def __init__(self, state: FeedState | None = None, *, port: int = 0) -> None:
        self.state = state or FeedState()
        self._server = ThreadedServer(create_app(self.state), port=port, lifespan="off")

    @property
    def url(self) -> str:
        return self._server.url

    def url_of(self, calendar: str) -> str:
        return f"{self.url}/calendars/{calendar}.ics"

    def start(self) -> ICalFeedServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
