"""Inbox marks and canned replies declared in a ``tsunagu apply`` file, applied before the
auto-replies (a rule may set a mark by name)::

    marks:
      - name: 要確認
        colour: red
    canned_replies:
      - name: hours          # typed as /hours in a reply
        title: 営業時間
        body: "{name}様、営業時間は10時から19時です。"
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from inbox import library
from inbox.schemas import CannedBody, CannedIn, CannedTitle, MarkIn
from messaging.compose.schemas import NamedSpec
from messaging.compose.templates import InvalidTemplate
from messaging.declarations import Kind


class MarkSpec(NamedSpec):
    """A mark staff put on conversations, by name, with its colour."""

    name: str = Field(min_length=1, max_length=50)
    colour: str = Field("gray", pattern=r"^(gray|red|orange|yellow|green|blue|purple|pink)$")


class CannedSpec(NamedSpec):
    """A canned reply: ``name`` is the code typed as ``/name`` in a reply."""

    name: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", description="Typed as /name in a reply.")
    title: CannedTitle
    body: CannedBody


def _mark_names(session: Session, shop_id: int) -> list[str]:
    return [mark.name for mark in library.marks(session, shop_id)]


def _current_mark(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    mark = next((m for m in library.marks(session, shop_id) if m.name == name), None)
    return (
        None
        if mark is None
        else MarkSpec(name=mark.name, colour=mark.colour).model_dump(exclude_defaults=True)
    )


def _save_mark(session: Session, shop_id: int, spec: MarkSpec, actor: str) -> object:
    body = MarkIn(name=spec.name, colour=spec.colour)
    return library.save_mark(session, shop_id=shop_id, body=body, actor=actor)


def _canned_names(session: Session, shop_id: int) -> list[str]:
    return [canned.code for canned in library.canned_replies(session, shop_id)]


def _current_canned(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    canned = next((c for c in library.canned_replies(session, shop_id) if c.code == name), None)
    if canned is None:
        return None
    return CannedSpec(name=canned.code, title=canned.title, body=canned.body).model_dump(
        exclude_defaults=True
    )


def _save_canned(session: Session, shop_id: int, spec: CannedSpec, actor: str) -> object:
    """Save the canned reply; a body it cannot have stops the file, naming the reply."""
    body = CannedIn(code=spec.name, title=spec.title, body=spec.body)
    try:
        return library.save_canned(session, shop_id=shop_id, body=body, actor=actor)
    except InvalidTemplate as exc:
        raise InvalidTemplate(f"canned_replies {spec.name!r}: {exc.detail}") from exc


# What a declaration file holds of the inbox, applied before the auto-replies.
INBOX_KINDS: list[Kind] = [
    Kind("marks", MarkSpec, _mark_names, _current_mark, _save_mark),
    Kind("canned_replies", CannedSpec, _canned_names, _current_canned, _save_canned),
]
