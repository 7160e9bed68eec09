"""A campaign as declared: its kind's trigger, caps and messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from messaging.campaigns.models import CampaignKind
from messaging.compose.schemas import Delay, Name, NamedSpec, PurchaseTrigger, _Strict


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
    coupon_pool: str | None = Field(
        None,
        max_length=100,
        description="The coupon pool whose codes fill `{{ coupon }}`: one code per friend of a "
        "segment campaign, one per message of a trigger campaign (purchase, lapsed, birthday).",
    )
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
