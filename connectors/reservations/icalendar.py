"""A small, careful reader of iCalendar (RFC 5545) feeds: VEVENTs with the properties a booking
needs. Lines are unfolded, parameters and escapes honoured, times read with their TZID, as UTC,
or (floating and all-day) in the connection's zone."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.errors import SkippableRecord
from connectors.reservations.times import zone

# DTSTAMP changes on every export of many feeds: it says nothing about the event.
_VOLATILE = frozenset({"DTSTAMP"})


@dataclass(frozen=True, slots=True)
class Property:
    name: str
    params: dict[str, str]
    value: str


@dataclass(slots=True)
class VEvent:
    properties: list[Property] = field(default_factory=list)

    def first(self, name: str) -> Property | None:
        return next((p for p in self.properties if p.name == name), None)

    def all(self, name: str) -> list[Property]:
        return [p for p in self.properties if p.name == name]

    @property
    def uid(self) -> str | None:
        found = self.first("UID")
        return found.value if found else None

    @property
    def sequence(self) -> int:
        found = self.first("SEQUENCE")
        try:
            return int(found.value) if found else 0
        except ValueError:
            return 0

    def fingerprint(self) -> str:
        """A digest of what the event says (DTSTAMP left out), to notice changes that came
        without a SEQUENCE bump."""
        lines = sorted(
            f"{p.name};{sorted(p.params.items())}:{p.value}"
            for p in self.properties
            if p.name not in _VOLATILE
        )
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]


def unfold(text: str) -> list[str]:
    """Content lines with folded continuations (a leading space or tab) joined back."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw:
            lines.append(raw)
    return lines


def parse_line(line: str) -> Property:
    """``NAME;PARAM=VALUE;…:value`` (a quoted parameter value may hold ``:`` and ``;``)."""
    quoted, split_at = False, -1
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            split_at = index
            break
    if split_at < 0:
        raise SkippableRecord(f"not an iCalendar content line: {line[:40]!r}")
    name_and_params, value = line[:split_at], line[split_at + 1 :]
    parts = _split_params(name_and_params)
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, _, param_value = part.partition("=")
        params[key.upper()] = param_value.strip('"')
    return Property(parts[0].upper(), params, value)


def _split_params(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def events(text: str) -> list[VEvent]:
    """The VEVENTs of a calendar (alarms and other nested components skipped)."""
    found: list[VEvent] = []
    current: VEvent | None = None
    depth = 0
    for line in unfold(text):
        prop = parse_line(line)
        if prop.name == "BEGIN" and prop.value.upper() == "VEVENT":
            current, depth = VEvent(), 0
        elif current is not None and prop.name == "BEGIN":
            depth += 1
        elif current is not None and prop.name == "END":
            if prop.value.upper() == "VEVENT" and depth == 0:
                found.append(current)
                current = None
            else:
                depth -= 1
        elif current is not None and depth == 0:
            current.properties.append(prop)
    return found


def unescape(value: str) -> str:
    """TEXT value escapes: ``\\n``, ``\\,``, ``\\;``, ``\\\\``."""
    out, escaped = [], False
    for char in value:
        if escaped:
            out.append("\n" if char in "nN" else char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)


def to_datetime(prop: Property, *, default_zone: str) -> datetime:
    """DTSTART/DTEND as aware UTC: ``…Z`` is UTC, ``TZID=`` names the zone, floating times and
    all-day dates are read in ``default_zone``."""
    value = prop.value.strip()
    try:
        if prop.params.get("VALUE") == "DATE" or len(value) == 8:
            local = datetime.strptime(value, "%Y%m%d")
        elif value.endswith("Z"):
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        else:
            local = datetime.strptime(value, "%Y%m%dT%H%M%S")
    except ValueError as exc:
        raise SkippableRecord(f"{prop.name}: {value!r} is not an iCalendar date-time") from exc
    tz = zone(prop.params.get("TZID") or default_zone)
    return local.replace(tzinfo=tz).astimezone(UTC)
