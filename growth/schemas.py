"""The bodies of follow routes: what a shop declares (name, window, actions) and what it reads
back (the short URL, the QR code, the report)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

RouteName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
# Route codes never look like a tracked link's (hex only): both share ``/r/{code}``.
RouteCode = Annotated[str, Field(pattern=r"^[0-9a-z]{6,32}$")]
IdToken = Annotated[str, Field(min_length=20, max_length=4096)]
Destination = Annotated[
    str,
    Field(
        max_length=2000,
        pattern=r"^https?://[^\s]+$",
        description="A web page to send visitors to instead of the add-friend screen.",
    ),
]


class ActionKind(enum.StrEnum):
    TAG = "tag"
    FIELD = "field"
    SEQUENCE = "sequence"
    MESSAGE = "message"
    RICH_MENU = "rich_menu"


class ActionWhen(enum.StrEnum):
    # Every time the route brings the friend (each attributed follow, each returning visit).
    EVERY = "every"
    # Only the first time this route brings this friend.
    FIRST = "first"


class RouteAction(BaseModel):
    """What to do when the route brings a friend. ``tag``: the tag's name; ``field``: the field
    key and ``value``; ``sequence``: the sequence's name; ``message``: the text;
    ``rich_menu``: nothing (the friend is shown their menu now, by the channel's rules)."""

    model_config = ConfigDict(extra="forbid")

    kind: ActionKind
    target: str = Field("", max_length=5000, description="Tag, field key, sequence, or text.")
    value: str | None = Field(None, max_length=1000, description="The field's value.")
    when: ActionWhen = ActionWhen.EVERY

    @model_validator(mode="after")
    def _complete(self) -> RouteAction:
        if self.kind != ActionKind.RICH_MENU and not self.target.strip():
            raise ValueError(f"a `{self.kind}` action needs its `target`")
        if self.kind == ActionKind.FIELD and self.value is None:
            raise ValueError("a `field` action needs the `value` to set")
        if self.kind != ActionKind.MESSAGE and len(self.target) > 100:
            raise ValueError(f"a `{self.kind}` action's target is at most 100 characters")
        return self


class RouteIn(BaseModel):
    """A route as declared: its name, the LINE account it brings friends to, the window a follow
    is attributed within, and its actions."""

    model_config = ConfigDict(extra="forbid")

    name: RouteName
    channel: str | None = Field(
        None,
        pattern=r"^[0-9]{1,32}$",
        description="LINE channel id; the shop's only channel when omitted.",
    )
    window_hours: int = Field(24, ge=1, le=24 * 30)
    destination_url: Destination | None = None
    actions: list[RouteAction] = Field(default_factory=list, max_length=20)


class RouteOut(BaseModel):
    id: int
    name: str
    code: str
    channel: str
    window_hours: int
    destination_url: str | None
    actions: list[RouteAction]
    url: str = Field(description="The short URL to print or link: opens the follow flow.")
    qr_png: str = Field(description="The QR code of `url`, PNG (`?scale=` for poster sizes).")
    qr_svg: str = Field(description="The QR code of `url`, SVG (sharp at any size).")
    created_at: datetime
    archived_at: datetime | None = Field(
        None, description="Set once archived: out of the lists, `url` answers that it ended."
    )


class RouteList(BaseModel):
    items: list[RouteOut]


class VisitIn(BaseModel):
    """The route page's call once LINE identified the visitor (a LIFF ID token)."""

    model_config = ConfigDict(extra="forbid")

    code: RouteCode
    id_token: IdToken


class VisitOut(BaseModel):
    next_url: str = Field(
        description="The route's destination, or LINE's add-friend screen for its account."
    )
    friend: bool = Field(description="The visitor already follows the account.")


class RouteVisitor(BaseModel):
    friend_id: int
    display_name: str | None
    visits: int
    last_visit_at: datetime


class RouteVisitors(BaseModel):
    items: list[RouteVisitor]
    next_after: int | None = Field(description="Pass as `after` for the next page; null: done.")


class RouteTotals(BaseModel):
    visits: int
    visitors: int
    new_friends: int
    returning_friends: int
    blocked_within_7_days: int
    blocked_within_30_days: int
    linked: int = Field(description="Friends the route brought who are linked to a member.")
    purchases: int = Field(description="Their purchases after joining (not cancelled, not test).")
    revenue: dict[str, Decimal] = Field(description="Net of refunds, per currency.")


class RouteDay(BaseModel):
    day: date
    visits: int
    new_friends: int
    returning_friends: int


class RouteReport(BaseModel):
    route: RouteOut
    totals: RouteTotals
    days: list[RouteDay]
