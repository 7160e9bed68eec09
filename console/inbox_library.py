"""What a shop prepares for its inbox (marks, canned replies), each staff member's mentions,
and the per-staff report of reply and resolve times."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from console.auth import CurrentStaff, DbSession, FormStaff, Staff
from console.context import PREFIX, render
from console.inbox_templates import Problem, variables_problem
from core.clock import utcnow
from core.ids import RowId
from inbox import library, notes, queries
from inbox.library import NameTaken
from inbox.schemas import CannedIn, MarkIn
from messaging.compose import library as template_library
from messaging.compose.templates import InvalidTemplate
from staff.permissions import Action

router = APIRouter()

COLOURS = ("gray", "red", "orange", "yellow", "green", "blue", "purple", "pink")
REPORT_DAYS = 30


@router.get("/inbox/marks")
def marks_page(
    request: Request, staff: CurrentStaff, session: DbSession, done: str | None = None
) -> Response:
    staff.require(Action.MANAGE_INBOX)
    return render(
        request,
        "inbox/marks.html",
        {"marks": library.marks(session, staff.shop.id), "colours": COLOURS, "done": done},
    )


@router.post("/inbox/marks")
def create_mark(
    request: Request, staff: FormStaff, session: DbSession, body: Annotated[MarkIn, Form()]
) -> Response:
    staff.require(Action.MANAGE_INBOX)
    try:
        library.add_mark(session, shop_id=staff.shop.id, body=body, actor=staff.actor)
    except NameTaken:
        return render(
            request,
            "inbox/marks.html",
            {
                "marks": library.marks(session, staff.shop.id),
                "colours": COLOURS,
                "taken": body.name,
            },
            status_code=409,
        )
    return RedirectResponse(f"{PREFIX}/inbox/marks?done=created", status_code=303)


@router.post("/inbox/marks/{mark_id}/delete")
def delete_mark(mark_id: RowId, staff: FormStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_INBOX)
    library.delete_mark(session, shop_id=staff.shop.id, mark_id=mark_id, actor=staff.actor)
    return RedirectResponse(f"{PREFIX}/inbox/marks?done=deleted", status_code=303)


def _canned_page(
    request: Request,
    staff: Staff,
    session: Session,
    *,
    done: str | None = None,
    form: CannedIn | None = None,
    problem: Problem | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "inbox/canned.html",
        {
            "canned": library.canned_replies(session, staff.shop.id),
            "variables": sorted(template_library.available(session, staff.shop.id)),
            "done": done,
            "form": form,
            "problem": problem,
        },
        status_code=status_code,
    )


@router.get("/inbox/canned")
def canned_page(
    request: Request, staff: CurrentStaff, session: DbSession, done: str | None = None
) -> Response:
    staff.require(Action.MANAGE_INBOX)
    return _canned_page(request, staff, session, done=done)


@router.post("/inbox/canned")
def save_canned(
    request: Request, staff: FormStaff, session: DbSession, body: Annotated[CannedIn, Form()]
) -> Response:
    """Save the canned reply; one with a variable it cannot have is refused, nothing saved."""
    staff.require(Action.MANAGE_INBOX)
    try:
        library.save_canned(session, shop_id=staff.shop.id, body=body, actor=staff.actor)
    except InvalidTemplate as exc:
        available = template_library.available(session, staff.shop.id)
        problem = variables_problem(library.canned_template(body.body), available)
        return _canned_page(
            request,
            staff,
            session,
            form=body,
            problem=problem or Problem("line", {"detail": exc.detail}),
            status_code=exc.status_code,
        )
    return RedirectResponse(f"{PREFIX}/inbox/canned?done=saved", status_code=303)


@router.post("/inbox/canned/{code}/delete")
def delete_canned(code: str, staff: FormStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_INBOX)
    library.delete_canned(session, shop_id=staff.shop.id, code=code[:32], actor=staff.actor)
    return RedirectResponse(f"{PREFIX}/inbox/canned?done=deleted", status_code=303)


@router.get("/inbox/mentions")
def mentions_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """The notes that mentioned the staff member, newest first; seeing them reads them."""
    staff.require(Action.READ_FRIENDS)
    listed = notes.notifications(session, shop_id=staff.shop.id, staff_user_id=staff.user.id)
    notes.read_all(session, shop_id=staff.shop.id, staff_user_id=staff.user.id)
    return render(request, "inbox/mentions.html", {"mentions": listed})


@router.get("/inbox/report")
def report_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """First replies and resolutions per staff member over the last 30 days."""
    staff.require(Action.MANAGE_INBOX)
    until = utcnow()
    rows = queries.staff_report(
        session, staff.shop.id, since=until - timedelta(days=REPORT_DAYS), until=until
    )
    return render(request, "inbox/report.html", {"rows": rows, "days": REPORT_DAYS})
