"""An erased friend's per-user rich menu is dropped on LINE by a job that retries while LINE
fails; the user id it needs is gone from the hub once LINE took the unlink."""

from __future__ import annotations

from sqlalchemy import select

from core.db import Database
from core.tenancy import Shop
from privacy.models import RichMenuUnlink
from sandbox.line.server import SandboxServer
from tests.api.admin_support import admin_api
from tests.factories import ChannelSetup
from tests.idlink.support import add_member, befriend, create_rich_menu, rich_menu_of
from tests.privacy.support import left_after_erasure
from tests.waiting import wait_for

BULK_UNLINK = "/v2/bot/richmenu/bulk/unlink"


def test_an_erased_friend_is_returned_to_the_default_menu_on_line_after_it_recovers(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, shop: Shop
) -> None:
    staff = admin_api(db, hub_url, shop)
    person = befriend(db, line_sandbox, channel, "山田 花子")
    add_member(db, shop.id, "M-4001", name="山田 花子")
    member_menu = create_rich_menu(line_sandbox, channel, "members")
    staff.patch(f"/channels/{channel.channel_id}/linking", {"member_rich_menu_id": member_menu})
    linked = staff.post("/links", {"friend_id": person.friend_id, "member_number": "M-4001"})
    assert linked.status_code == 201, linked.text
    wait_for(
        lambda: rich_menu_of(line_sandbox, channel, person) == member_menu,
        what="the member menu on LINE",
    )

    def tries() -> list[int]:
        return [c.status_code for c in line_sandbox.state.api_calls() if c.path == BULK_UNLINK]

    earlier = len(tries())  # the sandbox serves the whole run: other tests' calls come first
    line_sandbox.state.inject_failures("unlinkRichMenuIdFromUsers", [500])

    erased = staff.post(f"/friends/{person.friend_id}/erase", {})

    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["rich_menu_unlinks"] == 1
    wait_for(
        lambda: rich_menu_of(line_sandbox, channel, person) is None,
        # The first try fails; the next waits out its 5 s backoff, as a worker would.
        timeout=30,
        what="the default menu after LINE recovered",
    )
    wait_for(lambda: len(tries()) == earlier + 2, what="the second call to be logged")
    assert tries()[earlier:] == [500, 202]
    assert left_after_erasure(db, (person.user_id, "山田 花子")) == {}
    with db.session_scope() as session:
        assert session.scalars(select(RichMenuUnlink)).all() == []
