"""Rich menus: definitions, images, per-user links and the channel's default menu."""

from __future__ import annotations

import re
from typing import Any

from sandbox.line import ids
from sandbox.line.errors import LineApiError, invalid_body, not_found
from sandbox.line.models import RichMenu, SandboxChannel
from sandbox.line.state import SandboxState
from sandbox.line.validation import check_user_id_list, require_object

MAX_BULK_USERS = 500
MAX_IMAGE_BYTES = 1024 * 1024
IMAGE_TYPES = ("image/jpeg", "image/png")
MAX_AREAS = 20
MAX_NAME = 300
MAX_CHAT_BAR_TEXT = 14
REQUIRED_FIELDS = ("size", "selected", "name", "chatBarText", "areas")
ALIAS_PATTERN = re.compile(r"^[a-z0-9_-]{1,32}$")


def create(state: SandboxState, channel: SandboxChannel, body: Any) -> dict[str, str]:
    """Answer ``POST /v2/bot/richmenu`` with the new ``richMenuId``."""
    definition = _check_definition(require_object(body))
    menu = RichMenu(rich_menu_id=ids.new_rich_menu_id(), definition=definition)
    with state.lock:
        channel.rich_menus[menu.rich_menu_id] = menu
    return {"richMenuId": menu.rich_menu_id}


def get(state: SandboxState, channel: SandboxChannel, rich_menu_id: str) -> RichMenu:
    """Return one of the channel's rich menus, or LINE's 404."""
    with state.lock:
        menu = channel.rich_menus.get(rich_menu_id)
    if menu is None:
        raise not_found("richmenu not found")
    return menu


def delete(state: SandboxState, channel: SandboxChannel, rich_menu_id: str) -> None:
    """Delete a rich menu, unlinking it from its users and as the default."""
    with state.lock:
        get(state, channel, rich_menu_id)
        del channel.rich_menus[rich_menu_id]
        for friendship in channel.friends.values():
            if friendship.rich_menu_id == rich_menu_id:
                friendship.rich_menu_id = None
        if channel.default_rich_menu_id == rich_menu_id:
            channel.default_rich_menu_id = None
        for alias_id, target in list(channel.rich_menu_aliases.items()):
            if target == rich_menu_id:
                del channel.rich_menu_aliases[alias_id]


def set_image(
    state: SandboxState,
    channel: SandboxChannel,
    rich_menu_id: str,
    image: bytes,
    content_type: str,
) -> None:
    """Attach the menu's image (JPEG or PNG, at most 1 MB, once)."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in IMAGE_TYPES:
        raise LineApiError(415, "Unsupported Media Type")
    if not image or len(image) > MAX_IMAGE_BYTES:
        raise LineApiError(400, "The image size must be 1 MB or less")
    with state.lock:
        menu = get(state, channel, rich_menu_id)
        if menu.image is not None:
            raise LineApiError(400, "An image has already been uploaded to the richmenu")
        menu.image, menu.image_content_type = image, media_type


def link(state: SandboxState, channel: SandboxChannel, user_id: str, rich_menu_id: str) -> None:
    """Link a rich menu to one user."""
    bulk_link(state, channel, {"richMenuId": rich_menu_id, "userIds": [user_id]})


def bulk_link(state: SandboxState, channel: SandboxChannel, body: Any) -> None:
    """Link a rich menu to 1-500 users (``POST /v2/bot/richmenu/bulk/link``)."""
    body = require_object(body)
    user_ids = check_user_id_list(body, "userIds", limit=MAX_BULK_USERS)
    with state.lock:
        menu = _applicable(state, channel, body.get("richMenuId"))
        for user_id in user_ids:
            channel.friendship(user_id).rich_menu_id = menu.rich_menu_id


def bulk_unlink(state: SandboxState, channel: SandboxChannel, body: Any) -> None:
    """Unlink the rich menus of 1-500 users (``POST /v2/bot/richmenu/bulk/unlink``)."""
    user_ids = check_user_id_list(require_object(body), "userIds", limit=MAX_BULK_USERS)
    with state.lock:
        for user_id in user_ids:
            friendship = channel.friends.get(user_id)
            if friendship is not None:
                friendship.rich_menu_id = None


def of_user(state: SandboxState, channel: SandboxChannel, user_id: str) -> str:
    """Return the rich menu linked to a user (the default menu does not count)."""
    with state.lock:
        friendship = channel.friends.get(user_id)
        if friendship is None or friendship.rich_menu_id is None:
            raise not_found("the user has no richmenu")
        return friendship.rich_menu_id


def set_default(state: SandboxState, channel: SandboxChannel, rich_menu_id: str) -> None:
    """Make a rich menu the default for users without a linked one."""
    with state.lock:
        channel.default_rich_menu_id = _applicable(state, channel, rich_menu_id).rich_menu_id


def default(state: SandboxState, channel: SandboxChannel) -> str:
    """Return the default rich menu's id, or LINE's 404."""
    with state.lock:
        if channel.default_rich_menu_id is None:
            raise not_found("no default richmenu")
        return channel.default_rich_menu_id


def create_alias(state: SandboxState, channel: SandboxChannel, body: Any) -> None:
    """Create a rich menu alias (``richMenuAliasId`` -> ``richMenuId``) for tab switching."""
    body = require_object(body)
    alias_id = body.get("richMenuAliasId")
    if not isinstance(alias_id, str) or not ALIAS_PATTERN.match(alias_id):
        raise invalid_body(("richMenuAliasId", "must match ^[a-z0-9_-]{1,32}$"))
    with state.lock:
        if alias_id in channel.rich_menu_aliases:
            raise LineApiError(400, "conflict richmenu alias id")
        menu = _applicable(state, channel, body.get("richMenuId"))
        channel.rich_menu_aliases[alias_id] = menu.rich_menu_id


def update_alias(state: SandboxState, channel: SandboxChannel, alias_id: str, body: Any) -> None:
    """Point an existing alias at another rich menu."""
    body = require_object(body)
    with state.lock:
        alias(state, channel, alias_id)
        menu = _applicable(state, channel, body.get("richMenuId"))
        channel.rich_menu_aliases[alias_id] = menu.rich_menu_id


def alias(state: SandboxState, channel: SandboxChannel, alias_id: str) -> dict[str, str]:
    """Return the ``RichMenuAliasResponse`` of an alias, or a 400 as LINE answers."""
    with state.lock:
        rich_menu_id = channel.rich_menu_aliases.get(alias_id)
    if rich_menu_id is None:
        raise LineApiError(400, "richmenu alias not found")
    return {"richMenuAliasId": alias_id, "richMenuId": rich_menu_id}


def delete_alias(state: SandboxState, channel: SandboxChannel, alias_id: str) -> None:
    """Delete an alias (the rich menu itself stays)."""
    with state.lock:
        alias(state, channel, alias_id)
        del channel.rich_menu_aliases[alias_id]


def _applicable(state: SandboxState, channel: SandboxChannel, rich_menu_id: Any) -> RichMenu:
    """A menu can be shown only once its image is uploaded."""
    menu = get(state, channel, str(rich_menu_id))
    if menu.image is None:
        raise LineApiError(400, "must upload richmenu image before applying it to user")
    return menu


def _check_definition(body: dict[str, Any]) -> dict[str, Any]:
    missing = [name for name in REQUIRED_FIELDS if name not in body]
    if missing:
        raise invalid_body(*[(name, "must be specified") for name in missing])
    size = body["size"]
    if not isinstance(size, dict) or not 800 <= size.get("width", 0) <= 2500:
        raise invalid_body(("size.width", "must be between 800 and 2500"))
    if size.get("height", 0) < 250:
        raise invalid_body(("size.height", "must be 250 or more"))
    if len(str(body["name"])) > MAX_NAME:
        raise invalid_body(("name", f"Length must be between 0 and {MAX_NAME}"))
    if len(str(body["chatBarText"])) > MAX_CHAT_BAR_TEXT:
        raise invalid_body(("chatBarText", f"Length must be between 0 and {MAX_CHAT_BAR_TEXT}"))
    if not isinstance(body["areas"], list) or len(body["areas"]) > MAX_AREAS:
        raise invalid_body(("areas", f"Size must be between 0 and {MAX_AREAS}"))
    return {name: body[name] for name in REQUIRED_FIELDS}
