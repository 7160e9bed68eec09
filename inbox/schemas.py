"""What the admin API and the console read and send about conversations."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from inbox.models import ConversationStatus


class View(enum.StrEnum):
    MINE = "mine"
    UNASSIGNED = "unassigned"
    ALL = "all"


class InboxFilters(BaseModel):
    """Which conversations a list shows: a view, a status or mark, and words they contain."""

    view: View = View.ALL
    status: ConversationStatus | None = None
    mark: int | None = Field(None, ge=1)
    q: str | None = Field(None, max_length=100, description="Words in a message, note or name.")
    limit: int = Field(50, ge=1, le=200)


class MarkOut(BaseModel):
    id: int
    name: str
    colour: str


class ConversationOut(BaseModel):
    id: int
    friend_id: int
    friend_name: str | None
    status: ConversationStatus
    mark: MarkOut | None
    assignee: str | None
    version: int
    unread: bool
    waiting_since: datetime | None
    last_message_at: datetime | None
    snoozed_until: datetime | None
    preview: str | None


class Counts(BaseModel):
    """Conversations not resolved, per view; and per status and mark in the chosen view."""

    views: dict[str, int]
    statuses: dict[str, int]
    marks: dict[int, int]


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    counts: Counts


TimelineKind = Literal["message", "event", "delivery", "note", "change"]


class TimelineItem(BaseModel):
    kind: TimelineKind
    id: int
    at: datetime
    direction: Literal["in", "out", "none"] = "none"
    message_type: str | None = None
    text: str | None = None
    # What sent it: staff, api, campaign, sequence, reminder, auto_reply, other.
    source: str | None = None
    author: str | None = None
    state: str | None = None
    # A stored image, video, audio or file: served to signed-in staff at /console/media/{id}.
    media: bool = False
    # An image sent to the friend: where this hub serves its preview (``/m/{token}``).
    image_path: str | None = None


class ConversationDetail(BaseModel):
    conversation: ConversationOut
    timeline: list[TimelineItem]


class StatusIn(BaseModel):
    status: ConversationStatus
    snoozed_until: datetime | None = Field(
        None, description="With `snoozed`: when it becomes new again (else the next message)."
    )


class AssignIn(BaseModel):
    email: str | None = Field(None, max_length=254, description="A staff member, or null.")


class MarkChoiceIn(BaseModel):
    mark_id: int | None = Field(None, ge=1)


class MarkIn(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    colour: str = Field("gray", pattern=r"^(gray|red|orange|yellow|green|blue|purple|pink)$")


# A canned reply's title and body, as the admin API and the ``tsunagu apply`` file take them.
CannedTitle = Annotated[str, Field(min_length=1, max_length=100)]
CannedBody = Annotated[
    str,
    Field(
        min_length=1,
        max_length=5000,
        description="May hold the variables of a message template ({{ display_name }}, "
        "{{ shop_name }}, {{ field.KEY }}, {{ link:URL }} …); {name} and {shop} are short forms "
        "of {{ display_name }} and {{ shop_name }}.",
    ),
]


class CannedIn(BaseModel):
    code: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", description="Typed as /code in a reply.")
    title: CannedTitle
    body: CannedBody


class CannedOut(CannedIn):
    id: int


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=5000, description="@email mentions a staff member.")


class NoteOut(BaseModel):
    id: int
    author: str
    body: str
    created_at: datetime
    mentioned: list[str] = []


class NotificationOut(BaseModel):
    id: int
    conversation_id: int
    note_id: int
    actor: str
    body: str
    created_at: datetime
    read: bool


class StaffFigures(BaseModel):
    """One staff member's figures over the period: replies and resolutions and how fast."""

    actor: str
    first_replies: int
    median_first_reply_seconds: int | None
    resolved: int
    median_resolve_seconds: int | None


class ReadSettingsIn(BaseModel):
    read_manually: bool = Field(
        description="The LINE Official Account marks messages read by API (markAsReadMode "
        "manual): opening a conversation then tells LINE it was read."
    )
