"""A person's rights from the customer chart, for the shop's owners: download everything the
hub holds on the friend (APPI 開示), or erase it (利用停止・消去) after typing who it is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.charts import friend_for
from console.context import PREFIX, render
from core.ids import RowId
from idlink.models import Friend, FriendStatus
from privacy import erasure, export, people
from staff.permissions import Action

router = APIRouter()


@router.get("/friends/{friend_id}/export")
def export_page(
    request: Request, friend_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """The friend's data as a zip archive (JSON and CSV); audited with the staff member."""
    friend = friend_for(session, staff, friend_id, Action.EXPORT_DATA)
    archive = export.export_friend(
        session,
        shop_id=staff.shop.id,
        friend_id=friend.id,
        actor=staff.actor,
        ip=client_ip(request),
    )
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="friend-{friend.id}.zip"'},
    )


def _erase_form(
    request: Request,
    session: Session,
    staff: Staff,
    friend: Friend,
    *,
    typed: str = "",
    error: bool = False,
) -> Response:
    return render(
        request,
        "friends/erase.html",
        {
            "friend": friend,
            "words": people.confirmation_words(session, friend),
            "typed": typed,
            "error": error,
            "erased": friend.status == FriendStatus.ERASED,
        },
        status_code=422 if error else 200,
    )


@router.get("/friends/{friend_id}/erase")
def erase_page(
    request: Request, friend_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """What erasure removes and keeps, and the box to type who is erased."""
    friend = friend_for(session, staff, friend_id, Action.ERASE_DATA)
    return _erase_form(request, session, staff, friend)


@router.post("/friends/{friend_id}/erase")
def erase_submit(
    request: Request,
    friend_id: RowId,
    staff: FormStaff,
    session: DbSession,
    confirmation: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Erase the person behind the friend once the typed words name them; back to the chart."""
    friend = friend_for(session, staff, friend_id, Action.ERASE_DATA)
    if friend.status == FriendStatus.ERASED:
        return RedirectResponse(f"{PREFIX}/friends/{friend.id}", status_code=303)
    typed = confirmation.strip()
    if typed not in people.confirmation_words(session, friend):
        return _erase_form(
            request,
            session,
            staff,
            friend,
            typed=typed,
            error=True,
        )
    erasure.erase_friend(
        session,
        shop_id=staff.shop.id,
        friend_id=friend.id,
        actor=staff.actor,
        ip=client_ip(request),
    )
    return RedirectResponse(f"{PREFIX}/friends/{friend.id}?erased=1", status_code=303)
