"""Standalone tracked links as staff and scripts declare them, and their reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from idlink.tag_schemas import TagName
from messaging.compose.schemas import NamedSpec

LinkUrl = Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s\"'<>]+$")]


class StandaloneLinkSpec(NamedSpec):
    """A tracked link placed anywhere: ``{{ tracked:NAME }}`` in a template gives each friend
    their own code; ``tag`` is given to a friend on their first click."""

    url: LinkUrl
    tag: TagName | None = None


class StandaloneLinkOut(BaseModel):
    id: int
    name: str
    url: str
    tag: str | None
    placeholder: str = Field(description="What a message template writes to use the link.")
    friends_sent: int = Field(description="Friends who were given their own code.")
    friends_clicked: int = Field(description="Friends who clicked at least once.")
    clicks: int = Field(description="Every click, repeated ones included.")
    updated_at: datetime


class StandaloneLinkList(BaseModel):
    items: list[StandaloneLinkOut]


class FriendClicksOut(BaseModel):
    friend_id: int
    display_name: str | None
    clicks: int
    first_clicked_at: datetime | None
    url: str = Field(description="The friend's own tracked address of the link.")


class PersonalUrlOut(BaseModel):
    url: str
