"""Auto-reply rules and FAQ entries as the admin API, the console and ``tsunagu apply`` take
them, and what the tester answers."""

from __future__ import annotations

import enum
from datetime import date, time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from autoreply import patterns
from messaging.compose.schemas import NamedSpec, _Strict
from messaging.outbox import payloads
from messaging.outbox.payloads import InvalidMessages

# Validation context of a spec read back from the database: its pattern was probed when saved.
STORED = "stored"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TagName = Annotated[str, Field(min_length=1, max_length=100)]
FieldKey = Annotated[str, Field(min_length=1, max_length=64)]


class Match(enum.StrEnum):
    EXACT = "exact"
    CONTAINS = "contains"
    PREFIX = "prefix"
    REGEX = "regex"
    ANY = "any"


class Frequency(enum.StrEnum):
    EVERY_TIME = "every_time"
    ONCE_PER_FRIEND = "once_per_friend"
    # Once until a staff member writes to the friend, or WINDOW later (see matching.WINDOW).
    ONCE_PER_WINDOW = "once_per_window"


class Schedule(_Strict):
    """When the rule may fire, in the channel's timezone: weekdays (none: every day), hours
    (``end`` before ``start`` crosses midnight) and a date range; ``outside`` turns it into
    the out-of-hours rule (fires when the moment is *not* within the weekdays and hours)."""

    weekdays: list[Weekday] = Field(default_factory=list, max_length=7)
    start: time | None = None
    end: time | None = None
    outside: bool = False
    date_from: date | None = None
    date_to: date | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        if (self.start is None) != (self.end is None):
            raise ValueError("hours need both start and end (HH:MM), or neither")
        if self.start is not None and self.start == self.end:
            raise ValueError("hours: start and end are the same time")
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        if self.outside and not self.weekdays and self.start is None:
            raise ValueError("outside needs opening weekdays or hours to be outside of")
        return self


class Conditions(_Strict):
    """What the friend must be: carry every tag of ``tags``, none of ``without_tags``, have
    each field of ``fields`` at that value (as text), and be linked to a member or not."""

    tags: list[TagName] = Field(default_factory=list, max_length=20)
    without_tags: list[TagName] = Field(default_factory=list, max_length=20)
    fields: dict[FieldKey, str] = Field(default_factory=dict, max_length=20)
    linked: bool | None = None


class Actions(_Strict):
    """What happens when the rule fires: a reply (1 to 5 LINE messages: text, sticker, Flex,
    template…), tags added or removed, fields set, a sequence, the account-link message, and
    on the friend's inbox conversation a mark (by name) and an assignee (a staff email)."""

    reply: list[dict[str, Any]] = Field(default_factory=list, max_length=5)
    add_tags: list[TagName] = Field(default_factory=list, max_length=20)
    remove_tags: list[TagName] = Field(default_factory=list, max_length=20)
    set_fields: dict[FieldKey, str | None] = Field(default_factory=dict, max_length=20)
    sequence: str | None = Field(None, min_length=1, max_length=100)
    account_link: bool = False
    mark: str | None = Field(None, min_length=1, max_length=50)
    assign: str | None = Field(None, min_length=3, max_length=254)

    @field_validator("reply")
    @classmethod
    def _line_accepts(cls, reply: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if reply:
            try:
                payloads.validate(reply)
            except InvalidMessages as exc:
                raise ValueError(str(exc)) from exc
        return reply

    @property
    def empty(self) -> bool:
        return not (
            self.reply
            or self.add_tags
            or self.remove_tags
            or self.set_fields
            or self.sequence
            or self.account_link
            or self.mark
            or self.assign
        )


class RuleSpec(NamedSpec):
    """A keyword rule: the highest ``priority`` among the rules that match answers."""

    channel: str = Field(min_length=1, max_length=64, description="The LINE channel id.")
    enabled: bool = True
    priority: int = Field(100, ge=0, le=1000)
    match: Match
    pattern: str = Field("", max_length=200)
    frequency: Frequency = Frequency.EVERY_TIME
    schedule: Schedule = Field(default_factory=Schedule)
    conditions: Conditions = Field(default_factory=Conditions)
    actions: Actions

    @model_validator(mode="after")
    def _pattern_fits_match(self, info: ValidationInfo) -> RuleSpec:
        if self.match == Match.ANY:
            if self.pattern:
                raise ValueError("match `any` takes no pattern")
        elif not self.pattern.strip():
            raise ValueError(f"match `{self.match}` needs a pattern")
        if self.match == Match.REGEX and not (info.context or {}).get(STORED):
            patterns.check_regex(self.pattern)
        if self.actions.empty:
            raise ValueError(
                "actions: give at least one (reply, tags, fields, sequence, link, mark, assign)"
            )
        return self


class FaqSpec(NamedSpec):
    """A question in several wordings and its answer; sent when a friend's message is at least
    ``threshold`` similar (0 to 1) to one of the wordings."""

    channel: str = Field(min_length=1, max_length=64, description="The LINE channel id.")
    enabled: bool = True
    questions: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        min_length=1, max_length=50
    )
    answer: str = Field(min_length=1, max_length=5000)
    threshold: float = Field(0.3, ge=0.05, le=1.0)


class RuleOut(RuleSpec):
    id: int
    hits: int = Field(description="How many times the rule answered.")
    overlaps: list[str] = Field(
        default_factory=list,
        description="Enabled rules of the channel a message could match together with this "
        "one (the higher priority answers).",
    )


class RuleList(BaseModel):
    items: list[RuleOut]


class FaqOut(FaqSpec):
    id: int
    hits: int


class FaqList(BaseModel):
    items: list[FaqOut]


class TryIn(_Strict):
    """A message to try against the channel's rules and FAQ, as if a friend sent it now."""

    channel: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=5000)
    friend_id: int | None = Field(None, description="Check conditions against this friend.")


class RuleVerdict(BaseModel):
    name: str
    priority: int
    matched: bool
    reason: str = Field(description="Why it fires, or why not (in English).")
    code: str = Field(description="The reason as a code, e.g. `no_match`, `lacks_tag`.")
    values: dict[str, str] = Field(description="What the reason names (tag, field, time...).")


class FaqScore(BaseModel):
    name: str
    score: float
    threshold: float
    question: str = Field(description="The wording the message is closest to.")


class TriedFriend(BaseModel):
    """The friend a message was tried as, as the rules' conditions see them."""

    id: int
    name: str | None
    tags: list[str]
    linked: bool


class TryOut(BaseModel):
    fires: str | None = Field(description="`rule:<name>`, `faq:<name>`, or null: nothing.")
    friend: TriedFriend | None = Field(
        None, description="The friend tried as; null: every condition is taken as met."
    )
    reply: list[dict[str, Any]]
    rules: list[RuleVerdict]
    faq: list[FaqScore]
    local_time: str = Field(description="The moment in the channel's timezone.")
