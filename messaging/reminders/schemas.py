"""A visit reminder rule as declared."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
)

from messaging.compose.schemas import NamedSpec
from messaging.reminders.models import InsideWindow


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
