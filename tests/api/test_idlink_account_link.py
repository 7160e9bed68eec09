"""LINE's account-link flow end to end: link token → pushed login page → 303 to LINE → event."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from core.db import Database
from core.tenancy import LinkPolicy, Shop
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, admin_api
from tests.factories import ChannelSetup, make_channel, make_shop
from tests.idlink.support import (
    Person,
    active_links,
    add_member,
    audit_actions,
    audit_entries,
    befriend,
    create_rich_menu,
    links,
    rich_menu_of,
    tags_of,
)
from tests.waiting import wait_for
from tsunagu.hub import Hub

URL = re.compile(r"https?://\S+")
# Long enough that tries without their countdown would all fail inside it.
OUTAGE_SECONDS = 3.0


@pytest.fixture
def staff(db: Database, hub_url: str, shop: Shop, channel: ChannelSetup) -> AdminApi:
    return admin_api(db, hub_url, shop)


@pytest.fixture
def person(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> Person:
    return befriend(db, line_sandbox, channel, "山田 太郎")


@pytest.fixture
def member_id(db: Database, channel: ChannelSetup) -> int:
    return add_member(db, channel.shop_id, "M-2002", birth_date="1979-07-07")


def pushed_login_url(line_sandbox: SandboxServer, channel: ChannelSetup, person: Person) -> str:
    """The login page URL in the last message the person received."""
    received = line_sandbox.state.inbox(person.user_id, channel_id=channel.channel_id)
    assert received, "no message was pushed"
    match = URL.search(received[-1].message["text"])
    assert match is not None
    return match.group(0)


def log_in(login_url: str, **form: str) -> httpx.Response:
    """Open the login page and post its form (hidden fields included) with ``form``."""
    page = httpx.get(login_url, timeout=10)
    assert page.status_code == 200, page.text
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    action = re.search(r'action="([^"]+)"', page.text)
    assert action is not None
    target = f"{urlparse(login_url).scheme}://{urlparse(login_url).netloc}{action.group(1)}"
    return httpx.post(target, data={**hidden, **form}, timeout=10)


def start_and_log_in(
    staff: AdminApi, line_sandbox: SandboxServer, channel: ChannelSetup, person: Person, **form: str
) -> httpx.Response:
    started = staff.post(f"/friends/{person.friend_id}/account-link", {})
    assert started.status_code == 200, started.text
    assert pushed_login_url(line_sandbox, channel, person) == started.json()["login_url"]
    return log_in(started.json()["login_url"], **form)


def test_account_link_full_flow_links_tags_and_shows_the_member_rich_menu(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    staff: AdminApi,
    person: Person,
    member_id: int,
) -> None:
    member_menu = create_rich_menu(line_sandbox, channel, "members")
    configured = staff.patch(
        f"/channels/{channel.channel_id}/linking", {"member_rich_menu_id": member_menu}
    )
    assert configured.json()["member_rich_menu_id"] == member_menu

    redirect = start_and_log_in(
        staff, line_sandbox, channel, person, member_number="M-2002", second_factor="1979-07-07"
    )

    assert redirect.status_code == 303
    dialog = redirect.headers["location"]
    assert dialog.startswith(f"{line_sandbox.url}/dialog/bot/accountLink?")
    nonce = parse_qs(urlparse(dialog).query)["nonce"][0]
    assert len(nonce) >= 22
    linked_page = httpx.get(dialog, timeout=10)
    assert "Account linked" in linked_page.text
    wait_for(lambda: active_links(db, channel.shop_id), what="the account link")
    assert active_links(db, channel.shop_id) == [(person.friend_id, member_id)]
    assert "linked" in tags_of(db, person.friend_id)
    wait_for(
        lambda: rich_menu_of(line_sandbox, channel, person) == member_menu,
        what="the member rich menu",
    )
    assert audit_actions(db, channel.shop_id)[-2:] == [
        "idlink.account_link_started",
        "idlink.linked",
    ]


def test_a_failed_account_link_links_nothing_and_is_recorded(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    staff: AdminApi,
    person: Person,
    member_id: int,
) -> None:
    redirect = start_and_log_in(
        staff, line_sandbox, channel, person, member_number="M-2002", second_factor="1979-07-07"
    )

    httpx.get(redirect.headers["location"] + "&sandbox_result=failed", timeout=10)

    failed = wait_for(
        lambda: audit_entries(db, channel.shop_id, "idlink.account_link_failed"),
        what="the failure to be recorded",
    )
    assert failed[0].detail["member_id"] == member_id
    assert active_links(db, channel.shop_id) == []


def test_a_replayed_nonce_links_nothing_the_second_time(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    staff: AdminApi,
    person: Person,
    member_id: int,
) -> None:
    redirect = start_and_log_in(
        staff, line_sandbox, channel, person, member_number="M-2002", second_factor="1979-07-07"
    )
    nonce = parse_qs(urlparse(redirect.headers["location"]).query)["nonce"][0]
    httpx.get(redirect.headers["location"], timeout=10)
    wait_for(lambda: active_links(db, channel.shop_id), what="the first link")
    staff.post(f"/links/{_link_id(db, channel)}/unlink", {})
    fresh_token = line_sandbox.state.issue_link_token(
        line_sandbox.state.channel(channel.channel_id), person.user_id
    )

    line_sandbox.simulate.account_link(fresh_token, nonce)

    rejected = wait_for(
        lambda: audit_entries(db, channel.shop_id, "idlink.account_link_rejected"),
        what="the replay to be recorded",
    )
    assert rejected[0].detail["reason"] == "nonce already used"
    assert active_links(db, channel.shop_id) == []


def test_an_unknown_nonce_links_nothing_and_is_recorded(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, person: Person
) -> None:
    token = line_sandbox.state.issue_link_token(
        line_sandbox.state.channel(channel.channel_id), person.user_id
    )

    line_sandbox.simulate.account_link(token, "n" * 43)

    rejected = wait_for(
        lambda: audit_entries(db, channel.shop_id, "idlink.account_link_rejected"),
        what="the rejection",
    )
    assert rejected[0].detail["reason"] == "unknown nonce"


def test_wrong_details_on_the_login_page_show_the_form_again_without_a_redirect(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    staff: AdminApi,
    person: Person,
    member_id: int,
) -> None:
    response = start_and_log_in(
        staff, line_sandbox, channel, person, member_number="M-2002", second_factor="1979-07-08"
    )

    assert response.status_code == 401
    assert "do not match our records" in response.text
    assert 'name="member_number" value="M-2002"' in response.text
    assert "location" not in response.headers


def test_an_altered_login_link_is_refused(
    line_sandbox: SandboxServer, channel: ChannelSetup, staff: AdminApi, person: Person
) -> None:
    url = staff.post(f"/friends/{person.friend_id}/account-link", {}).json()["login_url"]

    response = httpx.get(url.replace("friend=", "friend=9"), timeout=10)

    assert response.status_code == 400
    assert response.json()["error"] == "InvalidLoginLink"


def test_a_postback_asking_to_link_pushes_the_login_page(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, person: Person
) -> None:
    line_sandbox.simulate.postback(person.user_id, "action=link", channel_id=channel.channel_id)

    wait_for(
        lambda: line_sandbox.state.inbox(person.user_id, channel_id=channel.channel_id),
        what="the pushed message",
    )
    assert "/idlink/account-link/" in pushed_login_url(line_sandbox, channel, person)


def _link_id(db: Database, channel: ChannelSetup) -> int:
    return next(k.id for k in links(db, channel.shop_id) if k.unlinked_at is None)


def test_member_unlinks_with_a_postback_and_gets_the_guest_menu_back(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    staff: AdminApi,
    person: Person,
    member_id: int,
) -> None:
    member_menu = create_rich_menu(line_sandbox, channel, "members")
    guest_menu = create_rich_menu(line_sandbox, channel, "guests")
    staff.patch(
        f"/channels/{channel.channel_id}/linking",
        {"member_rich_menu_id": member_menu, "guest_rich_menu_id": guest_menu},
    )
    assert (
        staff.post("/links", {"friend_id": person.friend_id, "member_number": "M-2002"}).status_code
        == 201
    )
    wait_for(lambda: rich_menu_of(line_sandbox, channel, person) == member_menu, what="member menu")

    line_sandbox.simulate.postback(person.user_id, "action=unlink", channel_id=channel.channel_id)

    wait_for(lambda: not active_links(db, channel.shop_id), what="the unlink")
    assert "linked" not in tags_of(db, person.friend_id)
    wait_for(lambda: rich_menu_of(line_sandbox, channel, person) == guest_menu, what="guest menu")
    unlinked = audit_entries(db, channel.shop_id, "idlink.unlinked")
    assert unlinked[0].actor == f"line:{person.user_id}"


def test_staff_unlink_ends_the_link_and_returns_the_default_menu(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    staff: AdminApi,
    person: Person,
    member_id: int,
) -> None:
    member_menu = create_rich_menu(line_sandbox, channel, "members")
    staff.patch(f"/channels/{channel.channel_id}/linking", {"member_rich_menu_id": member_menu})
    link = staff.post("/links", {"friend_id": person.friend_id, "member_number": "M-2002"}).json()
    wait_for(lambda: rich_menu_of(line_sandbox, channel, person) == member_menu, what="member menu")

    ended = staff.post(f"/links/{link['id']}/unlink", {})

    assert ended.status_code == 200
    assert ended.json()["active"] is False
    assert ended.json()["unlinked_by"] == "token:staff"
    wait_for(lambda: rich_menu_of(line_sandbox, channel, person) is None, what="menu unlinked")
    assert audit_actions(db, channel.shop_id)[-2:] == ["idlink.linked", "idlink.unlinked"]
    assert staff.post(f"/links/{link['id']}/unlink", {}).status_code == 404


def test_linking_a_member_linked_elsewhere_is_refused_and_recorded(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    staff: AdminApi,
    person: Person,
    member_id: int,
) -> None:
    other = befriend(db, line_sandbox, channel, "someone else")
    staff.post("/links", {"friend_id": person.friend_id, "member_number": "M-2002"})

    refused = staff.post("/links", {"friend_id": other.friend_id, "member_number": "M-2002"})

    assert refused.status_code == 409
    assert refused.json()["error"] == "LinkRefused"
    assert active_links(db, channel.shop_id) == [(person.friend_id, member_id)]
    entry = audit_entries(db, channel.shop_id, "idlink.link_refused")[0]
    assert entry.detail["friend_id"] == other.friend_id


def test_with_the_replace_policy_a_new_link_replaces_the_old_one(
    db: Database, hub: Hub, hub_url: str, line_sandbox: SandboxServer
) -> None:
    shop = make_shop(db, link_policy=LinkPolicy.REPLACE)
    channel = make_channel(db, line_sandbox, hub_url, shop)
    staff = admin_api(db, hub_url, shop)
    member_id = add_member(db, shop.id, "R-1", birth_date="1990-01-01")
    first = befriend(db, line_sandbox, channel, "old phone")
    second = befriend(db, line_sandbox, channel, "new phone")
    staff.post("/links", {"friend_id": first.friend_id, "member_number": "R-1"})

    redirect = start_and_log_in(
        staff, line_sandbox, channel, second, member_number="R-1", second_factor="1990-01-01"
    )
    httpx.get(redirect.headers["location"], timeout=10)

    wait_for(
        lambda: active_links(db, shop.id) == [(second.friend_id, member_id)], what="replacement"
    )
    assert "linked" not in tags_of(db, first.friend_id)
    assert "linked" in tags_of(db, second.friend_id)
    replaced = audit_entries(db, shop.id, "idlink.unlinked")[0]
    assert replaced.detail["reason"] == "replaced"


def test_a_link_code_links_once_and_not_again(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    staff: AdminApi,
    person: Person,
    member_id: int,
) -> None:
    issued = staff.post(f"/members/{member_id}/link-codes", {})
    assert issued.status_code == 201
    code = issued.json()["code"]
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)

    first = start_and_log_in(staff, line_sandbox, channel, person, link_code=code.lower())
    assert first.status_code == 303
    second = start_and_log_in(staff, line_sandbox, channel, person, link_code=code)

    assert second.status_code == 401
    assert "link code is not valid" in second.text


def test_a_link_survives_line_failing_and_the_member_menu_follows_on_retry(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    staff: AdminApi,
    person: Person,
    member_id: int,
) -> None:
    member_menu = create_rich_menu(line_sandbox, channel, "members")
    staff.patch(f"/channels/{channel.channel_id}/linking", {"member_rich_menu_id": member_menu})
    line_sandbox.state.inject_failures("linkRichMenuIdToUser", [500, 503])

    linked = staff.post("/links", {"friend_id": person.friend_id, "member_number": "M-2002"})

    assert linked.status_code == 201
    assert active_links(db, channel.shop_id) == [(person.friend_id, member_id)]
    wait_for(
        lambda: rich_menu_of(line_sandbox, channel, person) == member_menu,
        # Two retries after their jittered backoff (up to 5 s, then up to 10 s), as a worker waits.
        timeout=30,
        what="the member menu after LINE recovered",
    )
    path = f"/v2/bot/user/{person.user_id}/richmenu/{member_menu}"

    def tries() -> list[int]:
        return [c.status_code for c in line_sandbox.state.api_calls() if c.path == path]

    # The sandbox logs a call once its response is sent, just after the menu changed.
    wait_for(lambda: len(tries()) == 3, what="the third call to be logged")
    assert tries() == [500, 503, 200]


def test_a_line_outage_of_a_few_seconds_is_outlasted_by_the_menu_retries(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    staff: AdminApi,
    person: Person,
    member_id: int,
) -> None:
    """The embedded worker waits each retry's countdown: its tries outlast a short outage
    instead of all failing within it."""
    member_menu = create_rich_menu(line_sandbox, channel, "members")
    staff.patch(f"/channels/{channel.channel_id}/linking", {"member_rich_menu_id": member_menu})
    path = f"/v2/bot/user/{person.user_id}/richmenu/{member_menu}"
    line_sandbox.state.outage("linkRichMenuIdToUser", OUTAGE_SECONDS)

    linked = staff.post("/links", {"friend_id": person.friend_id, "member_number": "M-2002"})

    assert linked.status_code == 201
    wait_for(
        lambda: rich_menu_of(line_sandbox, channel, person) == member_menu,
        # A jittered backoff of up to 5 s, then 10 s, then 20 s, as a Celery worker waits.
        timeout=60,
        what="the member menu once LINE is back",
    )
    wait_for(
        lambda: (
            [c.status_code for c in line_sandbox.state.api_calls() if c.path == path][-1:] == [200]
        ),
        what="the successful call to be logged",
    )
    tries = [c.status_code for c in line_sandbox.state.api_calls() if c.path == path]
    assert tries[-1] == 200 and set(tries[:-1]) <= {503}
    # The task may try up to 9 times: an outage of a few seconds must not use most of them.
    assert len(tries) <= 5, f"the retries came too fast: {tries}"
