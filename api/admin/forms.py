"""Forms: declare them (questions, policy, dates, actions), read their submissions, their
results per question with the funnel, and the CSV of every submission."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody, OpenApiResponses
from api.deps import AppSettings, CurrentShop, DbSession
from core import csvfile
from core.ids import RowId
from growth.forms import queries, service
from growth.forms.schemas import FormIn, FormList, FormOut, FormResults, SubmissionList

router = APIRouter(tags=["forms"])

NOT_FOUND: OpenApiResponses = {404: {"model": ErrorBody, "description": "No such form"}}
EXISTS: OpenApiResponses = {
    409: {"model": ErrorBody, "description": "The shop has a form by that name"}
}
NO_CHANNEL: OpenApiResponses = {
    404: {"model": ErrorBody, "description": "No such form, or no such channel in this shop"}
}
CHANNEL_AMBIGUOUS: OpenApiResponses = {
    422: {"model": ErrorBody, "description": "The shop has several LINE accounts: name one"}
}


class FormDeleted(BaseModel):
    deleted: int


@router.get("/forms", summary="List forms")
def list_forms(session: DbSession, shop: CurrentShop, settings: AppSettings) -> FormList:
    """The shop's forms by name, each with its page's URL."""
    return FormList(
        items=[
            queries.form_out(session, f, public_url=settings.public_url)
            for f in queries.forms_of(session, shop.id)
        ]
    )


@router.post(
    "/forms",
    summary="Create a form",
    status_code=201,
    responses=EXISTS | NO_CHANNEL | CHANNEL_AMBIGUOUS,
)
def create_form(
    body: FormIn, session: DbSession, shop: CurrentShop, settings: AppSettings, actor: Actor
) -> FormOut:
    """A new form with a fresh code for its page; audited with the token's name."""
    form = service.create_form(session, shop_id=shop.id, spec=body, actor=actor)
    return queries.form_out(session, form, public_url=settings.public_url)


@router.get("/forms/{form_id}", summary="Get a form", responses=NOT_FOUND)
def get_form(
    form_id: RowId, session: DbSession, shop: CurrentShop, settings: AppSettings
) -> FormOut:
    form = service.get_form(session, shop_id=shop.id, form_id=form_id)
    return queries.form_out(session, form, public_url=settings.public_url)


@router.put(
    "/forms/{form_id}",
    summary="Change a form",
    responses=NO_CHANNEL | EXISTS | CHANNEL_AMBIGUOUS,
)
def update_form(
    form_id: RowId,
    body: FormIn,
    session: DbSession,
    shop: CurrentShop,
    settings: AppSettings,
    actor: Actor,
) -> FormOut:
    """Replace the form's questions, policy, dates and actions; its URL and answers stay."""
    form = service.get_form(session, shop_id=shop.id, form_id=form_id)
    service.update_form(session, form=form, spec=body, actor=actor)
    return queries.form_out(session, form, public_url=settings.public_url)


@router.delete("/forms/{form_id}", summary="Delete a form", responses=NOT_FOUND)
def delete_form(form_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor) -> FormDeleted:
    """Delete the form and its submissions (what they set on friends stays); audited."""
    form = service.get_form(session, shop_id=shop.id, form_id=form_id)
    service.delete_form(session, form=form, actor=actor)
    return FormDeleted(deleted=form_id)


@router.get("/forms/{form_id}/results", summary="A form's results", responses=NOT_FOUND)
def form_results(
    form_id: RowId, session: DbSession, shop: CurrentShop, settings: AppSettings
) -> FormResults:
    """The funnel (opened, sent) and per question: how often each choice was picked, or the
    latest answers. Each friend's latest submission counts (every one, for `many`)."""
    form = service.get_form(session, shop_id=shop.id, form_id=form_id)
    return queries.results(session, form, public_url=settings.public_url)


@router.get("/forms/{form_id}/submissions", summary="A form's submissions", responses=NOT_FOUND)
def form_submissions(
    form_id: RowId,
    session: DbSession,
    shop: CurrentShop,
    before: Annotated[int | None, Query(ge=1, description="`next_before` of the last page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SubmissionList:
    """Every submission, newest first, with what it did; `latest` marks each friend's last."""
    form = service.get_form(session, shop_id=shop.id, form_id=form_id)
    items, next_before = queries.submissions(session, form, before=before, limit=limit)
    return SubmissionList(items=items, next_before=next_before)


@router.get(
    "/forms/{form_id}/submissions.csv",
    summary="A form's submissions as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **NOT_FOUND},
)
def form_submissions_csv(form_id: RowId, session: DbSession, shop: CurrentShop) -> Response:
    """One row per submission, a column per question (choices picked joined by ", ")."""
    form = service.get_form(session, shop_id=shop.id, form_id=form_id)
    text = csvfile.write_rows(queries.csv_rows(session, form), queries.csv_columns(form))
    return csvfile.download(io.BytesIO(text.encode("utf-8")), f"form-{form.code}.csv")
