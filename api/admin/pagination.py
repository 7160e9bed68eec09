"""Keyset pagination on the primary key, newest first: stable while rows are being added."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (at most {MAX_LIMIT}).")
]
Cursor = Annotated[
    str | None, Query(description="`next_cursor` of the previous page; omit for the first page.")
]

T = TypeVar("T")


class InvalidCursor(BadRequest):
    """A cursor this API did not hand out: restart from the first page (omit ``cursor``)."""


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor points after; anything else is refused with 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = raw.split(":", 1)
        if prefix != "id" or not value.isdigit():
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
        query = query.where(id_column < decode_cursor(cursor))
    rows = list(session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(getattr(rows[-1], id_column.key))
