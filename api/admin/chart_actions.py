"""What staff do from a friend's chart, for scripts: a 1:1 text, the LINE profile fetched
again, an enrolment in a step sequence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody
from api.deps import AppSettings, CurrentShop, DbSession
from core.ids import RowId
from idlink import profiles
from idlink.queries import find_friend, render_friends
from idlink.schemas import FriendOut
from inbox import replies
from messaging import direct, enrolment
from messaging.direct import DirectMessageIn, DirectMessageOut

router = APIRouter(tags=["friends"])

NO_FRIEND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such friend (or sequence) in this shop"}
}


class EnrolIn(BaseModel):
    sequence: str = Field(min_length=1, max_length=100, description="The sequence's name.")


@router.post(
    "/friends/{friend_id}/messages",
    summary="Send a friend a 1:1 text",
    status_code=201,
    responses={
        **NO_FRIEND,
        409: {"model": ErrorBody, "description": "`FriendNotReachable`: the friend blocked"},
    },
)
def send_message(
    friend_id: RowId,
    body: DirectMessageIn,
    session: DbSession,
    shop: CurrentShop,
    actor: Actor,
    settings: AppSettings,
) -> DirectMessageOut:
    """Plan a text to the friend through the outbox: a reply (free) when a fresh reply token is
    kept, else a push (counted). The same `key` again sends nothing twice."""
    friend = find_friend(session, shop.id, friend_id)
    sent = direct.send_text(
        session,
        friend=friend,
        message=body,
        actor=actor,
        lifetime=timedelta(seconds=settings.reply_token_seconds),
    )
    if not sent.duplicate:
        replies.record_sent_elsewhere(
            session,
            friend=friend,
            delivery_id=sent.delivery_id,
            key=body.key,
            author=actor,
            summary=body.text,
            free=sent.free,
        )
    return sent


@router.post(
    "/friends/{friend_id}/profile",
    summary="Fetch a friend's LINE profile again",
    responses={
        **NO_FRIEND,
        502: {"model": ErrorBody, "description": "`ProfileUnavailable` from LINE"},
    },
)
def refresh_profile(
    friend_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor, settings: AppSettings
) -> FriendOut:
    """The friend's display name, icon, status message and language, fetched from LINE now."""
    friend = find_friend(session, shop.id, friend_id)
    profiles.refresh(session, friend=friend, settings=settings, actor=actor)
    return render_friends(session, shop.id, [friend])[0]


@router.post(
    "/friends/{friend_id}/sequences",
    summary="Enrol a friend in a step sequence",
    status_code=201,
    responses={
        **NO_FRIEND,
        409: {"model": ErrorBody, "description": "`AlreadyEnrolled`"},
    },
)
def enrol_friend(
    friend_id: RowId, body: EnrolIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> EnrolIn:
    """Enrol the friend now; the sequence's re-entry policy applies, its first step follows."""
    friend = find_friend(session, shop.id, friend_id)
    enrolment.enrol(session, friend=friend, name=body.sequence, actor=actor)
    return body
