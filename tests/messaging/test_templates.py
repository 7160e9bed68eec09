"""Templates are checked when a campaign is saved, with every variable at its longest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from messaging.compose import templates
from messaging.compose.compose import due_after, local_time_text
from messaging.compose.templates import InvalidTemplate

FRIEND = templates.FRIEND_VARIABLES


def test_render_fills_variables_and_links_everywhere_in_the_message() -> None:
    template: list[dict[str, Any]] = [
        {"type": "text", "text": "{{ display_name }}さん、{{member_name}}様"},
        {
            "type": "flex",
            "altText": "{{display_name}}さんへ",
            "contents": {
                "type": "bubble",
                "action": {"type": "uri", "uri": "{{ link:https://s.example/a }}"},
            },
        },
    ]
    rendered = templates.render(
        template,
        values={"display_name": "花子", "member_name": None},
        link=lambda url: f"https://hub/r/{url[-1]}",
    )
    assert rendered[0]["text"] == "花子さん、様"
    assert rendered[1]["altText"] == "花子さんへ"
    assert rendered[1]["contents"]["action"]["uri"] == "https://hub/r/a"
    assert template[0]["text"].startswith("{{ display_name }}")


def test_unknown_variable_is_refused_by_name() -> None:
    with pytest.raises(InvalidTemplate, match=r"unknown variable .*coupon_cod "):
        templates.check([{"type": "text", "text": "{{ coupon_cod }}"}], available=FRIEND)


def test_variable_unknown_to_this_kind_of_send_is_refused() -> None:
    with pytest.raises(InvalidTemplate, match=r"booking_time .*not known to this kind"):
        templates.check([{"type": "text", "text": "{{ booking_time }}"}], available=FRIEND)


def test_text_that_only_fits_with_short_values_is_refused_when_saved() -> None:
    text = "x" * 4990 + "{{ display_name }}"
    with pytest.raises(InvalidTemplate, match=r"5000 .*longest"):
        templates.check([{"type": "text", "text": text}], available=FRIEND)


def test_link_needs_an_http_url() -> None:
    with pytest.raises(InvalidTemplate, match="http"):
        templates.check(
            [{"type": "text", "text": "{{ link:javascript:alert(1) }}"}], available=FRIEND
        )


def test_linked_urls_and_personal_templates_are_found() -> None:
    template = [{"type": "text", "text": "{{link:https://b.example}} {{ link:https://a.example }}"}]
    assert templates.links(template) == ["https://a.example", "https://b.example"]
    assert templates.is_personal(template)
    assert not templates.is_personal([{"type": "text", "text": "ありがとう"}])


def test_three_days_later_at_ten_is_local_time_in_the_channel_timezone() -> None:
    ordered = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 01:00 on 1 Dec in Tokyo
    due = due_after(ordered, {"days": 3, "at": "10:00"}, "Asia/Tokyo")
    assert due == datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    assert local_time_text(due, "Asia/Tokyo") == "2026年12月4日(金) 10:00"


def test_a_time_of_day_already_past_today_moves_to_tomorrow() -> None:
    ordered = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
    assert due_after(ordered, {"at": "10:00"}, "Asia/Tokyo") == datetime(
        2026, 12, 1, 1, 0, tzinfo=UTC
    )
    assert due_after(ordered, {"hours": 2}, "Asia/Tokyo") == datetime(
        2026, 11, 30, 5, 0, tzinfo=UTC
    )
