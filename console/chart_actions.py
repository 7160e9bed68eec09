"""What staff do from the chart besides tags, notes, owner and fields: send a 1:1 text, fetch
the LINE profile again, enrol the friend in a step sequence."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from console.auth import DbSession, FormStaff, Staff, client_ip
from console.charts import chart_part, friend_for
from console.context import PREFIX, console_context
from core.ids import RowId
from idlink import account_link, profiles
from idlink.models import Friend, FriendStatus
from inbox import replies
from messaging import direct, enrolment
from messaging.direct import DirectMessageIn, DirectMessageOut
from staff.permissions import Action

router = APIRouter()


def action_values(
    request: Request, staff: Staff, session: Session, friend: Friend
) -> dict[str, Any]:
    """What the chart's message and sequence sections show."""
    lifetime = timedelta(seconds=console_context(request).settings.reply_token_seconds)
    return {
        "can_message": staff.can(Action.SEND_MESSAGES),
        "can_refresh": staff.can(Action.WRITE_FIELDS),
        "reachable": friend.status == FriendStatus.FOLLOWED,
        "free": direct.reply_is_free(session, friend, lifetime=lifetime),
        "message_key": secrets.token_urlsafe(16),
        "in_progress": enrolment.in_progress(session, friend),
        "enrolable": enrolment.enrolable(session, friend),
    }


def _section(
    request: Request, staff: Staff, session: Session, friend: Friend, template: str, **extra: Any
) -> Response:
    return chart_part(
        request,
        friend,
        template,
        lambda: {
            "friend_id": friend.id,
            **action_values(request, staff, session, friend),
            **extra,
        },
    )


@router.post("/friends/{friend_id}/messages")
def send_message(
    request: Request,
    friend_id: RowId,
    staff: FormStaff,
    session: DbSession,
    body: Annotated[DirectMessageIn, Form()],
) -> Response:
    """Send the friend a text through the outbox (a free reply when possible); once per form."""
    friend = friend_for(session, staff, friend_id, Action.SEND_MESSAGES)
    lifetime = timedelta(seconds=console_context(request).settings.reply_token_seconds)
    sent: DirectMessageOut = direct.send_text(
        session,
        friend=friend,
        message=body,
        actor=staff.actor,
        lifetime=lifetime,
        ip=client_ip(request),
    )
    if not sent.duplicate:
        replies.record_sent_elsewhere(
            session,
            friend=friend,
            delivery_id=sent.delivery_id,
            key=body.key,
            author=staff.actor,
            summary=body.text,
            free=sent.free,
        )
    return _section(request, staff, session, friend, "friends/_message.html", sent=sent)


@router.post("/friends/{friend_id}/profile")
def refresh_profile(
    request: Request, friend_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    """Fetch the friend's LINE profile again now."""
    friend = friend_for(session, staff, friend_id, Action.WRITE_FIELDS)
    profiles.refresh(
        session,
        friend=friend,
        settings=console_context(request).settings,
        actor=staff.actor,
        ip=client_ip(request),
    )
    return RedirectResponse(f"{PREFIX}/friends/{friend.id}", status_code=303)


@router.post("/friends/{friend_id}/sequences")
def enrol(
    request: Request,
    friend_id: RowId,
    staff: FormStaff,
    session: DbSession,
    sequence: Annotated[str, Form(max_length=100)],
) -> Response:
    """Enrol the friend in a step sequence of their channel now."""
    friend = friend_for(session, staff, friend_id, Action.SEND_MESSAGES)
    enrolment.enrol(session, friend=friend, name=sequence, actor=staff.actor, ip=client_ip(request))
    return _section(request, staff, session, friend, "friends/_sequences.html", enrolled=sequence)


@router.post("/friends/{friend_id}/account-link")
def send_account_link(
    request: Request, friend_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    """Send the friend LINE's account-link message: a link to the hub's login page, where they
    sign in with their member number and PIN."""
    friend = friend_for(session, staff, friend_id, Action.SEND_MESSAGES)
    account_link.start_for_staff(
        session,
        shop=staff.shop,
        friend_id=friend.id,
        settings=console_context(request).settings,
        actor=staff.actor,
        ip=client_ip(request),
    )
    return RedirectResponse(f"{PREFIX}/friends/{friend.id}?link_sent=1", status_code=303)
