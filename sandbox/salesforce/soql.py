"""The subset of SOQL the hub sends: ``SELECT f, … FROM Obj [WHERE a op v [AND …]]
[ORDER BY f [ASC|DESC], …] [LIMIT n]`` with datetime, string, number, boolean and null literals."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))"
    r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<string>'(?:[^'\\]|\\.)*')"
    r"|(?P<op><=|>=|!=|=|<|>)|(?P<comma>,)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
_ORDERINGS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "ORDER", "BY", "ASC", "DESC", "LIMIT"}


class SoqlError(ValueError):
    """A query outside the supported subset (answered as MALFORMED_QUERY)."""


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    where: tuple[Condition, ...]
    order_by: tuple[tuple[str, bool], ...]
    limit: int | None


def parse_datetime(text: str) -> datetime:
    """A SOQL/REST datetime (``2026-11-22T06:00:00Z``, ``…000+0000``) as an aware datetime."""
    value = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    return datetime.fromisoformat(value)


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SoqlError(f"unexpected token at: {text[position : position + 20]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.upper() in _KEYWORDS:
            kind, value = "keyword", value.upper()
        found.append((kind, value))
        position = match.end()
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise SoqlError(f"expected {value or kind}, found {token[1] if token else 'end'}")
        self.position += 1
        return token[1]

    def accept(self, kind: str, value: str) -> bool:
        if self.peek() == (kind, value):
            self.position += 1
            return True
        return False

    def query(self) -> Query:
        self.take("keyword", "SELECT")
        fields = [self.take("word")]
        while self.accept("comma", ","):
            fields.append(self.take("word"))
        self.take("keyword", "FROM")
        sobject = self.take("word")
        where: list[Condition] = []
        if self.accept("keyword", "WHERE"):
            where.append(self.condition())
            while self.accept("keyword", "AND"):
                where.append(self.condition())
        order: list[tuple[str, bool]] = []
        if self.accept("keyword", "ORDER"):
            self.take("keyword", "BY")
            order.append(self.ordering())
            while self.accept("comma", ","):
                order.append(self.ordering())
        limit = None
        if self.accept("keyword", "LIMIT"):
            limit = int(self.take("number"))
        extra = self.peek()
        if extra is not None:
            raise SoqlError(f"unexpected {extra[1]!r} after the query")
        return Query(tuple(fields), sobject, tuple(where), tuple(order), limit)

    def condition(self) -> Condition:
        field = self.take("word")
        op = self.take("op")
        token = self.peek()
        if token is None:
            raise SoqlError("a condition needs a value")
        self.position += 1
        kind, text = token
        value: Any
        if kind == "datetime":
            value = parse_datetime(text)
        elif kind == "number":
            value = float(text) if "." in text else int(text)
        elif kind == "string":
            value = text[1:-1].replace("\\'", "'")
        elif kind == "word" and text.lower() in ("true", "false"):
            value = text.lower() == "true"
        elif kind == "word" and text.lower() == "null":
            value = None
        else:
            raise SoqlError(f"unsupported value {text!r}")
        return Condition(field, op, value)

    def ordering(self) -> tuple[str, bool]:
        field = self.take("word")
        if self.accept("keyword", "DESC"):
            return field, True
        self.accept("keyword", "ASC")
        return field, False


def parse(text: str) -> Query:
    """Parse a query of the supported subset; raises :class:`SoqlError` otherwise."""
    return _Parser(text).query()


def matches(record: dict[str, Any], condition: Condition) -> bool:
    """Does ``record`` satisfy ``condition``? (null compares only with = and !=)."""
    left, right = record.get(condition.field), condition.value
    if condition.op == "=":
        return bool(left == right)
    if condition.op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool(_ORDERINGS[condition.op](left, right))
    except TypeError as exc:
        raise SoqlError(f"cannot compare {condition.field} with {right!r}") from exc
