"""The Salesforce connector: contacts and bookings pulled incrementally on ``SystemModstamp``.

Each run reads ``SystemModstamp >= bookmark - lookback AND SystemModstamp < run start`` through
``queryAll`` (deleted rows included, ``IsDeleted`` set), ordered by ``SystemModstamp, Id``, and
checkpoints after every batch; the last batch saves the run start, so the bookmark never passes
it. Salesforce pushes no webhooks to the hub.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connectors.base import ConnectionConfig, MalformedWebhook, Page, Stream, WebhookEvent
from connectors.errors import SkippableRecord
from connectors.records import BookingRecord, BookingStatus, Contact, CustomerRecord, Record
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.settings import ObjectMapping, SalesforceSettings, read_settings
from core.errors import InvalidSignature

log = logging.getLogger(__name__)

CONTACTS = "contacts"
BOOKINGS = "bookings"


def soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal (unquoted, UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_sf_datetime(value: object, *, field: str) -> datetime:
    """Salesforce's ``2026-11-22T06:00:00.000+0000`` as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise SkippableRecord(f"{field}: expected a datetime, got {value!r}")
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError as exc:
        raise SkippableRecord(f"{field}: {value!r} is not a datetime") from exc


class SalesforceConnector:
    """Contacts (members' keys) and bookings (Event or a custom object) from one org."""

    kind: ClassVar[str] = "salesforce"
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream(CONTACTS, primary_key="Id", cursor_field="SystemModstamp"),
        Stream(BOOKINGS, primary_key="Id", cursor_field="SystemModstamp"),
    )

    def __init__(self, config: ConnectionConfig, *, client: SalesforceClient | None = None):
        self.settings: SalesforceSettings = read_settings(config)
        self._client = client

    @property
    def client(self) -> SalesforceClient:
        if self._client is None:
            self._client = SalesforceClient(self.settings)
        return self._client

    def mapping(self, stream: str) -> ObjectMapping | None:
        if stream == CONTACTS:
            return self.settings.contacts
        if stream == BOOKINGS:
            return self.settings.bookings
        raise ValueError(f"Salesforce has no stream {stream!r} (contacts, bookings)")

    def soql(self, stream: str, cursor: str | None, *, now: datetime, full: bool) -> str | None:
        """The incremental query of a stream, or None when the stream is switched off."""
        mapping = self.mapping(stream)
        if mapping is None:
            return None
        run_start = now.astimezone(UTC).replace(microsecond=0)
        conditions = [f"SystemModstamp < {soql_datetime(run_start)}"]
        if cursor and not full:
            bookmark = datetime.fromisoformat(cursor)
            if bookmark.tzinfo is None:
                bookmark = bookmark.replace(tzinfo=UTC)
            since = bookmark - timedelta(seconds=self.settings.lookback_seconds)
            conditions.insert(0, f"SystemModstamp >= {soql_datetime(since)}")
        # Field and object names were checked to be API names when the settings were read.
        clauses = ["SELECT", ", ".join(mapping.soql_fields()), "FROM", mapping.sobject]
        clauses += ["WHERE", " AND ".join(conditions), "ORDER BY SystemModstamp, Id"]
        return " ".join(clauses)

    def pull(
        self, stream: str, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Page]:
        """Pages of changed (and deleted) records; the last page's cursor is the run start."""
        query = self.soql(stream, cursor, now=now, full=full)
        if query is None:
            return
        run_start = now.astimezone(UTC).replace(microsecond=0)
        for batch in self.client.query_pages(query, include_deleted=True):
            page = Page(records=[], cursor=None)
            rows = batch.get("records", [])
            for row in rows:
                try:
                    record = self.normalize(stream, row)
                except SkippableRecord as exc:
                    log.warning("skipped Salesforce %s %s: %s", stream, row.get("Id"), exc)
                    page.skipped += 1
                    continue
                if record is not None:
                    page.records.append(record)
            if batch.get("done", True):
                page.cursor = run_start.isoformat()
            elif rows:
                page.cursor = parse_sf_datetime(
                    rows[-1].get("SystemModstamp"), field="SystemModstamp"
                ).isoformat()
            yield page

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> None:
        """Salesforce connections take no webhooks: changes are pulled."""
        raise InvalidSignature("Salesforce connections take no webhooks; changes are pulled")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        raise MalformedWebhook("Salesforce connections take no webhooks")

    def normalize(self, topic: str, payload: dict[str, Any]) -> Record | None:
        """A contact row → CustomerRecord; a booking row → BookingRecord (topic = stream)."""
        if topic == CONTACTS:
            return self._customer(payload)
        if topic == BOOKINGS and self.settings.bookings is not None:
            return self._booking(payload, self.settings.bookings)
        return None

    def _customer(self, row: dict[str, Any]) -> CustomerRecord:
        fields = self.settings.contacts.fields
        deleted = bool(row.get("IsDeleted"))
        # A deleted contact's keys are forgotten: it no longer resolves to anyone.
        contact = Contact() if deleted else _contact(row, fields)
        return CustomerRecord(
            external_id=_id(row),
            updated_at=parse_sf_datetime(row.get("SystemModstamp"), field="SystemModstamp"),
            contact=contact,
            deleted=deleted,
        )

    def _booking(self, row: dict[str, Any], mapping: ObjectMapping) -> BookingRecord:
        fields = mapping.fields
        start = parse_sf_datetime(row.get(fields["start"]), field=fields["start"])
        end_value = row.get(fields["end"]) if "end" in fields else None
        return BookingRecord(
            external_id=_id(row),
            status=_status(row, mapping),
            start_at=start,
            end_at=parse_sf_datetime(end_value, field=fields["end"]) if end_value else None,
            updated_at=parse_sf_datetime(row.get("SystemModstamp"), field="SystemModstamp"),
            contact=_contact(row, fields),
            customer_external_id=_text(row.get(fields["contact_id"]))
            if "contact_id" in fields
            else None,
            service=_text(row.get(fields["service"])) if "service" in fields else None,
            staff=_text(row.get(fields["staff"])) if "staff" in fields else None,
            location=_text(row.get(fields["location"])) if "location" in fields else None,
            timezone=self.settings.timezone,
            deleted=bool(row.get("IsDeleted")),
        )


def _id(row: dict[str, Any]) -> str:
    record_id = row.get("Id")
    if not record_id:
        raise SkippableRecord("row without Id")
    return str(record_id)


def _contact(row: dict[str, Any], fields: dict[str, str]) -> Contact:
    def value(key: str) -> str | None:
        return _text(row.get(fields[key])) if key in fields else None

    return Contact(
        email=value("email"),
        phone=value("phone"),
        member_number=value("member_number"),
        line_user_id=value("line_user_id"),
    )


def _status(row: dict[str, Any], mapping: ObjectMapping) -> BookingStatus:
    """The mapped status field through ``status_map`` (Event has none: confirmed)."""
    if "status" not in mapping.fields:
        return BookingStatus.CONFIRMED
    raw = _text(row.get(mapping.fields["status"]))
    if raw is None:
        return BookingStatus.CONFIRMED
    mapped = mapping.status_map.get(raw, raw.lower())
    try:
        return BookingStatus(mapped)
    except ValueError:
        raise SkippableRecord(
            f"status {raw!r} is not mapped: add it to the booking status_map option"
        ) from None


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)
