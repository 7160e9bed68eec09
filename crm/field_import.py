"""Friends' custom field values from a CSV file: one row per friend, one column per field.

The friend is found by ``line_user_id`` (every friend of the shop with that id, one per
channel) or by ``member_number`` (the friends linked to that member now). Each other column is
a field key; a cell is checked against the field's type, an empty cell leaves the value as it
is, and ``-`` clears it. A row with a problem is reported with its line and skipped whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.csvfile import RowError
from core.errors import BadRequest, HubError
from crm import fields
from idlink.models import Friend, Member, MemberLink

KEYS = ("line_user_id", "member_number")
CLEAR = "-"


class InvalidFieldFile(BadRequest):
    """The file cannot be imported at all: no header, no key column, an unknown field."""


class UnknownFriend(BadRequest):
    """No friend of the shop has the row's LINE user id or member number."""


@dataclass(slots=True)
class FieldImport:
    """What an import did: rows by outcome, and each failed row's reason."""

    counts: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)


def read_header(reader: Iterator[list[str]], known: Iterable[str]) -> tuple[str, list[str]]:
    """The key column and the field columns of the file's first line."""
    first = next(reader, None)
    if first is None:
        raise InvalidFieldFile("the file is empty: its first line must name the columns")
    header = [name.strip().lower() for name in first]
    keys = [name for name in header if name in KEYS]
    if len(keys) != 1:
        raise InvalidFieldFile("the header needs exactly one of line_user_id or member_number")
    unknown = sorted(set(header) - set(known) - set(KEYS))
    if unknown:
        raise InvalidFieldFile(
            f"no such field: {', '.join(unknown)} (fields: {', '.join(sorted(known)) or 'none'})"
        )
    if len(set(header)) != len(header):
        raise InvalidFieldFile("a column is named twice")
    return keys[0], header


def import_rows(
    session: Session, *, shop_id: int, rows: Iterator[list[str]], actor: str
) -> FieldImport:
    """Set the values of every row in ``rows`` (a CSV reader, header first); caller commits."""
    definitions = {d.key: d for d in fields.definitions(session, shop_id)}
    key_column, header = read_header(rows, definitions)
    result = FieldImport()
    line = 1
    for cells in rows:
        line += 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            reason = f"has {len(cells)} cells, the header has {len(header)}"
            _fail(result, RowError(line, "", reason))
            continue
        row = dict(zip(header, (cell.strip() for cell in cells), strict=True))
        key = row.pop(key_column)
        try:
            with session.begin_nested():
                changed = _import_row(session, shop_id, key_column, key, row, actor)
        except HubError as exc:
            _fail(result, RowError(line, key, exc.detail))
            continue
        result.counts["updated" if changed else "unchanged"] += 1
    return result


def _fail(result: FieldImport, error: RowError) -> None:
    result.counts["failed"] += 1
    result.errors.append(error)


def _import_row(
    session: Session, shop_id: int, key_column: str, key: str, row: dict[str, str], actor: str
) -> bool:
    friends = _friends(session, shop_id, key_column, key)
    if not friends:
        raise UnknownFriend(f"no friend with {key_column} {key!r} in this shop")
    changed = False
    for friend in friends:
        before = fields.values_for(session, shop_id, [friend.id]).get(friend.id, {})
        for name, cell in row.items():
            if not cell:
                continue
            value = None if cell == CLEAR else cell
            after = fields.set_value(session, friend=friend, key=name, value=value, actor=actor)
            changed = changed or after != before.get(name)
    return changed


def _friends(session: Session, shop_id: int, key_column: str, key: str) -> list[Friend]:
    if not key:
        return []
    if key_column == "line_user_id":
        query = select(Friend).where(Friend.shop_id == shop_id, Friend.line_user_id == key)
    else:
        query = (
            select(Friend)
            .join(MemberLink, MemberLink.friend_id == Friend.id)
            .join(Member, Member.id == MemberLink.member_id)
            .where(
                Member.shop_id == shop_id,
                Member.member_number == key,
                MemberLink.unlinked_at.is_(None),
                Friend.shop_id == shop_id,
            )
        )
    return list(session.scalars(query.order_by(Friend.id)))
