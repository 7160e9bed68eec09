"""Consent per purpose of a friend: what they take now, and every change with where it came
from. Recording a withdrawal suppresses what is pending of that purpose."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody, OpenApiResponses
from api.deps import CurrentShop, DbSession
from core.ids import RowId
from idlink.models import Friend
from messaging.outbox import consent
from messaging.outbox.consent import ConsentSource, Purpose

router = APIRouter(tags=["consent"])

_NOT_FOUND: OpenApiResponses = {
    404: {"model": ErrorBody, "description": "No such friend in this shop"}
}


class ConsentIn(BaseModel):
    """A consent given or withdrawn, and where the friend gave it."""

    model_config = ConfigDict(extra="forbid")

    purpose: Purpose = Field(description="`marketing` (campaigns, sequences) or `service`.")
    granted: bool = Field(description="true: given; false: withdrawn.")
    source: ConsentSource = Field(ConsentSource.API, description="Where it was given.")


class ConsentNow(BaseModel):
    granted: bool = Field(description="Whether sends of this purpose reach the friend now.")
    recorded_at: datetime | None = Field(description="Last change (null: never recorded).")
    source: str | None


class ConsentRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    purpose: str
    granted: bool
    source: str
    recorded_by: str
    recorded_at: datetime


class ConsentsOut(BaseModel):
    """A friend's consent per purpose now, and its history, oldest first."""

    friend_id: int
    current: dict[str, ConsentNow]
    history: list[ConsentRecordOut]


def _render(session: Session, friend: Friend) -> ConsentsOut:
    return ConsentsOut(
        friend_id=friend.id,
        current={
            k: ConsentNow.model_validate(v)
            for k, v in consent.current(session, friend=friend).items()
        },
        history=[
            ConsentRecordOut.model_validate(r) for r in consent.history(session, friend=friend)
        ],
    )


@router.get(
    "/friends/{friend_id}/consents", summary="A friend's consent per purpose", responses=_NOT_FOUND
)
def get_consents(friend_id: RowId, session: DbSession, shop: CurrentShop) -> ConsentsOut:
    """Marketing and service: whether each reaches the friend now, and every recorded change."""
    friend = consent.friend_of(session, shop_id=shop.id, friend_id=friend_id)
    return _render(session, friend)


@router.post(
    "/friends/{friend_id}/consents",
    summary="Record a consent given or withdrawn",
    status_code=status.HTTP_201_CREATED,
    responses=_NOT_FOUND,
)
def record_consent(
    friend_id: RowId, body: ConsentIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> ConsentsOut:
    """Append to the friend's consent ledger; a withdrawal suppresses the friend's pending
    sends of that purpose (a reminder is service; campaigns and sequences are marketing)."""
    friend = consent.friend_of(session, shop_id=shop.id, friend_id=friend_id)
    consent.record(
        session,
        friend=friend,
        purpose=body.purpose,
        granted=body.granted,
        source=body.source,
        actor=actor,
    )
    return _render(session, friend)
