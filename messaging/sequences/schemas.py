"""A step sequence as declared: what enrols a friend, its steps and exits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from messaging.compose.schemas import Delay, Name, NamedSpec, PurchaseTrigger, _Strict


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
