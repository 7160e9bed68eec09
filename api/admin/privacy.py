"""A person's rights over their data: erase everything the hub holds on a friend or a member
(APPI 利用停止・消去); each erasure is audited with the counts it changed."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody
from api.deps import CurrentShop, DbSession
from privacy import erasure

router = APIRouter(tags=["privacy"])

_NOT_FOUND = {404: {"model": ErrorBody, "description": "No such friend or member in this shop"}}


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
