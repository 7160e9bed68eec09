"""The demo's survey: ゆい, brought by the poster, answers the shop's LIFF form in LINE, and
her answers land on her chart (the 髪質 field, the tags of her choices, a tag rule's tag)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from tsunagu.demo_shop import wait

if TYPE_CHECKING:
    from tsunagu.demo import Demo

SURVEY = "hair-survey"
ANSWERS = {"hair": "くせ毛", "menu": ["カラー", "縮毛矯正"]}
SURVEY_TAGS = {"アンケート回答", "くせ毛ケア案内", "カラー希望", "縮毛矯正希望"}


def survey(demo: Demo) -> dict[str, Any]:
    """The survey as the admin API shows it."""
    return next(f for f in demo.admin("/forms")["items"] if f["name"] == SURVEY)


def chart_of(demo: Demo, user: str) -> dict[str, Any]:
    """A demo friend's chart (tags, fields) as the admin API shows it."""
    user_id = demo.users[user]
    friend = next(f for f in demo.admin("/friends")["items"] if f["line_user_id"] == user_id)
    chart: dict[str, Any] = demo.admin(f"/friends/{friend['id']}/chart")
    return chart


def answer_survey(demo: Demo, step: Callable[[str], None], *, login_channel_id: str) -> None:
    """What the form's LIFF page does in ゆい's LINE: LIFF gives it her ID token, the page
    opens the form with it, then sends her answers."""
    code = survey(demo)["code"]
    token = demo.sandbox.state.issue_id_token(demo.users["yui"], login_channel_id)
    base = f"{demo.hub_url}/api/forms/{code}"
    httpx.post(f"{base}/open", json={"id_token": token}, timeout=10).raise_for_status()
    sent = httpx.post(f"{base}/submit", json={"id_token": token, "answers": ANSWERS}, timeout=10)
    sent.raise_for_status()
    wait(
        lambda: set(chart_of(demo, "yui")["friend"]["tags"]) >= SURVEY_TAGS,
        "the survey's tags on ゆい's chart",
    )
    step(
        f"ゆい answered the 「{survey(demo)['title']}」 survey in LINE (LIFF): her chart shows "
        f"髪質 {ANSWERS['hair']} and the tags {', '.join(sorted(SURVEY_TAGS))}"
    )
