"""A tag rule as declared: what triggers it, which tags it adds and removes; and what the
admin API and the console read back (with how often each rule fired)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from growth.schemas import RouteName
from idlink.tag_schemas import TagName
from messaging.compose.schemas import Name, NamedSpec, PurchaseTrigger, _Strict

# The key of a form or of one of its questions (LIFF forms name them so).
FormKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class OnPurchase(PurchaseTrigger):
    """A purchase of a linked friend meeting every condition: the first (or n-th) purchase, a
    product, SKU or collection bought, an order total at least some amount."""

    event: Literal["purchase"]


class OnTotalSpend(_Strict):
    """The member's purchases (not cancelled, net of refunds) add up to ``amount`` or more."""

    event: Literal["total_spend"]
    amount: Decimal = Field(gt=0, le=Decimal("1e12"))
    currency: str = Field("JPY", pattern=r"^[A-Z]{3}$")


class OnNoPurchase(_Strict):
    """The member's last purchase is more than ``days`` days old (checked every hour)."""

    event: Literal["no_purchase"]
    days: int = Field(ge=1, le=3650)


class OnBooking(_Strict):
    """A booking made (pending or confirmed, not yet started) or visited (completed)."""

    event: Literal["booking"]
    status: Literal["made", "visited"] = "made"
    service: str | None = Field(None, max_length=200, description="Only bookings of it.")


class OnLink(_Strict):
    """The friend linked to a member (``link``) or ended their link (``unlink``)."""

    event: Literal["link", "unlink"]


class OnFollowRoute(_Strict):
    """A follow route brought the friend (a follow it is credited with, or a returning visit)."""

    event: Literal["follow_route"]
    route: RouteName


class OnFormAnswer(_Strict):
    """The friend answered ``question`` (its key) of the form named ``form`` (with ``choice``,
    a choice's label, when given)."""

    event: Literal["form_answer"]
    form: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
    question: FormKey
    choice: str | None = Field(None, min_length=1, max_length=200)


class OnClick(_Strict):
    """The friend clicked the standalone tracked link named ``link`` (their first click)."""

    event: Literal["click"]
    link: Name


class OnPostback(_Strict):
    """The friend tapped a postback action (a rich-menu area, a button) carrying ``data``."""

    event: Literal["postback"]
    data: str = Field(min_length=1, max_length=300)


Trigger = Annotated[
    OnPurchase
    | OnTotalSpend
    | OnNoPurchase
    | OnBooking
    | OnLink
    | OnFollowRoute
    | OnFormAnswer
    | OnClick
    | OnPostback,
    Field(discriminator="event"),
]
TRIGGER_KINDS = (
    "purchase",
    "total_spend",
    "no_purchase",
    "booking",
    "link",
    "unlink",
    "follow_route",
    "form_answer",
    "click",
    "postback",
)


class TagRuleSpec(NamedSpec):
    """A tag rule: when ``trigger`` happens, add ``add`` and remove ``remove``."""

    trigger: Trigger
    add: list[TagName] = Field(default_factory=list, max_length=20)
    remove: list[TagName] = Field(default_factory=list, max_length=20)
    active: bool = True

    @model_validator(mode="after")
    def _does_something(self) -> TagRuleSpec:
        if not self.add and not self.remove:
            raise ValueError("a rule adds or removes at least one tag: give `add` or `remove`")
        both = sorted(set(self.add) & set(self.remove))
        if both:
            raise ValueError(f"a rule cannot both add and remove {', '.join(both)}")
        self.add = list(dict.fromkeys(self.add))
        self.remove = list(dict.fromkeys(self.remove))
        return self


class TagRuleOut(BaseModel):
    id: int
    name: str
    trigger: dict[str, Any]
    add: list[str]
    remove: list[str]
    active: bool
    active_since: datetime
    hits: int = Field(description="Events the rule acted on, since it was made.")
    last_hit_at: datetime | None
    updated_at: datetime


class TagRuleList(BaseModel):
    """All of the shop's tag rules by name (not paged: a shop has tens)."""

    items: list[TagRuleOut]


class TagRuleHitOut(BaseModel):
    friend_id: int
    display_name: str | None
    event: str = Field(description="What the rule acted on: `purchase:12`, `click:…`, …")
    at: datetime
