"""A keyed blind index of members' names, emails and phones, so staff can search for a member
while that personal data stays encrypted at rest.

A name is normalised (NFKC, katakana folded to hiragana, lower case) and cut into tokens:
Latin words whole, Japanese text as overlapping pairs of characters (bigrams, spaces removed:
"佐藤 花子" gives 佐藤, 藤花, 花子), so "花子" or "さとう" finds a member without a dictionary.
Each token is stored only as an HMAC (the key derived from ``TSUNAGU_SECRET_KEY``) salted with
the shop, in ``member_search_tokens``. Emails and phones are found through the members' own
blind indexes (exact, normalised). The rows are rewritten on every flush that changes a
member's name (mapper events), so no write path can forget them; ``reindex`` backfills.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Connection,
    ForeignKey,
    Index,
    Select,
    String,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Mapper, Session, mapped_column

from core import crypto
from core.db import Base
from idlink.members import InvalidMemberData, normalize_email, normalize_phone
from idlink.models import Member

# A query with more tokens than this is cut: a name of 30 characters is already very specific.
MAX_QUERY_TOKENS = 16
_TOKEN_HEX = 32
_KATAKANA = range(0x30A1, 0x30F7)


class MemberSearchToken(Base):
    """One keyed hash of a token of a member's name; no plaintext is stored."""

    __tablename__ = "member_search_tokens"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(String(_TOKEN_HEX), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))

    __table_args__ = (Index("ix_member_search_tokens_shop_token", "shop_id", "token"),)


def normalise(text: str) -> str:
    """NFKC, katakana as hiragana, lower case: ｻﾄｳ, サトウ and さとう become one."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(chr(ord(c) - 0x60) if ord(c) in _KATAKANA else c for c in folded)


def _is_japanese(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK", "HIRAGANA", "KATAKANA")) or char == "ー"


def tokens(text: str) -> set[str]:
    """The tokens of a name or a query: Latin words whole, Japanese runs as bigrams."""
    words: list[str] = []
    japanese = ""
    for word in normalise(text).split():
        latin = ""
        for char in word:
            if _is_japanese(char):
                japanese += char
                if latin:
                    words.append(latin)
                    latin = ""
            elif char.isalnum():
                latin += char
            elif latin:
                words.append(latin)
                latin = ""
        if latin:
            words.append(latin)
    found = set(words)
    if len(japanese) == 1:
        found.add(japanese)
    found.update(japanese[i : i + 2] for i in range(len(japanese) - 1))
    return found


def hashed_token(shop_id: int, token: str) -> str:
    """A token as the index stores it: keyed, salted with the shop, truncated to 128 bits."""
    return crypto.box().blind_index(f"member-name\0{shop_id}\0{token}")[:_TOKEN_HEX]


def _write_tokens(connection: Connection, member_id: int, shop_id: int, name: str | None) -> None:
    table = MemberSearchToken.__table__
    connection.execute(delete(table).where(table.c.member_id == member_id))
    hashes = {hashed_token(shop_id, token) for token in tokens(name or "")}
    if hashes:
        connection.execute(
            insert(table),
            [{"member_id": member_id, "shop_id": shop_id, "token": h} for h in sorted(hashes)],
        )


@event.listens_for(Member, "after_insert")
def _member_inserted(_mapper: Mapper[Any], connection: Connection, member: Member) -> None:
    if member.name:
        _write_tokens(connection, member.id, member.shop_id, member.name)


@event.listens_for(Member, "after_update")
def _member_updated(_mapper: Mapper[Any], connection: Connection, member: Member) -> None:
    if inspect(member).attrs.name.history.has_changes():
        _write_tokens(connection, member.id, member.shop_id, member.name)


@event.listens_for(Member, "before_delete")
def _member_deleted(_mapper: Mapper[Any], connection: Connection, member: Member) -> None:
    table = MemberSearchToken.__table__
    connection.execute(delete(table).where(table.c.member_id == member.id))


def members_named(shop_id: int, text: str) -> Select[int] | None:
    """Ids of the shop's members whose name holds every token of ``text``; None when the text
    has no token (nothing to look for)."""
    wanted = sorted(tokens(text))[:MAX_QUERY_TOKENS]
    if not wanted:
        return None
    hashes = {hashed_token(shop_id, token) for token in wanted}
    return (
        select(MemberSearchToken.member_id)
        .where(MemberSearchToken.shop_id == shop_id, MemberSearchToken.token.in_(hashes))
        .group_by(MemberSearchToken.member_id)
        .having(func.count() == len(hashes))
    )


def members_by_contact(shop_id: int, text: str) -> Select[int] | None:
    """Ids of the shop's members whose email or phone is ``text`` (normalised, exact); None
    when ``text`` is neither an email nor a phone number."""
    box = crypto.box()
    conditions = []
    for column, normalize in (
        (Member.email_index, normalize_email),
        (Member.phone_index, normalize_phone),
    ):
        with contextlib.suppress(InvalidMemberData):
            conditions.append(column == box.blind_index(normalize(text)))
    if not conditions:
        return None
    return select(Member.id).where(Member.shop_id == shop_id, or_(*conditions))


def reindex(session: Session, *, shop_ids: Iterable[int] | None = None, batch: int = 1000) -> int:
    """Rewrite the name tokens of every member (of ``shop_ids``); how many were indexed.

    Run after restoring a backup, or after changing the first key of ``TSUNAGU_SECRET_KEY``.
    """
    done, after = 0, 0
    connection = session.connection()
    while True:
        query = select(Member.id, Member.shop_id, Member.name).where(Member.id > after)
        if shop_ids is not None:
            query = query.where(Member.shop_id.in_(list(shop_ids)))
        rows = session.execute(query.order_by(Member.id).limit(batch)).all()
        for member_id, shop_id, name in rows:
            _write_tokens(connection, member_id, shop_id, name)
        done += len(rows)
        if len(rows) < batch:
            return done
        after = rows[-1][0]
