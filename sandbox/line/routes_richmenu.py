"""Rich menu routes, on the api.line.me paths and the api-data.line.me image paths."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from sandbox.line import richmenus
from sandbox.line.deps import api_channel, get_state, json_body
from sandbox.line.models import SandboxChannel
from sandbox.line.state import SandboxState

router = APIRouter()

State = Annotated[SandboxState, Depends(get_state)]


def _accepted() -> JSONResponse:
    return JSONResponse({}, status_code=202)


@router.post("/v2/bot/richmenu")
async def create_rich_menu(
    request: Request, state: State, channel: SandboxChannel = api_channel("createRichMenu")
) -> dict[str, str]:
    """Create a rich menu."""
    return richmenus.create(state, channel, await json_body(request))


@router.get("/v2/bot/richmenu/list")
def get_rich_menu_list(
    state: State, channel: SandboxChannel = api_channel("getRichMenuList")
) -> dict[str, Any]:
    """List the channel's rich menus."""
    with state.lock:
        return {"richmenus": [m.response() for m in channel.rich_menus.values()]}


@router.post("/v2/bot/richmenu/alias")
async def create_rich_menu_alias(
    request: Request, state: State, channel: SandboxChannel = api_channel("createRichMenuAlias")
) -> dict[str, Any]:
    """Create a rich menu alias."""
    richmenus.create_alias(state, channel, await json_body(request))
    return {}


@router.get("/v2/bot/richmenu/alias/list")
def get_rich_menu_alias_list(
    state: State, channel: SandboxChannel = api_channel("getRichMenuAliasList")
) -> dict[str, Any]:
    """List the channel's rich menu aliases."""
    with state.lock:
        aliases = list(channel.rich_menu_aliases)
    return {"aliases": [richmenus.alias(state, channel, a) for a in aliases]}


@router.get("/v2/bot/richmenu/alias/{alias_id}")
def get_rich_menu_alias(
    alias_id: str, state: State, channel: SandboxChannel = api_channel("getRichMenuAlias")
) -> dict[str, str]:
    """Return one rich menu alias."""
    return richmenus.alias(state, channel, alias_id)


@router.post("/v2/bot/richmenu/alias/{alias_id}")
async def update_rich_menu_alias(
    alias_id: str,
    request: Request,
    state: State,
    channel: SandboxChannel = api_channel("updateRichMenuAlias"),
) -> dict[str, Any]:
    """Point an alias at another rich menu."""
    richmenus.update_alias(state, channel, alias_id, await json_body(request))
    return {}


@router.delete("/v2/bot/richmenu/alias/{alias_id}")
def delete_rich_menu_alias(
    alias_id: str, state: State, channel: SandboxChannel = api_channel("deleteRichMenuAlias")
) -> dict[str, Any]:
    """Delete a rich menu alias."""
    richmenus.delete_alias(state, channel, alias_id)
    return {}


@router.get("/v2/bot/richmenu/{rich_menu_id}")
def get_rich_menu(
    rich_menu_id: str, state: State, channel: SandboxChannel = api_channel("getRichMenu")
) -> dict[str, Any]:
    """Return one rich menu."""
    return richmenus.get(state, channel, rich_menu_id).response()


@router.delete("/v2/bot/richmenu/{rich_menu_id}")
def delete_rich_menu(
    rich_menu_id: str, state: State, channel: SandboxChannel = api_channel("deleteRichMenu")
) -> dict[str, Any]:
    """Delete a rich menu."""
    richmenus.delete(state, channel, rich_menu_id)
    return {}


@router.post("/v2/bot/richmenu/{rich_menu_id}/content")
async def set_rich_menu_image(
    rich_menu_id: str,
    request: Request,
    state: State,
    channel: SandboxChannel = api_channel("setRichMenuImage"),
) -> dict[str, Any]:
    """Upload the menu's image (an api-data.line.me path)."""
    content_type = request.headers.get("content-type", "")
    richmenus.set_image(state, channel, rich_menu_id, await request.body(), content_type)
    return {}


@router.get("/v2/bot/richmenu/{rich_menu_id}/content")
def get_rich_menu_image(
    rich_menu_id: str, state: State, channel: SandboxChannel = api_channel("getRichMenuImage")
) -> Response:
    """Download the menu's image (an api-data.line.me path)."""
    menu = richmenus.get(state, channel, rich_menu_id)
    if menu.image is None:
        return JSONResponse({"message": "Not found"}, status_code=404)
    return Response(menu.image, media_type=menu.image_content_type)


@router.post("/v2/bot/richmenu/bulk/link", status_code=202)
async def link_rich_menu_id_to_users(
    request: Request, state: State, channel: SandboxChannel = api_channel("linkRichMenuIdToUsers")
) -> JSONResponse:
    """Link a rich menu to 1-500 users."""
    richmenus.bulk_link(state, channel, await json_body(request))
    return _accepted()


@router.post("/v2/bot/richmenu/bulk/unlink", status_code=202)
async def unlink_rich_menu_id_from_users(
    request: Request,
    state: State,
    channel: SandboxChannel = api_channel("unlinkRichMenuIdFromUsers"),
) -> JSONResponse:
    """Unlink the rich menus of 1-500 users."""
    richmenus.bulk_unlink(state, channel, await json_body(request))
    return _accepted()


@router.post("/v2/bot/user/all/richmenu/{rich_menu_id}")
def set_default_rich_menu(
    rich_menu_id: str, state: State, channel: SandboxChannel = api_channel("setDefaultRichMenu")
) -> dict[str, Any]:
    """Make a rich menu the default one."""
    richmenus.set_default(state, channel, rich_menu_id)
    return {}


@router.get("/v2/bot/user/all/richmenu")
def get_default_rich_menu_id(
    state: State, channel: SandboxChannel = api_channel("getDefaultRichMenuId")
) -> dict[str, str]:
    """Return the default rich menu's id."""
    return {"richMenuId": richmenus.default(state, channel)}


@router.delete("/v2/bot/user/all/richmenu")
def cancel_default_rich_menu(
    state: State, channel: SandboxChannel = api_channel("cancelDefaultRichMenu")
) -> dict[str, Any]:
    """Clear the default rich menu."""
    with state.lock:
        channel.default_rich_menu_id = None
    return {}


@router.get("/v2/bot/user/{user_id}/richmenu")
def get_rich_menu_id_of_user(
    user_id: str, state: State, channel: SandboxChannel = api_channel("getRichMenuIdOfUser")
) -> dict[str, str]:
    """Return the rich menu linked to a user."""
    return {"richMenuId": richmenus.of_user(state, channel, user_id)}


@router.post("/v2/bot/user/{user_id}/richmenu/{rich_menu_id}")
def link_rich_menu_id_to_user(
    user_id: str,
    rich_menu_id: str,
    state: State,
    channel: SandboxChannel = api_channel("linkRichMenuIdToUser"),
) -> dict[str, Any]:
    """Link a rich menu to one user."""
    richmenus.link(state, channel, user_id, rich_menu_id)
    return {}


@router.delete("/v2/bot/user/{user_id}/richmenu")
def unlink_rich_menu_id_from_user(
    user_id: str, state: State, channel: SandboxChannel = api_channel("unlinkRichMenuIdFromUser")
) -> dict[str, Any]:
    """Unlink a user's rich menu."""
    richmenus.bulk_unlink(state, channel, {"userIds": [user_id]})
    return {}
