"""A segment as declared: its rule tree."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    model_validator,
)

from messaging.compose.schemas import Name, NamedSpec, _Strict

AttributeKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


Scalar = bool | int | float | str


class FriendStatusRule(_Strict):
    friend_status: Literal["followed", "blocked", "erased"]


class LinkedRule(_Strict):
    """Linked to a member (true) or not (false)."""

    linked: bool


class TagRule(_Strict):
    tag: Name


class TagAbsentRule(_Strict):
    tag_absent: Name


class FollowRouteRule(_Strict):
    follow_route: Annotated[str, Field(min_length=1, max_length=64)]


class AttributeRule(_Strict):
    """A member attribute (``Member.attributes``) of the linked member; ``ne`` includes absent."""

    attribute: AttributeKey
    op: Literal["eq", "ne", "in", "gte", "lte", "exists"] = "eq"
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value_of_op(self) -> AttributeRule:
        value = self.value
        if self.op == "exists":
            if value is not None:
                raise ValueError("`exists` takes no `value`")
        elif self.op == "in":
            if not isinstance(value, list) or not value:
                raise ValueError("`in` needs a non-empty list `value`")
        elif value is None or isinstance(value, list):
            raise ValueError(f"`{self.op}` needs one `value` (a string, number or boolean)")
        elif self.op in ("gte", "lte") and isinstance(value, bool):
            raise ValueError(f"`{self.op}` compares numbers or strings, not booleans")
        return self


class FieldRule(_Strict):
    """A custom field of the friend (友だち情報欄); which ``op`` applies depends on its type,
    checked against the shop's fields when the segment is saved. ``ne`` includes friends
    without a value."""

    field: AttributeKey
    op: Literal["eq", "ne", "in", "gte", "lte", "contains", "exists"] = "eq"
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value_of_op(self) -> FieldRule:
        if self.op == "exists" and self.value is not None:
            raise ValueError("`exists` takes no `value`")
        if self.op == "in" and (not isinstance(self.value, list) or not self.value):
            raise ValueError("`in` needs a non-empty list `value`")
        if self.op not in ("exists", "in") and (self.value is None or isinstance(self.value, list)):
            raise ValueError(f"`{self.op}` needs one `value`")
        return self


class PurchaseConditions(_Strict):
    """Aggregates over the linked member's purchases (cancelled and test orders excluded).

    With ``product_ids`` or ``skus``, only orders holding one of them count. No condition:
    at least one purchase.
    """

    count_gte: int | None = Field(None, ge=1)
    total_gte: Decimal | None = Field(None, ge=0, description="Net of refunds, all orders.")
    last_within_days: int | None = Field(None, ge=1, le=3650)
    last_before_days: int | None = Field(
        None, ge=1, le=3650, description="The last order is older than this (lapsed)."
    )
    product_ids: list[str] = Field(default_factory=list)
    skus: list[str] = Field(default_factory=list)


class PurchasesRule(_Strict):
    purchases: PurchaseConditions


class BookingConditions(_Strict):
    """A booking of the linked member (not cancelled or superseded) matching every condition."""

    upcoming: bool = Field(False, description="Starts from now on.")
    within_days: int | None = Field(None, ge=1, le=365, description="Starts in the next N days.")
    past_within_days: int | None = Field(
        None, ge=1, le=3650, description="Started in the last N days (a recent visit)."
    )
    service: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _one_direction(self) -> BookingConditions:
        if self.past_within_days and (self.upcoming or self.within_days):
            raise ValueError("`past_within_days` looks back; it cannot go with upcoming bookings")
        return self


class BookingsRule(_Strict):
    bookings: BookingConditions


class AllRule(_Strict):
    all: list[Rule] = Field(min_length=1, max_length=50)


class AnyRule(_Strict):
    any: list[Rule] = Field(min_length=1, max_length=50)


class NotRule(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    not_: Rule = Field(alias="not")


# The key that names each kind of rule (an attribute rule is named by ``attribute``).
RULE_KINDS: dict[str, type[_Strict]] = {
    "all": AllRule,
    "any": AnyRule,
    "not": NotRule,
    "friend_status": FriendStatusRule,
    "linked": LinkedRule,
    "tag": TagRule,
    "tag_absent": TagAbsentRule,
    "attribute": AttributeRule,
    "field": FieldRule,
    "purchases": PurchasesRule,
    "bookings": BookingsRule,
    "follow_route": FollowRouteRule,
}


def _rule_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((kind for kind in RULE_KINDS if kind in value), None)
    return next((k for k, model in RULE_KINDS.items() if isinstance(value, model)), None)


Rule = Annotated[
    Annotated[AllRule, Tag("all")]
    | Annotated[AnyRule, Tag("any")]
    | Annotated[NotRule, Tag("not")]
    | Annotated[FriendStatusRule, Tag("friend_status")]
    | Annotated[LinkedRule, Tag("linked")]
    | Annotated[TagRule, Tag("tag")]
    | Annotated[TagAbsentRule, Tag("tag_absent")]
    | Annotated[AttributeRule, Tag("attribute")]
    | Annotated[FieldRule, Tag("field")]
    | Annotated[PurchasesRule, Tag("purchases")]
    | Annotated[BookingsRule, Tag("bookings")]
    | Annotated[FollowRouteRule, Tag("follow_route")],
    Discriminator(
        _rule_kind,
        custom_error_type="unknown_rule",
        custom_error_message="a rule is an object with one of the keys: " + ", ".join(RULE_KINDS),
    ),
]
AllRule.model_rebuild()
AnyRule.model_rebuild()
NotRule.model_rebuild()


RULES: TypeAdapter[Rule] = TypeAdapter(Rule)


class SegmentSpec(NamedSpec):
    """A segment as declared: a name and its rule tree."""

    rules: Rule

    def rules_json(self) -> dict[str, Any]:
        """The rule tree as stored (JSON, defaults left out)."""
        return RULES.dump_python(self.rules, mode="json", by_alias=True, exclude_defaults=True)
