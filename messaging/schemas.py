"""Campaign definitions (pydantic v2): what the admin API takes and what a campaigns file holds."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    """Frequency caps for this campaign's messages, overriding the shop's."""

    per_day: int | None = Field(None, ge=1)
    per_week: int | None = Field(None, ge=1)


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
