"""A channel's rich menus by segment, as declared."""

from __future__ import annotations

from pydantic import (
    Field,
)

from messaging.compose.schemas import Name, _Strict


class RichMenuRuleSpec(_Strict):
    segment: Name
    rich_menu_id: str = Field(min_length=1, max_length=64)


class RichMenuRulesSpec(_Strict):
    """A channel's menus by segment, first match wins; the link-status menus apply otherwise."""

    channel: str
    rules: list[RichMenuRuleSpec] = Field(default_factory=list, max_length=20)
