"""Request and response bodies of the member card (LIFF) and the staff linking endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from core.ids import RowId
from idlink.models import MemberLink
from idlink.tag_schemas import TagName
from idlink.verification import Proof


class IdTokenIn(BaseModel):
    """A LIFF ID token (``liff.getIDToken()``) for one of the shop's channels."""

    channel_id: str = Field(description="The LINE Messaging API channel ID the LIFF app serves.")
    id_token: str = Field(min_length=1, max_length=8192)
    nonce: str | None = Field(
        None,
        max_length=255,
        description="The nonce from `POST /api/idlink/nonce`, if one was used.",
    )


class LiffLinkIn(IdTokenIn):
    """Link by member number + second factor, or by a one-time link code."""

    member_number: str | None = Field(None, max_length=64)
    second_factor: str | None = Field(
        None,
        max_length=64,
        description="Birth date (YYYY-MM-DD), PIN or last 4 phone digits, as the shop chose.",
    )
    link_code: str | None = Field(None, max_length=64, description="A code from the shop.")

    @model_validator(mode="after")
    def _one_proof(self) -> LiffLinkIn:
        if not self.link_code and not (self.member_number and self.second_factor):
            raise ValueError("give member_number and second_factor, or link_code")
        return self

    def proof(self) -> Proof:
        return Proof(
            member_number=self.member_number,
            second_factor=self.second_factor,
            link_code=self.link_code,
        )


class NonceIn(BaseModel):
    channel_id: str


class NonceOut(BaseModel):
    """A single-use nonce to put in an ID token request; valid for ten minutes."""

    nonce: str
    expires_at: datetime


class LinkStatusOut(BaseModel):
    """Whether the LINE account is linked, and to which member number."""

    linked: bool
    member_number: str | None = None
    linked_at: datetime | None = None


class StaffLinkIn(BaseModel):
    friend_id: RowId
    member_number: str = Field(min_length=1, max_length=64)


class StaffLinkOut(BaseModel):
    """A link between a friend and a member."""

    id: int
    friend_id: int
    member_id: int
    method: str
    active: bool
    linked_at: datetime
    linked_by: str
    unlinked_at: datetime | None
    unlinked_by: str | None
    unlink_reason: str | None

    @classmethod
    def of(cls, link: MemberLink, **extra: Any) -> Self:
        """The body of ``link`` (active while not unlinked), with the ``extra`` fields a
        subclass adds."""
        return cls(
            id=link.id,
            friend_id=link.friend_id,
            member_id=link.member_id,
            method=link.method,
            active=link.unlinked_at is None,
            linked_at=link.linked_at,
            linked_by=link.linked_by,
            unlinked_at=link.unlinked_at,
            unlinked_by=link.unlinked_by,
            unlink_reason=link.unlink_reason,
            **extra,
        )


class LinkCodeOut(BaseModel):
    """A one-time link code: hand it to the member; it is shown only now."""

    code: str = Field(examples=["K7QM-ZP4D-X9RT"])
    member_number: str
    expires_at: datetime


class AccountLinkStartOut(BaseModel):
    """The login page URL pushed to the friend (valid as long as LINE's link token: 10 min)."""

    login_url: str


class ChannelLinkingIn(BaseModel):
    """Fields to change; omitted ones stay, an empty string clears."""

    liff_id: str | None = Field(None, max_length=64, examples=["1657000000-AbCdEfGh"])
    member_rich_menu_id: str | None = Field(None, max_length=64)
    guest_rich_menu_id: str | None = Field(None, max_length=64)


class ChannelLinkingOut(BaseModel):
    channel_id: str
    liff_id: str | None
    liff_url: str | None = Field(description="The member card page to register as the LIFF URL.")
    member_rich_menu_id: str | None
    guest_rich_menu_id: str | None


class FriendProfile(BaseModel):
    display_name: str | None
    picture_url: str | None
    status_message: str | None
    language: str | None
    fetched_at: datetime | None


class ActiveLink(BaseModel):
    """The friend's current link to a member."""

    link_id: int
    member_id: int
    member_number: str
    method: str
    linked_at: datetime


class FriendOut(BaseModel):
    """A LINE user of one of the shop's channels, with their profile, tags and member link."""

    id: int
    channel_id: str = Field(description="The LINE Messaging API channel ID.")
    line_user_id: str
    status: Literal["followed", "blocked", "erased"]
    profile: FriendProfile
    follow_route: str | None
    first_followed_at: datetime | None
    last_followed_at: datetime | None
    blocked_at: datetime | None
    tags: list[str]
    linked: bool
    link: ActiveLink | None
    created_at: datetime


class TagIn(BaseModel):
    """A tag to put on a friend (created in the shop if new)."""

    name: TagName = Field(description="The tag's name.")
