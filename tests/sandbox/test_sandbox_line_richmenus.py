"""Rich menus through the official SDK, images on the blob (api-data.line.me) client."""

from __future__ import annotations

import httpx
import pytest
from linebot.v3.messaging import (
    ApiException,
    CreateRichMenuAliasRequest,
    MessagingApi,
    MessagingApiBlob,
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuBulkLinkRequest,
    RichMenuBulkUnlinkRequest,
    RichMenuRequest,
    RichMenuSize,
    UpdateRichMenuAliasRequest,
)

from sandbox.line.models import SandboxUser
from sandbox.line.server import SandboxServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def menu_request(name: str = "member menu") -> RichMenuRequest:
    """A one-area rich menu definition."""
    area = RichMenuArea(
        bounds=RichMenuBounds(x=0, y=0, width=2500, height=843),
        action=PostbackAction(data="menu=card", label="Card"),
    )
    return RichMenuRequest(
        size=RichMenuSize(width=2500, height=843),
        selected=False,
        name=name,
        chat_bar_text="Menu",
        areas=[area],
    )


def create_with_image(api: MessagingApi, blob: MessagingApiBlob, name: str = "menu") -> str:
    """Create a rich menu and upload its image; return its id."""
    rich_menu_id = api.create_rich_menu(menu_request(name)).rich_menu_id
    blob.set_rich_menu_image(rich_menu_id, PNG, _headers={"Content-Type": "image/png"})
    return rich_menu_id


def test_rich_menu_is_created_listed_read_and_deleted(
    line: SandboxServer, messaging_api: MessagingApi, messaging_blob_api: MessagingApiBlob
) -> None:
    rich_menu_id = create_with_image(messaging_api, messaging_blob_api, "spring")
    assert rich_menu_id.startswith("richmenu-")
    menu = messaging_api.get_rich_menu(rich_menu_id)
    assert (menu.name, menu.chat_bar_text, menu.size.width) == ("spring", "Menu", 2500)
    listed = messaging_api.get_rich_menu_list().richmenus
    assert [m.rich_menu_id for m in listed] == [rich_menu_id]
    assert bytes(messaging_blob_api.get_rich_menu_image(rich_menu_id)) == PNG
    messaging_api.delete_rich_menu(rich_menu_id)
    with pytest.raises(ApiException) as raised:
        messaging_api.get_rich_menu(rich_menu_id)
    assert raised.value.status == 404


def test_image_can_be_uploaded_only_once(
    messaging_api: MessagingApi, messaging_blob_api: MessagingApiBlob
) -> None:
    rich_menu_id = create_with_image(messaging_api, messaging_blob_api)
    with pytest.raises(ApiException) as raised:
        messaging_blob_api.set_rich_menu_image(
            rich_menu_id, PNG, _headers={"Content-Type": "image/png"}
        )
    assert raised.value.status == 400


def test_menu_without_image_cannot_be_linked(
    friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    rich_menu_id = messaging_api.create_rich_menu(menu_request()).rich_menu_id
    with pytest.raises(ApiException) as raised:
        messaging_api.link_rich_menu_id_to_user(friend.user_id, rich_menu_id)
    assert raised.value.status == 400


def test_per_user_link_and_unlink(
    line: SandboxServer,
    http: httpx.Client,
    friend: SandboxUser,
    messaging_api: MessagingApi,
    messaging_blob_api: MessagingApiBlob,
) -> None:
    rich_menu_id = create_with_image(messaging_api, messaging_blob_api)
    messaging_api.link_rich_menu_id_to_user(friend.user_id, rich_menu_id)
    assert messaging_api.get_rich_menu_id_of_user(friend.user_id).rich_menu_id == rich_menu_id
    overview = http.get("/sandbox/users").json()[0]
    assert next(iter(overview["channels"].values()))["rich_menu_id"] == rich_menu_id
    messaging_api.unlink_rich_menu_id_from_user(friend.user_id)
    with pytest.raises(ApiException) as raised:
        messaging_api.get_rich_menu_id_of_user(friend.user_id)
    assert raised.value.status == 404


def test_bulk_link_and_unlink_are_accepted_with_202(
    line: SandboxServer, messaging_api: MessagingApi, messaging_blob_api: MessagingApiBlob
) -> None:
    users = [line.state.add_user() for _ in range(3)]
    user_ids = [u.user_id for u in users]
    rich_menu_id = create_with_image(messaging_api, messaging_blob_api)
    linked = messaging_api.link_rich_menu_id_to_users_with_http_info(
        RichMenuBulkLinkRequest(rich_menu_id=rich_menu_id, user_ids=user_ids)
    )
    assert linked.status_code == 202
    assert {messaging_api.get_rich_menu_id_of_user(u).rich_menu_id for u in user_ids} == {
        rich_menu_id
    }
    unlinked = messaging_api.unlink_rich_menu_id_from_users_with_http_info(
        RichMenuBulkUnlinkRequest(user_ids=user_ids[:2])
    )
    assert unlinked.status_code == 202
    assert messaging_api.get_rich_menu_id_of_user(user_ids[2]).rich_menu_id == rich_menu_id


def test_default_rich_menu_is_set_read_and_cancelled(
    messaging_api: MessagingApi, messaging_blob_api: MessagingApiBlob
) -> None:
    rich_menu_id = create_with_image(messaging_api, messaging_blob_api)
    messaging_api.set_default_rich_menu(rich_menu_id)
    assert messaging_api.get_default_rich_menu_id().rich_menu_id == rich_menu_id
    messaging_api.cancel_default_rich_menu()
    with pytest.raises(ApiException) as raised:
        messaging_api.get_default_rich_menu_id()
    assert raised.value.status == 404


def test_rich_menu_creation_is_rate_limited_per_hour(
    line: SandboxServer, messaging_api: MessagingApi
) -> None:
    line.state.set_rate_limit("createRichMenu", 1, per_seconds=3600)
    messaging_api.create_rich_menu(menu_request())
    with pytest.raises(ApiException) as raised:
        messaging_api.create_rich_menu(menu_request())
    assert raised.value.status == 429


def test_alias_points_at_a_menu_and_can_be_repointed(
    messaging_api: MessagingApi, messaging_blob_api: MessagingApiBlob
) -> None:
    first = create_with_image(messaging_api, messaging_blob_api, "tab a")
    second = create_with_image(messaging_api, messaging_blob_api, "tab b")
    messaging_api.create_rich_menu_alias(
        CreateRichMenuAliasRequest(rich_menu_alias_id="tab-a", rich_menu_id=first)
    )
    assert messaging_api.get_rich_menu_alias("tab-a").rich_menu_id == first
    messaging_api.update_rich_menu_alias("tab-a", UpdateRichMenuAliasRequest(rich_menu_id=second))
    aliases = messaging_api.get_rich_menu_alias_list().aliases
    assert [(a.rich_menu_alias_id, a.rich_menu_id) for a in aliases] == [("tab-a", second)]
    messaging_api.delete_rich_menu_alias("tab-a")
    assert messaging_api.get_rich_menu_alias_list().aliases == []


def test_alias_ids_are_unique_per_channel(
    messaging_api: MessagingApi, messaging_blob_api: MessagingApiBlob
) -> None:
    rich_menu_id = create_with_image(messaging_api, messaging_blob_api)
    request = CreateRichMenuAliasRequest(rich_menu_alias_id="main", rich_menu_id=rich_menu_id)
    messaging_api.create_rich_menu_alias(request)
    with pytest.raises(ApiException) as raised:
        messaging_api.create_rich_menu_alias(request)
    assert raised.value.status == 400
