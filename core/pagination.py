"""Keyset pagination on the primary key, newest first: stable while rows are being added.

The admin API and the console page through lists with the same cursors.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.errors import BadRequest
from core.ids import MAX_BIG_ROW_ID, MAX_ROW_ID

T = TypeVar("T")


class InvalidCursor(BadRequest):
    """A cursor this API did not hand out: restart from the first page (omit ``cursor``)."""


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, max_id: int = MAX_BIG_ROW_ID) -> int:
    """The id a cursor points after; anything else (or an id past ``max_id``) is refused."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = raw.split(":", 1)
        if prefix != "id" or not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise ValueError(raw)
        if int(value) > max_id:
            raise ValueError(raw)
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidCursor(
            "cursor is not one this API returned: omit it to start from the first page"
        ) from exc


def fetch_page(
    session: Session,
    query: Select[T],
    id_column: InstrumentedAttribute[Any],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """One page of ``query`` ordered by ``id_column`` descending, and the next page's cursor."""
    if cursor is not None:
        max_id = MAX_BIG_ROW_ID if isinstance(id_column.type, BigInteger) else MAX_ROW_ID
        query = query.where(id_column < decode_cursor(cursor, max_id=max_id))
    rows = list(session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(getattr(rows[-1], id_column.key))
