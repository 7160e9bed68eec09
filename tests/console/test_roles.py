"""Every role against every console action: allowed, or a 403 page naming the role needed."""

from __future__ import annotations

import pytest

from core.db import Database
from core.tenancy import Shop
from staff.models import Role
from tests.api.admin_support import add_friend
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup

ACTIONS = ("list", "chart", "tag", "untag", "note", "owner")
ALLOWED = {
    Role.VIEWER: {"list", "chart"},
    Role.OPERATOR: set(ACTIONS),
    Role.ADMIN: set(ACTIONS),
    Role.OWNER: set(ACTIONS),
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_do_what_the_table_says_and_is_told_why_not(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup, role: Role
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("vip",))
    add_staff(db, shop, f"{role.value}@example.jp", role)
    browser = Browser(hub_url)
    browser.sign_in(f"{role.value}@example.jp")
    chart = f"/console/friends/{friend_id}"

    outcomes = {
        "list": browser.get("/console/friends"),
        "chart": browser.get(chart),
        "tag": browser.submit(chart, f"{chart}/tags", {"name": "new"}),
        "untag": browser.submit(chart, f"{chart}/tags/remove", {"name": "vip"}),
        "note": browser.submit(chart, f"{chart}/notes", {"body": "a note"}),
        "owner": browser.submit(chart, f"{chart}/owner", {"email": f"{role.value}@example.jp"}),
    }

    for action, response in outcomes.items():
        if action in ALLOWED[role]:
            assert response.status_code in (200, 303), (role, action)
        else:
            assert response.status_code == 403, (role, action)
            assert "「オペレーター」以上の権限が必要です" in response.text, (role, action)
