"""The shapes several features' declarations share: names, delays, purchase conditions."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

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
