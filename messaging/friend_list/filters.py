"""What a friends list is filtered and sorted by: the admin API's query and the console's form."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator

from crm.field_schemas import FieldType
from crm.models import FieldDefinition
from idlink.models import FriendStatus
from messaging.compose.schemas import Name
from messaging.segments.field_rules import OPERATORS

# A custom field filter: "rank:eq:gold", "visits:gte:3", "allergy:exists".
_FIELD_FILTER = r"^[A-Za-z0-9_-]{1,64}:(?:exists|(?:eq|ne|gte|lte|contains):[^\x00-\x1f]{1,200})$"
# Purchase totals are stored with four decimals: "at most X" is "not at least X + this".
_TOTAL_STEP = Decimal("0.0001")


class FriendSort(enum.StrEnum):
    NEWEST = "newest"
    LAST_MESSAGE = "last_message"
    FOLLOWED_AT = "followed_at"
    PURCHASE_TOTAL = "purchase_total"
    DISPLAY_NAME = "display_name"


class FriendFilters(BaseModel):
    """Every filter given must hold. Tags: ``tags_any`` (at least one), ``tags_all`` (each),
    ``tags_none`` (none of them); ``tag`` is one tag the friend must have."""

    q: str | None = Field(
        None,
        max_length=200,
        description="Part of the LINE display name; or a member number, email or phone "
        "(exact); or words of the member's name.",
    )
    status: FriendStatus | None = Field(None, description="`followed`, `blocked` or `erased`.")
    linked: bool | None = Field(None, description="Only friends linked (or not) to a member.")
    follow_route: str | None = Field(
        None,
        max_length=64,
        description="Only friends who followed through this route (流入経路), e.g. `qr_store`.",
    )
    tag: Name | None = Field(None, description="Only friends with this tag.")
    tags_any: list[Name] = Field(default_factory=list, max_length=50)
    tags_all: list[Name] = Field(default_factory=list, max_length=50)
    tags_none: list[Name] = Field(default_factory=list, max_length=50)
    owner: str | None = Field(
        None, max_length=254, description="The owner's (担当者) email, or `none` for nobody's."
    )
    messaged_within_days: int | None = Field(
        None, ge=1, le=3650, description="Sent the shop a message in the last N days."
    )
    never_messaged: bool | None = Field(None, description="Never sent the shop a message.")
    purchases_min: int | None = Field(None, ge=0, le=1_000_000)
    purchases_max: int | None = Field(None, ge=0, le=1_000_000)
    total_min: Decimal | None = Field(None, ge=0, le=Decimal("1e12"), decimal_places=4)
    total_max: Decimal | None = Field(None, ge=0, le=Decimal("1e12"), decimal_places=4)
    booking_upcoming: bool | None = Field(None, description="Has (or not) a booking to come.")
    field: list[Annotated[str, Field(pattern=_FIELD_FILTER, max_length=300)]] = Field(
        default_factory=list,
        max_length=20,
        description="Custom fields (友だち情報欄), each `KEY:OP:VALUE` (OP `eq`, `ne`, `gte`, "
        "`lte`, `contains`) or `KEY:exists`; e.g. `rank:eq:gold`, `visits:gte:3`.",
    )
    channel_id: str | None = Field(None, description="Only friends of this LINE channel.")
    line_user_id: str | None = Field(None, description="The friend with this LINE user ID.")
    sort: FriendSort = Field(FriendSort.NEWEST, description="The order of the list.")

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        """An empty field of a submitted form filters nothing."""
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, list):
            # Only blank strings go; anything else is left for validation to refuse (422).
            stripped = (v.strip() if isinstance(v, str) else v for v in value)
            return [v for v in stripped if v != ""]
        return value

    @field_validator("tags_any", "tags_all", "tags_none", mode="after")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def segment_rules(self) -> list[dict[str, Any]]:
        """The filters a segment rule expresses (status, link, follow route, tags, purchases,
        bookings), as segment rules: the list applies them, and "save as a segment" stores them."""
        rules: list[dict[str, Any]] = []
        if self.status is not None:
            rules.append({"friend_status": self.status.value})
        if self.linked is not None:
            rules.append({"linked": self.linked})
        if self.follow_route is not None:
            rules.append({"follow_route": self.follow_route})
        for name in dict.fromkeys([*([self.tag] if self.tag else []), *self.tags_all]):
            rules.append({"tag": name})
        if self.tags_any:
            rules.append({"any": [{"tag": name} for name in self.tags_any]})
        rules.extend({"tag_absent": name} for name in self.tags_none)
        at_least: dict[str, Any] = {}
        if self.purchases_min:
            at_least["count_gte"] = self.purchases_min
        if self.total_min:
            at_least["total_gte"] = str(self.total_min)
        if at_least:
            rules.append({"purchases": at_least})
        if self.purchases_max is not None:
            rules.append({"not": {"purchases": {"count_gte": self.purchases_max + 1}}})
        if self.total_max is not None:
            over = str(self.total_max + _TOTAL_STEP)
            rules.append({"not": {"purchases": {"total_gte": over}}})
        for spec in self.field:
            key, op, *value = spec.split(":", 2)
            rules.append({"field": key, "op": op, "value": value[0] if value else None})
        if self.booking_upcoming is not None:
            upcoming = {"bookings": {"upcoming": True}}
            rules.append(upcoming if self.booking_upcoming else {"not": upcoming})
        return rules

    def beyond_segments(self) -> list[str]:
        """The filters given that a segment cannot hold (a search, an owner, messages…)."""
        names = ("q", "owner", "messaged_within_days", "never_messaged", "line_user_id")
        return [name for name in names if getattr(self, name) is not None]


class FormFilters(FriendFilters):
    """The console form's filters: one custom field condition chosen as ``field_condition``
    (``KEY:OP``, from the shop's fields and the operators their types take) and
    ``field_value``; they join ``field`` as ``KEY:OP:VALUE``, and are not stored apart."""

    field_condition: str | None = Field(None, max_length=80, exclude=True)
    field_value: str | None = Field(None, max_length=200, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _join_field_condition(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        condition = str(data.get("field_condition") or "").strip()
        value = str(data.get("field_value") or "").strip()
        if condition.endswith(":exists"):
            spec = condition
        elif condition and value:
            spec = f"{condition}:{value}"
        else:
            return data  # a condition without its value filters nothing yet
        given = data.get("field") or []
        return {**data, "field": [*([given] if isinstance(given, str) else given), spec]}


def field_conditions(definitions: Iterable[FieldDefinition]) -> list[tuple[str, list[str]]]:
    """Each field's label and its ``KEY:OP`` conditions, the operators its type takes (one
    value each: ``in`` is for segments)."""
    return [
        (
            definition.label,
            [
                f"{definition.key}:{op}"
                for op in OPERATORS[FieldType(definition.type)]
                if op != "in"
            ],
        )
        for definition in definitions
    ]
