"""The demo's two ways of linking a friend to a member: the member card in LIFF, and LINE's
account-link flow started by staff."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import httpx

from tsunagu.demo_shop import DemoMember, wait

if TYPE_CHECKING:
    from tsunagu.demo import Demo


def link_in_liff(
    demo: Demo, user_id: str, member: DemoMember, *, channel_id: str, login_channel_id: str
) -> None:
    """What the member-card page does: get an ID token from LIFF, post it with the proof."""
    id_token = demo.sandbox.state.issue_id_token(user_id, login_channel_id)
    response = httpx.post(
        f"{demo.hub_url}/api/idlink/liff",
        json={
            "channel_id": channel_id,
            "id_token": id_token,
            "member_number": member.number,
            "second_factor": member.birth_date,
        },
        timeout=10,
    )
    response.raise_for_status()


def link_with_account_link(demo: Demo, user_id: str, member: DemoMember) -> None:
    """Staff send the account-link message; the user's browser logs in and goes to LINE."""
    friend = next(f for f in demo.admin("/friends")["items"] if f["line_user_id"] == user_id)
    started = httpx.post(
        f"{demo.hub_url}/api/admin/v1/friends/{friend['id']}/account-link",
        headers={"Authorization": f"Bearer {demo.token}"},
        timeout=10,
    )
    started.raise_for_status()
    login_url = started.json()["login_url"]
    with httpx.Client(timeout=10) as browser:
        page = browser.get(login_url)
        page.raise_for_status()
        form = _hidden_fields(page.text)
        submitted = browser.post(
            login_url.split("?", 1)[0],
            data=form | {"member_number": member.number, "second_factor": member.birth_date},
        )
        if submitted.status_code != 303:
            raise RuntimeError(f"login page answered {submitted.status_code}: {submitted.text}")
        dialog = browser.get(urljoin(login_url, submitted.headers["location"]))
        dialog.raise_for_status()
    wait(
        lambda: any(
            link["friend_id"] == friend["id"] and link["active"]
            for link in demo.admin("/links")["items"]
        ),
        "the accountLink event",
    )


def _hidden_fields(html_text: str) -> dict[str, str]:
    """The hidden inputs of the login form (link token, friend, signature)."""
    fields = {}
    for tag in _HIDDEN_INPUT.findall(html_text):
        name = _NAME.search(tag)
        value = _VALUE.search(tag)
        if name and value:
            fields[name.group(1)] = html.unescape(value.group(1))
    return fields


_HIDDEN_INPUT = re.compile(r'<input[^>]*type="hidden"[^>]*>')
_NAME = re.compile(r'name="([^"]+)"')
_VALUE = re.compile(r'value="([^"]*)"')
