"""フォーム: the shop's forms with their funnel; the builder (admins and owners) with a live
phone preview of the page friends see; the results per question, the submissions and their
CSV. Same services as the admin API."""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from console import form_builder
from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.context import PREFIX, console_context, locale_of, render
from core import csvfile
from core.errors import HubError
from core.ids import RowId
from growth import queries as route_queries
from growth.forms import queries, service
from growth.forms import render as form_render
from growth.forms.models import Form, Policy
from growth.forms.questions import Kind
from growth.forms.schemas import FormActionKind, FormIn
from staff.permissions import Action

router = APIRouter()

# Submissions listed on the results page (the admin API and the CSV have them all).
SUBMISSIONS_SHOWN = 50


def _public_url(request: Request) -> str:
    return console_context(request).settings.public_url


@router.get("/forms")
def forms_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """Every form with how many friends opened and sent it."""
    staff.require(Action.READ_FRIENDS)
    numbers = queries.summaries(session, staff.shop.id)
    return render(
        request,
        "forms/list.html",
        {
            "forms": [
                (f, numbers.get(f.id, queries.FormSummary()))
                for f in queries.forms_of(session, staff.shop.id)
            ],
            "can_manage": staff.can(Action.MANAGE_FORMS),
            "done": request.query_params.get("done"),
        },
    )


def _builder(
    request: Request,
    staff: Staff,
    session: Session,
    form: Form | None,
    spec: FormIn | None,
    *,
    error: str | None = None,
) -> Response:
    questions = spec.questions if spec else []
    values: dict[str, Any] = {
        "form": form,
        "spec": spec,
        "url": queries.form_url(_public_url(request), form.code) if form else None,
        "rows": form_builder.rows_of(questions),
        "action_rows": form_builder.action_rows(spec.actions if spec else []),
        "opens_at": form_builder.local_input(spec.opens_at if spec else None),
        "closes_at": form_builder.local_input(spec.closes_at if spec else None),
        "kinds": list(Kind),
        "action_kinds": list(FormActionKind),
        "policies": list(Policy),
        "channels": route_queries.channels_of(session, staff.shop.id),
        "preview": _preview_values(request, spec.title if spec else "", questions, 0),
        "can_manage": staff.can(Action.MANAGE_FORMS),
        "error": error,
        "done": request.query_params.get("done"),
    }
    return render(request, "forms/builder.html", values, status_code=400 if error else 200)


def _preview_values(request: Request, title: str, questions: list[Any], broken: int) -> Any:
    language = locale_of(request)
    return {
        "title": title,
        "fields": form_render.fields(questions, language, id_prefix="preview"),
        "words": form_render.words(language),
        "broken": broken,
    }


def _reasons(exc: ValidationError) -> str:
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())


@router.get("/forms/new")
def new_form_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_FORMS)
    return _builder(request, staff, session, None, None)


@router.post("/forms/preview")
async def preview(request: Request, staff: FormStaff) -> Response:
    """The phone preview of the builder's questions as they are now (nothing is saved)."""
    staff.require(Action.MANAGE_FORMS)
    form = await request.form()
    questions, broken = form_builder.preview_questions(form)
    title = str(form.get("title") or "")
    return render(
        request,
        "forms/_preview.html",
        {"preview": _preview_values(request, title, questions, broken)},
    )


async def _save(request: Request, staff: Staff, session: Session, form: Form | None) -> Response:
    data = await request.form()
    try:
        spec = form_builder.spec_of(data)
        with session.begin_nested():
            if form is None:
                form = service.create_form(
                    session,
                    shop_id=staff.shop.id,
                    spec=spec,
                    actor=staff.actor,
                    ip=client_ip(request),
                )
                done = "created"
            else:
                service.update_form(
                    session, form=form, spec=spec, actor=staff.actor, ip=client_ip(request)
                )
                done = "saved"
    except (ValidationError, ValueError, HubError) as exc:
        if form is not None:
            session.refresh(form)
        reason = (
            _reasons(exc)
            if isinstance(exc, ValidationError)
            else exc.detail
            if isinstance(exc, HubError)
            else str(exc)
        )
        current = None if form is None else _spec_of(request, session, form)
        return _builder(request, staff, session, form, current, error=reason)
    return RedirectResponse(f"{PREFIX}/forms/{form.id}?done={done}", status_code=303)


def _spec_of(request: Request, session: Session, form: Form) -> FormIn:
    out = queries.form_out(session, form, public_url=_public_url(request))
    return FormIn.model_validate(out.model_dump(include=set(FormIn.model_fields)))


@router.post("/forms")
async def create_form(request: Request, staff: FormStaff, session: DbSession) -> Response:
    staff.require(Action.MANAGE_FORMS)
    return await _save(request, staff, session, None)


@router.get("/forms/{form_id}")
def form_page(
    request: Request, form_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """The form's builder (its page's URL, questions, policy, actions) with the preview."""
    staff.require(Action.READ_FRIENDS)
    form = service.get_form(session, shop_id=staff.shop.id, form_id=form_id)
    return _builder(request, staff, session, form, _spec_of(request, session, form))


@router.post("/forms/{form_id}")
async def save_form(
    request: Request, form_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    staff.require(Action.MANAGE_FORMS)
    form = service.get_form(session, shop_id=staff.shop.id, form_id=form_id)
    return await _save(request, staff, session, form)


@router.get("/forms/{form_id}/results")
def results_page(
    request: Request, form_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """The funnel, each question's answers (a bar per choice) and the latest submissions."""
    staff.require(Action.READ_FRIENDS)
    form = service.get_form(session, shop_id=staff.shop.id, form_id=form_id)
    found = queries.results(session, form, public_url=_public_url(request))
    listed, _next = queries.submissions(session, form, before=None, limit=SUBMISSIONS_SHOWN)
    labels = {q.key: q.label for q in found.form.questions if q.key}
    return render(
        request,
        "forms/results.html",
        {"results": found, "submissions": listed, "labels": labels},
    )


@router.get("/forms/{form_id}/submissions.csv")
def submissions_csv(form_id: RowId, staff: CurrentStaff, session: DbSession) -> Response:
    """Every submission as CSV, a column per question."""
    staff.require(Action.EXPORT_FRIENDS)
    form = service.get_form(session, shop_id=staff.shop.id, form_id=form_id)
    text = csvfile.write_rows(queries.csv_rows(session, form), queries.csv_columns(form))
    return csvfile.download(io.BytesIO(text.encode("utf-8")), f"form-{form.code}.csv")
