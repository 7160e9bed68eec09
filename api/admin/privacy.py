"""A person's rights over their data: export (APPI 開示) or erase (利用停止・消去) everything the
hub holds on a friend or a member; each is audited with counts, never the data itself."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody, OpenApiResponses
from api.deps import CurrentShop, DbSession
from privacy import erasure, export

router = APIRouter(tags=["privacy"])

_NOT_FOUND: OpenApiResponses = {
    404: {"model": ErrorBody, "description": "No such friend or member in this shop"}
}


class ErasureOut(BaseModel):
    """What an erasure changed: rows per kind (table or action); no personal data."""

    erased: dict[str, int] = Field(examples=[{"friends": 1, "inbound_events": 12}])


@router.post(
    "/friends/{friend_id}/erase",
    summary="Erase a friend's personal data",
    responses=_NOT_FOUND,
)
def erase_friend(friend_id: int, session: DbSession, shop: CurrentShop, actor: Actor) -> ErasureOut:
    """Erase the person behind the friend — and the members linked to it — from every table:
    profile, LINE user id, messages, raw events, personalised sends, identities, audit details.
    Orders, sends and links stay as counts. Erasing again changes nothing more."""
    counts = erasure.erase_friend(session, shop_id=shop.id, friend_id=friend_id, actor=actor)
    return ErasureOut(erased=counts)


@router.post(
    "/members/{member_id}/erase",
    summary="Erase a member's personal data",
    responses=_NOT_FOUND,
)
def erase_member(member_id: int, session: DbSession, shop: CurrentShop, actor: Actor) -> ErasureOut:
    """Erase the person behind the member — and the friends linked to it — from every table."""
    counts = erasure.erase_member(session, shop_id=shop.id, member_id=member_id, actor=actor)
    return ErasureOut(erased=counts)


_ZIP: OpenApiResponses = {
    200: {
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        "description": "A zip archive: `person.json` with every record, and one CSV per kind",
    },
    **_NOT_FOUND,
}


def _zip(archive: bytes, name: str) -> Response:
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
    )


@router.get(
    "/friends/{friend_id}/export",
    summary="Export a friend's data",
    response_class=Response,
    responses=_ZIP,
)
def export_friend(friend_id: int, session: DbSession, shop: CurrentShop, actor: Actor) -> Response:
    """Everything the hub holds on the person behind the friend, and the members linked to it:
    profile, tags, member card, identities, orders, bookings, messages both ways, sends, clicks,
    consent, the raw events and audit entries naming them. CSV cells never start a formula."""
    archive = export.export_friend(session, shop_id=shop.id, friend_id=friend_id, actor=actor)
    return _zip(archive, f"friend-{friend_id}")


@router.get(
    "/members/{member_id}/export",
    summary="Export a member's data",
    response_class=Response,
    responses=_ZIP,
)
def export_member(member_id: int, session: DbSession, shop: CurrentShop, actor: Actor) -> Response:
    """Everything the hub holds on the person behind the member, and the friends linked to it."""
    archive = export.export_member(session, shop_id=shop.id, member_id=member_id, actor=actor)
    return _zip(archive, f"member-{member_id}")
