"""What claimed batches send: each content's messages and aggregation unit, read from
``delivery_contents``. Contents never change, so the shared ones (a campaign's, a multicast's)
are kept per process; personalised ones (one per push) are read once per claim."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.outbox.models import DeliveryContent
from messaging.outbox.sql import any_text_of

# A content's messages and its custom aggregation unit.
Content = tuple[list[dict[str, Any]], str | None]
_contents: dict[str, Content] = {}
_contents_lock = threading.Lock()


def payloads_of(session: Session, hashes: set[str]) -> dict[str, Content]:
    """The contents' messages and aggregation unit; contents never change, so shared ones are
    read once per process.

    Personalised contents (one per push) are read in one query per claim and not kept.
    """
    with _contents_lock:
        found = {h: _contents[h] for h in hashes if h in _contents}
    missing = hashes.difference(found)
    if missing:
        rows: dict[str, Content] = {
            digest: (payload, unit)
            for digest, payload, unit in session.execute(
                select(
                    DeliveryContent.content_hash,
                    DeliveryContent.payload,
                    DeliveryContent.aggregation_unit,
                ).where(any_text_of(session, DeliveryContent.content_hash, missing))
            )
        }
        found.update(rows)
        if len(rows) <= _SHARED_CONTENTS_PER_CLAIM:
            with _contents_lock:
                if len(_contents) > 10_000:
                    _contents.clear()
                _contents.update(rows)
    return found


# A claim with a few contents is a campaign or a multicast; with many, personalised pushes.
_SHARED_CONTENTS_PER_CLAIM = 16
