"""Request and response bodies of the shop's tags: create, change, list, and bulk tagging."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, BeforeValidator, Field

from core.ids import RowId

# A small fixed palette: each has a chip style in the console (light background, dark text).
TagColour = Literal["gray", "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink"]
TAG_COLOURS: tuple[str, ...] = get_args(TagColour)
# No control characters: a name ends up in CSV reports, logs and terminal tables.
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _stripped_or_none(value: object) -> object:
    """An empty folder (a form's blank field) is no folder."""
    value = _stripped(value)
    return None if value == "" else value


TagName = Annotated[
    str, BeforeValidator(_stripped), Field(min_length=1, max_length=100, pattern=_PRINTABLE)
]
FolderName = Annotated[
    Annotated[str, Field(max_length=100, pattern=_PRINTABLE)] | None,
    BeforeValidator(_stripped_or_none),
    Field(description="The folder; none: no folder."),
]


class TagCreate(BaseModel):
    """A new tag of the shop."""

    name: TagName
    colour: TagColour = "gray"
    folder: FolderName = None


class TagUpdate(BaseModel):
    """What to change of a tag: only the fields given (``folder: null`` takes it out)."""

    name: TagName | None = None
    colour: TagColour | None = None
    folder: FolderName = None


class TagOut(BaseModel):
    id: int
    name: str
    colour: TagColour
    folder: str | None
    friends: int = Field(description="How many friends carry the tag.")
    created_at: datetime


class TagList(BaseModel):
    """All of the shop's tags, by folder then name (not paged: a shop has tens, not thousands)."""

    items: list[TagOut]


class TagDeleted(BaseModel):
    name: str
    friends_untagged: int = Field(description="How many friends carried the tag.")


class BulkTagIn(BaseModel):
    """Friends to tag or untag at once, by id (at most 10,000 per request)."""

    friend_ids: list[RowId] = Field(min_length=1, max_length=10_000)


class BulkTagOut(BaseModel):
    changed: int = Field(description="Friends tagged (or untagged) by this request.")
    unchanged: int = Field(description="Friends who already had (or did not have) the tag.")
    not_found: list[int] = Field(description="Ids of no friend of this shop.")
