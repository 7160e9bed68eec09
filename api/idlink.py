"""Member linking for friends: the LIFF member card and its API, and the account-link login page.

These endpoints are public: the LINE user is proved by a verified ID token (member card) or by
the signed link the hub pushed them (account link), never by anything the browser claims.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from importlib import resources
from string import Template
from typing import Annotated, TypeVar

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.admin.consents import ConsentNow
from api.admin.schemas import OpenApiResponses
from api.deps import AppSettings, DbSession
from config import Settings
from core.clock import utcnow
from core.errors import HubError, NotSetUp, Unprocessable
from core.ids import RowId
from core.tenancy import Channel, SecondFactor, Shop, get_channel
from idlink import account_link, liff, verification
from idlink import service as idlink_service
from idlink.errors import RecordedFailure
from idlink.models import NoncePurpose
from idlink.schemas import IdTokenIn, LiffLinkIn, LinkStatusOut, NonceIn, NonceOut
from messaging.outbox import consent
from messaging.outbox.consent import Purpose

router = APIRouter(tags=["member linking"])

T = TypeVar("T")

FACTOR_INPUTS = {
    SecondFactor.BIRTH_DATE: ("生年月日 / Birth date", "date"),
    SecondFactor.PIN: ("暗証番号 / PIN", "password"),
    SecondFactor.PHONE_LAST4: ("電話番号の下4桁 / Last 4 digits of your phone", "tel"),
}


def attempt(session: Session, settings: Settings, work: Callable[[], T]) -> T:
    """Run ``work`` in a savepoint; a RecordedFailure is rolled back, recorded, committed, raised.

    The refusal's trace (a failure count, an audit row) must survive the error response, which
    rolls the request's transaction back: so it is committed here, before raising.
    """
    try:
        with session.begin_nested():
            return work()
    except RecordedFailure as failure:
        reported = failure.record(session, settings=settings, now=utcnow())
        session.commit()
        raise reported from None


def render_page(name: str, **values: str) -> str:
    text = resources.files("api").joinpath(f"pages/{name}").read_text(encoding="utf-8")
    return Template(text).substitute(values)


def _factor(shop: Shop) -> tuple[str, str]:
    return FACTOR_INPUTS[SecondFactor(shop.second_factor)]


# The LIFF member card


_UNKNOWN_CHANNEL: OpenApiResponses = {404: {"description": "No such channel"}}
_NOT_SET_UP: OpenApiResponses = {
    409: {"description": "`NotSetUp`: the channel's LIFF app or LINE Login is not set"}
}
_TOKEN_REFUSED: OpenApiResponses = {
    401: {"description": "ID token refused (expired, replayed, another channel's)"}
}
_HTML = {"text/html": {"schema": {"type": "string"}}}


@router.get(
    "/idlink/liff/{channel_id}",
    response_class=HTMLResponse,
    summary="Member card",
    responses={**_UNKNOWN_CHANNEL, **_NOT_SET_UP},
)
def member_card(channel_id: str, session: DbSession, settings: AppSettings) -> HTMLResponse:
    """The LIFF page (register it as the LIFF app's endpoint URL): link, see, unlink."""
    channel = get_channel(session, channel_id)
    if not channel.liff_id:
        raise NotSetUp(
            "the member card is not available on this channel yet",
            hint=f"channel {channel_id} has no LIFF app: set liff_id with "
            f"PATCH /api/admin/v1/channels/{channel_id}/linking",
        )
    shop = session.get_one(Shop, channel.shop_id)
    label, input_type = _factor(shop)
    config = {"channelId": channel_id, "liffId": channel.liff_id, "apiBase": "/api/idlink"}
    body = render_page(
        "member_card.html",
        shop_name=html.escape(shop.name),
        liff_sdk_url=html.escape(settings.liff_sdk_url),
        factor_label=html.escape(label),
        factor_type=input_type,
        # "<" escaped so no value can close the script element.
        config_json=json.dumps(config).replace("<", "\\u003c"),
    )
    return HTMLResponse(body)


@router.post(
    "/api/idlink/nonce",
    summary="Issue an ID token nonce",
    responses={**_UNKNOWN_CHANNEL, 429: {"description": "Too many requests from this address"}},
)
def issue_nonce(body: NonceIn, request: Request, session: DbSession) -> NonceOut:
    """A single-use nonce to request an ID token with; the token is then accepted once.

    Anyone may ask, so each client address gets a limited number per shop in a window."""
    channel = get_channel(session, body.channel_id)
    now = utcnow()
    address = request.client.host if request.client else "unknown"
    verification.count_nonce_request(session, shop_id=channel.shop_id, address=address, now=now)
    issued = idlink_service.issue_nonce(
        session, channel=channel, purpose=NoncePurpose.ID_TOKEN, now=now
    )
    return NonceOut(nonce=issued.nonce, expires_at=issued.expires_at)


@router.post(
    "/api/idlink/liff",
    summary="Link the LINE user to a member",
    responses={
        401: {"description": "ID token refused, or the membership details do not match"},
        403: {"description": "The LINE user is not a friend of the channel"},
        **_UNKNOWN_CHANNEL,
        409: {"description": "Already linked elsewhere and the shop refuses replacing"},
        429: {"description": "Too many failed attempts; the detail says until when"},
    },
)
def link_liff(body: LiffLinkIn, session: DbSession, settings: AppSettings) -> LinkStatusOut:
    """Verify the ID token and the member's proof, then link them."""
    channel = get_channel(session, body.channel_id)
    status = attempt(
        session,
        settings,
        lambda: liff.link_by_liff(
            session,
            channel=channel,
            id_token=body.id_token,
            nonce=body.nonce,
            proof=body.proof(),
            settings=settings,
            now=utcnow(),
        ),
    )
    return LinkStatusOut.model_validate(status, from_attributes=True)


@router.post(
    "/api/idlink/liff/status",
    summary="Link status of the LINE user",
    responses={**_TOKEN_REFUSED, **_UNKNOWN_CHANNEL, **_NOT_SET_UP},
)
def liff_status(body: IdTokenIn, session: DbSession, settings: AppSettings) -> LinkStatusOut:
    """Whether the ID token's LINE user is linked, and to which member number."""
    return _by_id_token(liff.liff_status, body, session, settings)


@router.post(
    "/api/idlink/liff/unlink",
    summary="Unlink the LINE user from their member",
    responses={**_TOKEN_REFUSED, **_UNKNOWN_CHANNEL, **_NOT_SET_UP},
)
def unlink_liff(body: IdTokenIn, session: DbSession, settings: AppSettings) -> LinkStatusOut:
    """The member ends their own link."""
    return _by_id_token(liff.unlink_by_liff, body, session, settings)


def _by_id_token(
    call: Callable[..., liff.LinkStatus], body: IdTokenIn, session: Session, settings: Settings
) -> LinkStatusOut:
    """Run a LIFF action for the LINE user the ID token names, on the channel the body names."""
    status = call(
        session,
        channel=get_channel(session, body.channel_id),
        id_token=body.id_token,
        nonce=body.nonce,
        settings=settings,
        now=utcnow(),
    )
    return LinkStatusOut.model_validate(status, from_attributes=True)


class LiffConsentIn(IdTokenIn):
    """The friend gives or withdraws consent to one purpose on the member card."""

    purpose: Purpose = Field(description="`marketing` (campaigns, sequences) or `service`.")
    granted: bool = Field(description="true: given; false: withdrawn.")


class LiffConsentsOut(BaseModel):
    """Per purpose: whether the friend takes it now, since when and from where."""

    current: dict[str, ConsentNow]


_NOT_A_FRIEND: OpenApiResponses = {
    403: {"description": "The LINE user is not a friend of the channel"}
}


def _consents(
    body: IdTokenIn, session: Session, settings: Settings, change: tuple[Purpose, bool] | None
) -> LiffConsentsOut:
    found = consent.by_liff(
        session,
        channel=get_channel(session, body.channel_id),
        id_token=body.id_token,
        nonce=body.nonce,
        settings=settings,
        change=change,
    )
    return LiffConsentsOut(current={k: ConsentNow.model_validate(v) for k, v in found.items()})


@router.post(
    "/api/idlink/liff/consents",
    summary="Consent per purpose of the LINE user",
    responses={**_TOKEN_REFUSED, **_NOT_A_FRIEND, **_UNKNOWN_CHANNEL, **_NOT_SET_UP},
)
def liff_consents(body: IdTokenIn, session: DbSession, settings: AppSettings) -> LiffConsentsOut:
    """Whether the ID token's friend takes marketing and service messages now."""
    return _consents(body, session, settings, None)


@router.post(
    "/api/idlink/liff/consent",
    summary="Give or withdraw consent to a purpose",
    responses={**_TOKEN_REFUSED, **_NOT_A_FRIEND, **_UNKNOWN_CHANNEL, **_NOT_SET_UP},
)
def liff_consent(body: LiffConsentIn, session: DbSession, settings: AppSettings) -> LiffConsentsOut:
    """Recorded with source `liff`; a withdrawal suppresses the friend's pending sends of it."""
    return _consents(body, session, settings, (body.purpose, body.granted))


# The account-link login page


def _login_page(
    channel: Channel,
    shop: Shop,
    *,
    link_token: str,
    friend: int,
    sig: str,
    member_number: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    label, input_type = _factor(shop)
    body = render_page(
        "account_link.html",
        shop_name=html.escape(shop.name),
        action=html.escape(f"{account_link.LOGIN_PATH}/{channel.line_channel_id}"),
        link_token=html.escape(link_token),
        friend=str(friend),
        sig=html.escape(sig),
        member_number=html.escape(member_number),
        factor_label=html.escape(label),
        factor_type=input_type,
        error_html=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
    )
    return HTMLResponse(body, status_code=status_code)


@router.get(
    account_link.LOGIN_PATH + "/{channel_id}",
    response_class=HTMLResponse,
    summary="Account-link login page",
    responses={
        400: {"description": "The link was altered or is another channel's"},
        **_UNKNOWN_CHANNEL,
    },
)
def account_link_page(
    channel_id: str,
    session: DbSession,
    link_token: Annotated[str, Query(alias="linkToken")],
    friend: RowId,
    sig: str,
) -> HTMLResponse:
    """The form a friend reaches from the pushed account-link message."""
    channel, _ = account_link.login_context(
        session, line_channel_id=channel_id, link_token=link_token, friend_id=friend, sig=sig
    )
    shop = session.get_one(Shop, channel.shop_id)
    return _login_page(channel, shop, link_token=link_token, friend=friend, sig=sig)


@router.post(
    account_link.LOGIN_PATH + "/{channel_id}",
    response_class=HTMLResponse,
    response_model=None,
    status_code=303,
    summary="Verify the member and continue to LINE",
    responses={
        400: {"description": "The link was altered or is another channel's"},
        **_UNKNOWN_CHANNEL,
        **{
            status: {"description": f"{meaning}: the form again, with the reason", "content": _HTML}
            for status, meaning in [
                (401, "The membership details do not match"),
                (409, "Linked elsewhere and the shop refuses replacing"),
                (410, "The account-link token has expired"),
                (422, "The form is incomplete"),
                (429, "Too many failed attempts"),
            ]
        },
    },
)
def account_link_submit(
    channel_id: str,
    session: DbSession,
    settings: AppSettings,
    link_token: Annotated[str, Form(alias="linkToken")],
    friend: Annotated[RowId, Form()],
    sig: Annotated[str, Form()],
    member_number: Annotated[str, Form()] = "",
    second_factor: Annotated[str, Form()] = "",
    link_code: Annotated[str, Form()] = "",
) -> Response:
    """303 to LINE's account-link dialog on success; the form again with the reason if not."""
    channel, known_friend = account_link.login_context(
        session, line_channel_id=channel_id, link_token=link_token, friend_id=friend, sig=sig
    )
    shop = session.get_one(Shop, channel.shop_id)
    proof = verification.Proof(
        member_number=member_number or None,
        second_factor=second_factor or None,
        link_code=link_code or None,
    )
    try:
        if not proof.link_code and not (proof.member_number and proof.second_factor):
            raise Unprocessable(f"Enter your member number and {_factor(shop)[0]}, or a link code.")
        dialog = attempt(
            session,
            settings,
            lambda: account_link.begin(
                session,
                channel=channel,
                friend=known_friend,
                link_token=link_token,
                proof=proof,
                settings=settings,
                now=utcnow(),
            ),
        )
    except HubError as exc:
        return _login_page(
            channel,
            shop,
            link_token=link_token,
            friend=friend,
            sig=sig,
            member_number=member_number,
            error=exc.detail,
            status_code=exc.status_code,
        )
    return RedirectResponse(dialog, status_code=303)
