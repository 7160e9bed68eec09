"""The demo's poster: a follow route whose QR code brings a new friend, tagged and welcomed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from tsunagu.demo_shop import wait

if TYPE_CHECKING:
    from tsunagu.demo import Demo

POSTER_ROUTE = "station-poster"
POSTER_TAG = "ポスター"


def poster_route(demo: Demo) -> dict[str, object]:
    """The poster's route as the admin API shows it."""
    return next(r for r in demo.admin("/routes")["items"] if r["name"] == POSTER_ROUTE)


def follow_from_poster(demo: Demo, step: Callable[[str], None], *, login_channel_id: str) -> None:
    """ゆい scans the poster: the route page identifies her (LIFF), she adds the account on
    LINE's add-friend screen, and the route's actions tag and welcome her."""
    yui = demo.sandbox.state.add_user(display_name="ゆい", language="ja").user_id
    demo.users["yui"] = yui
    route = poster_route(demo)
    # What the route page does once LIFF gave it her ID token.
    token = demo.sandbox.state.issue_id_token(yui, login_channel_id)
    visit = httpx.post(
        f"{demo.hub_url}/api/routes/visit",
        json={"code": route["code"], "id_token": token},
        timeout=10,
    )
    visit.raise_for_status()
    # Her tap on "Add friend" on LINE's add-friend screen.
    httpx.post(visit.json()["next_url"], data={"user_id": yui}, timeout=10).raise_for_status()
    wait(
        lambda: any(
            f["line_user_id"] == yui and f["follow_route"] == POSTER_ROUTE
            for f in demo.admin("/friends")["items"]
        ),
        "the poster's follow",
    )
    wait(lambda: any("ポスター" in t for t in demo.texts("yui")), "the poster's welcome")
    step(
        f"ゆい scanned the station poster's QR code ({route['url']}), added the account and "
        f"was tagged 「{POSTER_TAG}」 and welcomed by the route"
    )
