"""A form's public side: the page its URL opens (a LIFF page that identifies the friend by
their ID token, shows the questions and sends the answers), and the two calls it makes."""

from __future__ import annotations

import html
import json
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse

from api.admin.schemas import OpenApiResponses
from api.deps import AppSettings, DbSession
from api.idlink import render_page
from core.clock import utcnow
from core.errors import NotSetUp
from core.tenancy import Channel, Shop
from growth.forms import render, service
from growth.forms.questions import language_of
from growth.forms.schemas import FormCode, OpenIn, OpenOut, SubmitIn, SubmitOut

router = APIRouter(tags=["forms"])

PAGE_WORDS = {
    "ja": {
        "opening": "LINEを開いています…",
        "sending": "送信しています…",
        "retry": "もう一度お試しください。",
    },
    "en": {
        "opening": "Opening LINE…",
        "sending": "Sending…",
        "retry": "Please try again.",
    },
}
_TOKEN_REFUSED: OpenApiResponses = {
    401: {"description": "ID token refused (expired, another channel's)"}
}
_NO_FORM: OpenApiResponses = {404: {"description": "No such form"}}


@router.get(
    "/f/{code}",
    response_class=HTMLResponse,
    summary="A form's page",
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}},
        **_NO_FORM,
        409: {"description": "`NotSetUp`: the channel has no LIFF app"},
    },
)
def form_page(
    code: Annotated[str, Path(pattern=r"^[0-9a-z]{6,32}$")],
    session: DbSession,
    settings: AppSettings,
    lang: Annotated[str | None, Query(pattern=r"^(ja|en)$")] = None,
    accept_language: Annotated[str | None, Header(max_length=200)] = None,
) -> HTMLResponse:
    """The form as a mobile page in Japanese or English (``?lang=``, else the browser's)."""
    form = service.form_of_code(session, code)
    channel = session.get_one(Channel, form.channel_id)
    if not channel.liff_id:
        raise NotSetUp(
            "this form is not available yet",
            hint=f"channel {channel.line_channel_id} has no LIFF app: set liff_id with "
            f"PATCH /api/admin/v1/channels/{channel.line_channel_id}/linking",
        )
    shop = session.get_one(Shop, channel.shop_id)
    language = language_of(lang or accept_language)
    page_words = {
        **PAGE_WORDS[language],
        **render.words(language),
        "fix": service.CHECK_ANSWERS[language],
    }
    config = {
        "liffId": channel.liff_id,
        "openUrl": f"/api/forms/{code}/open",
        "submitUrl": f"/api/forms/{code}/submit",
        "language": language,
        **page_words,
    }
    description = (
        f'<p class="lf-text">{html.escape(form.description)}</p>' if form.description else ""
    )
    body = render_page(
        "form.html",
        lang=language,
        title=html.escape(form.title),
        shop_name=html.escape(shop.name),
        description=description,
        fields=str(render.fields(service.questions_of(form), language)),
        send=html.escape(page_words["send"]),
        opening=html.escape(page_words["opening"]),
        liff_sdk_url=html.escape(settings.liff_sdk_url),
        # "<" escaped so no value can close the script element.
        config_json=json.dumps(config, ensure_ascii=False).replace("<", "\\u003c"),
    )
    return HTMLResponse(body)


@router.post(
    "/api/forms/{code}/open",
    summary="Open a form as a friend",
    responses={**_TOKEN_REFUSED, **_NO_FORM},
)
def open_form(
    code: Annotated[str, Path(pattern=r"^[0-9a-z]{6,32}$")],
    body: OpenIn,
    session: DbSession,
    settings: AppSettings,
) -> OpenOut:
    """Called by the page with the LIFF ID token: the opening is counted, and the page learns
    whether the friend may answer now (and their answers, when they may change them)."""
    return service.open_form(
        session,
        code=code,
        id_token=body.id_token,
        language=body.language,
        settings=settings,
        now=utcnow(),
    )


@router.post(
    "/api/forms/{code}/submit",
    summary="Send a form's answers",
    response_model=SubmitOut,
    responses={
        **_TOKEN_REFUSED,
        403: {"description": "The LINE user is not a friend of the shop's account"},
        **_NO_FORM,
        409: {"description": "`FormNotOpen`: not open yet, closed, or already answered"},
        422: {"description": "`InvalidAnswers`: `fields` holds each field's message"},
        429: {"description": "`TooManySubmissions`: the friend sent it too often just now"},
    },
)
def submit(
    code: FormCode, body: SubmitIn, session: DbSession, settings: AppSettings
) -> SubmitOut | JSONResponse:
    """Check the answers by the form's rules (all or nothing), save them, set what they map to
    and run the form's actions; the thank-you to show."""
    try:
        return service.submit(session, code=code, body=body, settings=settings, now=utcnow())
    except service.InvalidAnswers as exc:
        return JSONResponse(
            {"error": exc.code, "detail": exc.detail, "fields": exc.fields},
            status_code=exc.status_code,
        )
