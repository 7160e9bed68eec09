"""The shape every connector has: declared streams, paged pulls, webhook checks, normalisation.

A new source is one sub-package implementing :class:`Connector`; the sync runner, the webhook
intake and the scheduler work with any of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from connectors.errors import SkippableRecord
from connectors.records import Record


class MalformedWebhook(SkippableRecord):
    """A correctly signed webhook whose body is not what its topic promises."""


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    """What a connector is built from: where the system is, its secrets and options."""

    kind: str
    base_url: str | None
    credentials: dict[str, Any]
    options: dict[str, Any]
    timezone: str = "Asia/Tokyo"
    # Scopes dedup keys a sender chooses itself (reservation event ids) to this connection.
    connection_id: int | None = None


@dataclass(frozen=True, slots=True)
class Stream:
    """One kind of record a connector pulls, with its primary key and cursor field."""

    name: str
    primary_key: str
    cursor_field: str


@dataclass(slots=True)
class Page:
    """Records of one page and the cursor to checkpoint once they are stored."""

    records: list[Record]
    cursor: str | None
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified webhook: its dedup key, topic, and body, ready to store."""

    dedup_key: str
    topic: str
    payload: dict[str, Any]
    occurred_at: datetime | None = None


class Connector(Protocol):
    """What the hub asks of a source system."""

    kind: ClassVar[str]
    streams: ClassVar[tuple[Stream, ...]]

    def pull(
        self, stream: str, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Page]:
        """Yield pages of records changed since ``cursor`` (all of them when ``full``).

        ``cursor`` is what an earlier page returned, or an ISO-8601 timestamp (``--since``).
        ``now`` is the run's start: the cursor a run saves never passes it.
        """
        ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> None:
        """Check the webhook's signature (and freshness) on the raw body, in constant time.

        Raises ``core.errors.InvalidSignature``: the caller stores nothing and answers 401.
        """
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """Split a verified webhook into events with their dedup keys.

        Raises :class:`MalformedWebhook` for a signed body that cannot be used: the caller
        stores it with the error and answers 422, so nothing accepted is silently dropped.
        """
        ...

    def normalize(self, topic: str, payload: dict[str, Any]) -> Record | None:
        """The typed record a stored webhook event carries, or None when it carries none."""
        ...
