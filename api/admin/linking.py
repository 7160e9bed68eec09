"""Staff linking under ``/api/admin/v1``: link and unlink friends and members, hand out link
codes, send the account-link message, and set a channel's LIFF app and rich menus."""

from __future__ import annotations

from fastapi import APIRouter

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody
from api.deps import AppSettings, CurrentShop, DbSession
from api.idlink import attempt
from core.clock import utcnow
from core.ids import RowId
from idlink import account_link, members, verification
from idlink import service as idlink_service
from idlink.schemas import (
    AccountLinkStartOut,
    ChannelLinkingIn,
    ChannelLinkingOut,
    LinkCodeOut,
    StaffLinkIn,
    StaffLinkOut,
)

router = APIRouter(prefix="/api/admin/v1", tags=["linking"])


@router.post(
    "/links",
    status_code=201,
    summary="Link a friend to a member",
    responses={
        404: {"model": ErrorBody, "description": "No such friend or member in this shop"},
        409: {"description": "Already linked elsewhere; the shop's policy refuses"},
    },
)
def create_link(
    body: StaffLinkIn, session: DbSession, shop: CurrentShop, actor: Actor, settings: AppSettings
) -> StaffLinkOut:
    """Link as staff; the shop's link policy (refuse or replace) applies as for members."""
    link = attempt(
        session,
        settings,
        lambda: idlink_service.link_by_staff(
            session,
            shop=shop,
            friend_id=body.friend_id,
            member_number=body.member_number,
            actor=actor,
            now=utcnow(),
        ),
    )
    return StaffLinkOut.of(link)


@router.post(
    "/links/{link_id}/unlink",
    summary="End a link",
    responses={404: {"model": ErrorBody, "description": "No active link with this id"}},
)
def end_link(link_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor) -> StaffLinkOut:
    """Unlink as staff: the friend loses the ``linked`` tag and the member rich menu."""
    return StaffLinkOut.of(
        idlink_service.unlink_by_staff(
            session, shop=shop, link_id=link_id, actor=actor, now=utcnow()
        )
    )


@router.post(
    "/members/{member_id}/link-codes",
    status_code=201,
    summary="Issue a link code",
    responses={404: {"model": ErrorBody, "description": "No such member in this shop"}},
)
def create_link_code(
    member_id: RowId, session: DbSession, shop: CurrentShop, settings: AppSettings
) -> LinkCodeOut:
    """A one-time code to print or email to the member; shown once, stored hashed."""
    member = members.get_member(session, shop_id=shop.id, member_id=member_id)
    code, plaintext = verification.issue_link_code(
        session, member=member, settings=settings, now=utcnow()
    )
    return LinkCodeOut(
        code=plaintext, member_number=member.member_number, expires_at=code.expires_at
    )


@router.post(
    "/friends/{friend_id}/account-link",
    summary="Send the account-link message",
    responses={
        404: {"model": ErrorBody, "description": "No such friend in this shop"},
        502: {"description": "LINE refused"},
        503: {"description": "LINE unreachable"},
    },
)
def start_account_link(
    friend_id: RowId, session: DbSession, shop: CurrentShop, settings: AppSettings, actor: Actor
) -> AccountLinkStartOut:
    """Push the friend a link to the hub's login page (LINE's account-link flow); audited with
    the token's name."""
    url = account_link.start_for_staff(
        session, shop=shop, friend_id=friend_id, settings=settings, actor=actor
    )
    return AccountLinkStartOut(login_url=url)


@router.patch(
    "/channels/{channel_id}/linking",
    summary="Set the LIFF app and rich menus",
    responses={404: {"model": ErrorBody, "description": "No such channel in this shop"}},
)
def configure_channel(
    channel_id: str,
    body: ChannelLinkingIn,
    session: DbSession,
    shop: CurrentShop,
    actor: Actor,
    settings: AppSettings,
) -> ChannelLinkingOut:
    """Set ``liff_id``, ``member_rich_menu_id``, ``guest_rich_menu_id`` ("" clears)."""
    channel = idlink_service.configure_channel(
        session,
        shop=shop,
        line_channel_id=channel_id,
        changes=idlink_service.ChannelLinkingChanges(**body.model_dump()),
        actor=actor,
        now=utcnow(),
    )
    return ChannelLinkingOut(
        channel_id=channel.line_channel_id,
        liff_id=channel.liff_id,
        liff_url=f"{settings.public_url}/idlink/liff/{channel.line_channel_id}",
        member_rich_menu_id=channel.member_rich_menu_id,
        guest_rich_menu_id=channel.guest_rich_menu_id,
    )
