"""The request and response bodies of custom fields, and their types: what a shop declares and
what the chart shows."""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Choice = Annotated[str, Field(min_length=1, max_length=100)]


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"
    CHOICES = "choices"
    YES_NO = "yes_no"


CHOICE_TYPES = frozenset({FieldType.CHOICE, FieldType.CHOICES})


class FieldDefinitionIn(BaseModel):
    """A field as declared: key (stable, used in segments and templates), label, type, choices."""

    model_config = ConfigDict(extra="forbid")

    key: FieldKey
    label: str = Field(min_length=1, max_length=100)
    type: FieldType
    choices: list[Choice] = Field(default_factory=list, max_length=100)
    position: int | None = Field(None, ge=0, le=10_000)

    @model_validator(mode="after")
    def _choices_fit_type(self) -> FieldDefinitionIn:
        check_choices(self.type, self.choices)
        return self


def check_choices(kind: FieldType, choices: list[str]) -> None:
    """Choice fields need distinct choices; other types take none (ValueError otherwise)."""
    if kind in CHOICE_TYPES and not choices:
        raise ValueError(f"a `{kind}` field needs its `choices`")
    if kind not in CHOICE_TYPES and choices:
        raise ValueError(f"a `{kind}` field takes no `choices`")
    if len(set(choices)) != len(choices):
        raise ValueError("`choices` must differ from each other")


class FieldDefinitionOut(BaseModel):
    key: str
    label: str
    type: FieldType
    choices: list[str]
    position: int


class FieldValueIn(BaseModel):
    """A value for the field: text, a number, a date (YYYY-MM-DD), a choice, a list of choices
    (multiple choice) or true/false; null clears it."""

    value: str | int | float | bool | list[str] | None = None


class FriendFieldOut(BaseModel):
    key: str
    label: str
    type: FieldType
    choices: list[str]
    value: str | Decimal | date | bool | list[str] | None
    shown: str = Field(description="The value as the chart shows it; empty when unset.")


Value = str | Decimal | date | bool | list[str]
