"""SQL helpers for large id sets: one array parameter on PostgreSQL instead of thousands."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Text, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def any_of(session: Session, column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """``column IN ids``, on PostgreSQL as a semi-join with ``unnest(:array)``.

    One parameter whatever the size; the planner joins on the index (``= ANY(:array)`` would
    be tested row by row against the whole array).
    """
    values = list(ids)
    if is_postgres(session):
        return _in_array(column, int_array(values), BigInteger)
    return column.in_(values)


def any_text_of(session: Session, column: Any, keys: Iterable[str]) -> ColumnElement[bool]:
    """``column IN keys`` for text keys (batch ids, content hashes), as :func:`any_of` does."""
    values = list(keys)
    if is_postgres(session):
        return _in_array(column, text_array(values), Text)
    return column.in_(values)


def _in_array(column: Any, literal: str, element: type[BigInteger] | type[Text]) -> Any:
    array = cast(bindparam(None, literal, type_=Text), ARRAY(element))
    return column.in_(select(func.unnest(array)).scalar_subquery())


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers, parsed by the server (not quoted per element)."""
    return "{" + ",".join(map(str, values)) + "}"


def text_array(values: Iterable[str | None]) -> str:
    """A PostgreSQL array literal of texts (None as NULL), each element quoted and escaped.

    Keys, hashes and states rarely need escaping: then the literal is one ``join``.
    """
    items = list(values)
    plain = [v for v in items if v is not None]
    if len(plain) == len(items):
        raw = "\x00".join(plain)
        if '"' not in raw and "\\" not in raw:
            return '{"' + '","'.join(plain) + '"}' if plain else "{}"
    return "{" + ",".join("NULL" if v is None else _quoted(v) for v in items) + "}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def plus_days(session: Session, column: Any, days: int) -> ColumnElement[Any]:
    """``column + days`` in SQL, for time windows compared in the database on either backend."""
    if is_postgres(session):
        return column + func.make_interval(0, 0, 0, days)
    # SQLite keeps datetimes as ISO text ("YYYY-MM-DD HH:MM:SS.ffffff"), which compares in order.
    return func.datetime(column, f"+{int(days)} days")
