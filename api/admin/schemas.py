"""The admin API's request and response bodies (pydantic v2): what /docs shows a shop's engineer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from core.errors import BadRequest
from idlink.schemas import StaffLinkOut
from messaging.compose.schemas import NamedSpec

T = TypeVar("T")

OpenApiResponses = dict[int | str, dict[str, Any]]
"""A route's documented answers besides its success, as FastAPI's ``responses=`` takes them."""


class ErrorBody(BaseModel):
    """Every error: the error's name and what to do about it."""

    error: str = Field(examples=["MemberNotFound"])
    detail: Any = Field(examples=["no member 42 in this shop: GET /members lists them"])


NAME_MISMATCH: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body names another object than the path"}
}


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Opaque cursor of the next page; null on the last page."
    )


class LinkedFriend(BaseModel):
    """The friend a member is linked to."""

    link_id: int
    friend_id: int
    line_user_id: str
    method: str
    linked_at: datetime


class MemberOut(BaseModel):
    """A member, decrypted for staff; the PIN is never returned, only whether one is set."""

    id: int
    member_number: str
    name: str | None
    email: str | None
    phone: str | None = Field(description="E.164, e.g. +819012345678.")
    birth_date: date | None
    has_pin: bool
    attributes: dict[str, Any]
    linked: bool
    link: LinkedFriend | None
    created_at: datetime
    updated_at: datetime


def _date_as_text(value: Any) -> Any:
    """JSON has no date type: only the ISO text is one (pydantic would read 0 as 1970-01-01)."""
    if isinstance(value, str | date) or value is None:
        return value
    raise ValueError("a date is written as text, YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_date_as_text)]


class MemberCreate(BaseModel):
    """A new member. Email is lower-cased, phone stored as E.164 (Japanese numbers may omit +81)."""

    model_config = ConfigDict(extra="forbid")

    member_number: str = Field(min_length=1, max_length=64, examples=["M-000123"])
    name: str | None = Field(None, max_length=200, examples=["佐藤 花子"])
    email: str | None = Field(None, max_length=254, examples=["hanako@example.jp"])
    phone: str | None = Field(None, max_length=32, examples=["090-1234-5678"])
    birth_date: IsoDate | None = Field(None, examples=["1990-04-01"])
    pin: str | None = Field(
        None, min_length=4, max_length=16, description="Stored hashed; never returned."
    )
    attributes: dict[str, Any] = Field(default_factory=dict, examples=[{"rank": "gold"}])


class MemberUpdate(BaseModel):
    """Fields to change; omitted fields stay, ``null`` clears. ``attributes`` is merged
    (a key set to ``null`` is removed). The member number cannot change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=32)
    birth_date: IsoDate | None = None
    pin: str | None = Field(None, min_length=4, max_length=16)
    attributes: dict[str, Any] | None = None


class LinkOut(StaffLinkOut):
    """A friend ↔ member link, active (``unlinked_at`` null) or ended."""

    line_user_id: str
    member_number: str
    provider_id: str


class EventOut(BaseModel):
    """An inbound webhook event as stored, and how its processing went."""

    id: int
    source: str
    channel_id: str | None = Field(description="The LINE channel ID, for LINE events.")
    dedup_key: str
    event_type: str
    status: Literal["pending", "processed", "failed"]
    attempts: int
    occurred_at: datetime | None
    received_at: datetime
    next_attempt_at: datetime
    processed_at: datetime | None
    last_error: str | None


class EventDetail(EventOut):
    payload: dict[str, Any] = Field(description="The event exactly as the platform sent it.")


class AuditEntryOut(BaseModel):
    """Who did what to which record, and when."""

    id: int
    actor: str
    action: str
    subject_type: str
    subject_id: str
    detail: dict[str, Any]
    created_at: datetime


def require_path_name(name: str, body: NamedSpec) -> None:
    """A declared object is PUT at its own name: refuse a body that names another."""
    if body.name != name:
        raise BadRequest(f"the body names {body.name!r} but the path {name!r}")
