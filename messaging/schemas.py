"""Campaign, reminder, segment, sequence and rich-menu definitions (pydantic v2): what the admin
API takes and what a declarations file holds."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from messaging.models import CampaignKind, InsideWindow

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NamedSpec(_Strict):
    """A declared object: found, compared and saved by its name (unique in the shop)."""

    name: Name


class Delay(_Strict):
    """When to send after the trigger: a duration, or ``days`` later at a local time ``at``."""

    days: int = Field(0, ge=0, le=365)
    hours: int = Field(0, ge=0, le=23)
    minutes: int = Field(0, ge=0, le=59)
    at: str | None = Field(None, description="Local time HH:MM in the channel's timezone.")

    @field_validator("at")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None:
            time.fromisoformat(value)
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Delay:
        if self.at and (self.hours or self.minutes):
            raise ValueError("give `days` + `at` (a local time), or a duration, not both")
        return self


class PurchaseTrigger(_Strict):
    """A new purchase of a linked friend; every condition given must hold."""

    purchase_number: int | None = Field(
        None, ge=1, description="Only the n-th purchase of the member (1: the first)."
    )
    skus: list[str] = Field(default_factory=list, description="Any of these SKUs bought.")
    product_ids: list[str] = Field(default_factory=list, description="Any of these products.")
    collections: list[str] = Field(
        default_factory=list,
        description="Any product of these collections bought (Shopify collection handles, as "
        "the connection last read them).",
    )
    min_total: Decimal | None = Field(None, ge=0, description="Order total at least this.")
    max_age_hours: int = Field(
        48,
        ge=1,
        description="Orders placed longer ago than this never trigger (a backfill of old "
        "orders sends nothing).",
    )


class LapsedTrigger(_Strict):
    """A linked member with no purchase for ``days`` days; once per lapse."""

    days: int = Field(ge=1, le=3650)


class BirthdayTrigger(_Strict):
    """A linked member's birthday: on the day, or on the first of the month."""

    on: Literal["day", "month"] = "day"


class SegmentTrigger(_Strict):
    """One delivery to a segment, whose audience is frozen when the delivery starts."""

    segment: Name


TRIGGERS: dict[str, type[_Strict]] = {
    CampaignKind.PURCHASE: PurchaseTrigger,
    CampaignKind.LAPSED: LapsedTrigger,
    CampaignKind.BIRTHDAY: BirthdayTrigger,
    CampaignKind.SEGMENT: SegmentTrigger,
}


class Caps(_Strict):
    """Frequency caps for this campaign's messages; a cap left out (or null) is the shop's."""

    per_day: int | None = Field(None, ge=1, description="Left out or null: the shop's daily cap.")
    per_week: int | None = Field(None, ge=1, description="Left out or null: the shop's weekly cap.")


class CampaignSpec(NamedSpec):
    """A campaign as declared: everything needed to create it or to bring it up to date."""

    channel: str = Field(description="The LINE channel id of the account that sends it.")
    kind: CampaignKind
    trigger: dict[str, Any] = Field(default_factory=dict)
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=5)
    delay: Delay = Field(default_factory=Delay)
    scheduled_at: datetime | None = Field(None, description="Segment campaigns: when to start.")
    respect_quiet_hours: bool = True
    caps: Caps | None = None
    coupon_code: str | None = Field(None, max_length=100)
    click_tag: str | None = Field(None, max_length=100)
    aggregation_unit: str | None = Field(None, pattern=r"^[a-zA-Z0-9_]{1,30}$")
    attribution_days: int = Field(7, ge=1, le=90)
    enabled: bool | None = Field(
        None,
        description="true: the campaign runs (a trigger campaign is active, a segment one "
        "scheduled); false: it is paused (or stays a draft). Omitted: its status is left as it "
        "is (the admin API's start, pause and resume set it).",
    )

    @model_validator(mode="after")
    def _trigger_of_kind(self) -> CampaignSpec:
        self.trigger = TRIGGERS[self.kind].model_validate(self.trigger).model_dump(mode="json")
        if self.scheduled_at is not None and self.kind != CampaignKind.SEGMENT:
            raise ValueError("only segment campaigns have a `scheduled_at`")
        if self.scheduled_at is not None and self.scheduled_at.tzinfo is None:
            raise ValueError("`scheduled_at` needs a timezone offset, e.g. 2026-12-01T10:00+09:00")
        if self.scheduled_at is not None:
            self.scheduled_at = self.scheduled_at.astimezone(UTC)
        return self


class ReminderRuleSpec(NamedSpec):
    """A visit reminder rule as declared: ``offset_minutes`` before each booking's start."""

    channel: str = Field(description="The LINE channel id of the account that sends it.")
    offset_minutes: int = Field(ge=1, le=60 * 24 * 30, description="How long before the start.")
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=5)
    inside_window: InsideWindow = Field(
        InsideWindow.SEND_NOW,
        description="A booking made or moved closer to its start than the offset: send the "
        "reminder at once, or skip it.",
    )
    respect_quiet_hours: bool = False
    active: bool = True


# Segments: a rule tree over a channel's friends, compiled to one SQL query (messaging.segments).

AttributeKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Scalar = bool | int | float | str


class FriendStatusRule(_Strict):
    friend_status: Literal["followed", "blocked"]


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


# Step sequences (messaging.sequences).


class EnrollOn(_Strict):
    """What enrols a friend: a follow, a link to a member, a tag, or a purchase that meets
    ``purchase`` (the conditions of a purchase campaign's trigger; none: any purchase)."""

    event: Literal["follow", "link", "tag", "purchase"]
    tag: Name | None = None
    purchase: PurchaseTrigger | None = None

    @model_validator(mode="after")
    def _details_of_the_event(self) -> EnrollOn:
        if (self.event == "tag") != (self.tag is not None):
            raise ValueError("`tag` is given exactly when `event` is `tag`")
        if self.purchase is not None and self.event != "purchase":
            raise ValueError("`purchase` conditions are given only when `event` is `purchase`")
        return self


class TagAdded(_Strict):
    tag_added: Name


ExitCondition = Literal["purchased", "unlinked", "blocked"] | TagAdded


class StepSpec(_Strict):
    """One step: its messages and when, counted from the enrolment (``{}``: at once)."""

    delay: Delay = Field(default_factory=Delay)
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=5)
    respect_quiet_hours: bool = True


class SequenceSpec(NamedSpec):
    """A step sequence as declared."""

    channel: str = Field(description="The LINE channel id of the account that sends it.")
    enroll_on: EnrollOn
    exit_on: list[ExitCondition] = Field(default_factory=list)
    reentry: Literal["never", "after_exit", "always"] = "never"
    active: bool = True
    steps: list[StepSpec] = Field(min_length=1, max_length=50)


# Rich menus by segment (messaging.rich_menus).


class RichMenuRuleSpec(_Strict):
    segment: Name
    rich_menu_id: str = Field(min_length=1, max_length=64)


class RichMenuRulesSpec(_Strict):
    """A channel's menus by segment, first match wins; the link-status menus apply otherwise."""

    channel: str
    rules: list[RichMenuRuleSpec] = Field(default_factory=list, max_length=20)
