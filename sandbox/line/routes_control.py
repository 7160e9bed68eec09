"""The sandbox's own control API under ``/sandbox``: set up channels and users, act as users,
inspect what they received and which webhooks were sent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from sandbox.line import pages
from sandbox.line.deps import get_simulator, get_state
from sandbox.line.login import liff_endpoint
from sandbox.line.models import WebhookDelivery
from sandbox.line.simulate import Simulator
from sandbox.line.state import SandboxState

router = APIRouter(prefix="/sandbox")

State = Annotated[SandboxState, Depends(get_state)]
Sim = Annotated[Simulator, Depends(get_simulator)]


class ChannelIn(BaseModel):
    """Body of ``POST /sandbox/channels``; same names as ``SandboxState.add_channel``."""

    channel_id: str
    channel_secret: str
    access_token: str
    bot_user_id: str | None = None
    login_channel_id: str | None = None
    login_channel_secret: str | None = None
    webhook_url: str | None = None
    mode: Literal["active", "standby"] = "active"
    display_name: str = "Sandbox shop"
    monthly_quota: int | None = 5000


class ChannelPatch(BaseModel):
    """Body of ``PATCH /sandbox/channels/{channel_id}``: only the fields given change."""

    channel_secret: str | None = None
    access_token: str | None = None
    login_channel_id: str | None = None
    login_channel_secret: str | None = None
    webhook_url: str | None = None
    mode: Literal["active", "standby"] | None = None
    display_name: str | None = None
    monthly_quota: int | None = None


class UserIn(BaseModel):
    """Body of ``POST /sandbox/users``; a ``U`` + 32 hex id is generated when absent."""

    user_id: str | None = None
    display_name: str = "LINE user"
    picture_url: str | None = None
    status_message: str | None = None
    language: str | None = "ja"


class ChannelRef(BaseModel):
    """Which channel a simulated action targets (the first channel when absent)."""

    channel_id: str | None = None


class TextIn(ChannelRef):
    """A text message a simulated user sends to the bot."""

    text: str
    quoted_message_id: str | None = None


class StickerIn(ChannelRef):
    """A sticker a simulated user sends to the bot."""

    package_id: str = "446"
    sticker_id: str = "1988"
    keywords: list[str] | None = None


class PostbackIn(ChannelRef):
    """A postback action a simulated user triggers."""

    data: str
    params: dict[str, str] | None = None


class IdTokenIn(BaseModel):
    """Parameters of an ID token issued for a simulated user."""

    login_channel_id: str
    nonce: str | None = None
    alg: Literal["ES256", "HS256"] = "ES256"
    expires_in: int = 3600


class LiffAppIn(BaseModel):
    """A LIFF app to register: its LINE Login channel and the hub page it opens."""

    login_channel_id: str
    endpoint_url: str
    liff_id: str | None = None
    view_type: Literal["compact", "tall", "full"] = "full"


class RateLimitIn(BaseModel):
    """A rate limit override for one endpoint (operationId)."""

    endpoint: str
    limit: int
    per_seconds: float = 1.0


class FailuresIn(BaseModel):
    """Statuses the next calls of an endpoint (operationId) answer with."""

    endpoint: str
    statuses: list[int]


class ReplyTokenTtlIn(BaseModel):
    """How long reply tokens issued from now on stay valid."""

    seconds: float = Field(gt=0)


class DelayIn(BaseModel):
    """A delay before answering the next calls of an endpoint (operationId)."""

    endpoint: str
    seconds: float
    times: int = 1


class LostAnswersIn(BaseModel):
    """The next calls of an endpoint (operationId) take effect but answer 500."""

    endpoint: str
    times: int = Field(1, ge=1, le=100)


@router.post("/channels")
def create_channel(body: ChannelIn, state: State) -> dict[str, Any]:
    """Register a channel."""
    fields = body.model_dump()
    with _valid():
        channel = state.add_channel(
            fields.pop("channel_id"),
            fields.pop("channel_secret"),
            fields.pop("access_token"),
            **fields,
        )
    return channel.to_dict()


@router.get("/channels")
def list_channels(state: State) -> list[dict[str, Any]]:
    """List the registered channels."""
    with state.lock:
        return [c.to_dict() for c in state.channels.values()]


@router.patch("/channels/{channel_id}")
def update_channel(channel_id: str, body: ChannelPatch, state: State) -> dict[str, Any]:
    """Change a channel's settings (webhook URL, mode, quota...)."""
    with _known():
        return state.update_channel(channel_id, **body.model_dump(exclude_unset=True)).to_dict()


@router.post("/users")
def create_user(body: UserIn, state: State) -> dict[str, Any]:
    """Create a simulated user."""
    with _valid():
        return state.add_user(**body.model_dump()).to_dict()


@router.get("/users")
def list_users(state: State) -> list[dict[str, Any]]:
    """List simulated users with their friendship to each channel."""
    return pages.users_overview(state)


@router.get("/users/{user_id}/messages")
def user_messages(user_id: str, state: State, channel_id: str | None = None) -> list[Any]:
    """List the messages a simulated user received, oldest first."""
    with _known():
        state.user(user_id)
    return [m.to_dict() for m in state.inbox(user_id, channel_id=channel_id)]


@router.post("/users/{user_id}/follow")
def follow(user_id: str, sim: Sim, body: ChannelRef | None = None) -> dict[str, Any]:
    """The user adds (or unblocks) the channel; a follow webhook is sent."""
    with _known():
        return _result(sim.follow(user_id, channel_id=_channel_id(body)))


@router.post("/users/{user_id}/unfollow")
def unfollow(user_id: str, sim: Sim, body: ChannelRef | None = None) -> dict[str, Any]:
    """The user blocks the channel; an unfollow webhook is sent."""
    with _known():
        return _result(sim.unfollow(user_id, channel_id=_channel_id(body)))


@router.post("/users/{user_id}/send-text")
def send_text(user_id: str, body: TextIn, sim: Sim) -> dict[str, Any]:
    """The user sends the bot a text message."""
    with _known():
        delivery = sim.send_text(
            user_id,
            body.text,
            channel_id=body.channel_id,
            quoted_message_id=body.quoted_message_id,
        )
    return _result(delivery)


@router.post("/users/{user_id}/send-sticker")
def send_sticker(user_id: str, sim: Sim, body: StickerIn | None = None) -> dict[str, Any]:
    """The user sends the bot a sticker."""
    sticker = body or StickerIn()
    with _known():
        delivery = sim.send_sticker(
            user_id,
            sticker.package_id,
            sticker.sticker_id,
            keywords=sticker.keywords,
            channel_id=sticker.channel_id,
        )
    return _result(delivery)


@router.post("/users/{user_id}/postback")
def postback(user_id: str, body: PostbackIn, sim: Sim) -> dict[str, Any]:
    """The user taps a postback action."""
    with _known():
        return _result(
            sim.postback(user_id, body.data, params=body.params, channel_id=body.channel_id)
        )


@router.post("/users/{user_id}/id-token")
def issue_tokens(user_id: str, body: IdTokenIn, state: State) -> dict[str, Any]:
    """Issue an ID token and a LINE Login access token for the user (LIFF's login)."""
    with _known(), _valid():
        id_token = state.issue_id_token(
            user_id,
            body.login_channel_id,
            nonce=body.nonce,
            alg=body.alg,
            expires_in=body.expires_in,
        )
        access_token = state.issue_access_token(user_id, body.login_channel_id)
    return {"id_token": id_token, "access_token": access_token}


@router.post("/liff-apps")
def create_liff_app(body: LiffAppIn, state: State) -> dict[str, str]:
    """Register a LIFF app."""
    fields = body.model_dump()
    return state.add_liff_app(
        fields.pop("login_channel_id"), fields.pop("endpoint_url"), **fields
    ).to_dict()


@router.get("/liff-apps")
def list_liff_apps(state: State) -> list[dict[str, str]]:
    """List the registered LIFF apps."""
    with state.lock:
        return [app.to_dict() for app in state.liff_apps.values()]


@router.get("/liff-apps/{liff_id}/open", response_model=None)
def open_liff_app(
    liff_id: str, request: Request, state: State, sandbox_user: str | None = None, path: str = ""
) -> RedirectResponse | HTMLResponse:
    """Open a LIFF app as a simulated user, like tapping its LIFF URL in LINE.

    Without ``sandbox_user``, the browser first picks a user.
    """
    with _known():
        app = state.liff_app(liff_id)
    if sandbox_user is None:
        return HTMLResponse(pages.choose_user_html(state, str(request.url)))
    return RedirectResponse(liff_endpoint(app, sandbox_user, path), status_code=302)


@router.get("/webhooks")
def list_webhooks(state: State, channel_id: str | None = None) -> list[dict[str, Any]]:
    """List every webhook delivery, oldest first, with the hub's answers."""
    return [d.to_dict() for d in state.webhook_deliveries(channel_id)]


@router.post("/webhooks/redeliver-failed")
def redeliver_failed(sim: Sim, body: ChannelRef | None = None) -> list[dict[str, Any]]:
    """Resend every event the hub has not acknowledged yet, with ``isRedelivery: true``."""
    with _known():
        return [_result(d) for d in sim.redeliver_failed(channel_id=_channel_id(body))]


@router.post("/webhooks/{webhook_event_id}/redeliver")
def redeliver(webhook_event_id: str, sim: Sim) -> dict[str, Any]:
    """Send a past event again with ``isRedelivery: true``."""
    with _known():
        return _result(sim.redeliver(webhook_event_id))


@router.post("/rate-limits", status_code=204)
def set_rate_limit(body: RateLimitIn, state: State) -> None:
    """Override one endpoint's rate limit."""
    state.set_rate_limit(body.endpoint, body.limit, per_seconds=body.per_seconds)


@router.post("/failures", status_code=204)
def inject_failures(body: FailuresIn, state: State) -> None:
    """Make the next calls of one endpoint fail."""
    state.inject_failures(body.endpoint, body.statuses)


@router.post("/delays", status_code=204)
def inject_delay(body: DelayIn, state: State) -> None:
    """Make the next calls of one endpoint answer late (after being processed)."""
    state.inject_delay(body.endpoint, body.seconds, times=body.times)


@router.post("/lost-answers", status_code=204)
def lose_answers(body: LostAnswersIn, state: State) -> None:
    """Carry out the next calls of one endpoint but answer them 500 (the answer is lost)."""
    state.lose_answers(body.endpoint, times=body.times)


@router.post("/reply-token-ttl", status_code=204)
def set_reply_token_ttl(body: ReplyTokenTtlIn, state: State) -> None:
    """Shorten (or lengthen) the life of the reply tokens issued from now on."""
    state.set_reply_token_ttl(body.seconds)


@router.post("/reset", status_code=204)
def reset(state: State) -> None:
    """Forget every channel, user, message, webhook and limit."""
    state.reset()


@router.get("/api-calls")
def list_api_calls(state: State) -> list[dict[str, Any]]:
    """List the latest platform API calls with their JSON bodies, oldest first."""
    return [call.to_dict() for call in state.api_calls()]


@router.post("/signing-keys/rotate")
def rotate_signing_key(state: State) -> dict[str, str]:
    """Start signing ID tokens with a new key; the old one stays published for a while."""
    return {"kid": state.rotate_signing_key()}


@router.get("/static/overview.js")
def overview_script() -> Response:
    """The script behind the overview page's buttons."""
    script = resources.files("sandbox.line").joinpath("overview.js").read_text()
    return Response(script, media_type="application/javascript")


@router.get("", response_class=HTMLResponse)
def overview(state: State) -> HTMLResponse:
    """A page listing users, their follow state, rich menu and received messages."""
    return HTMLResponse(pages.overview_html(state))


def _channel_id(body: ChannelRef | None) -> str | None:
    return body.channel_id if body else None


def _result(delivery: WebhookDelivery) -> dict[str, Any]:
    return {"status_code": delivery.status_code, "error": delivery.error, "events": delivery.events}


@contextmanager
def _known() -> Iterator[None]:
    """Turn a KeyError for an unknown user, channel or event into a 404."""
    try:
        yield
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0]) if exc.args else "not found") from None


@contextmanager
def _valid() -> Iterator[None]:
    """Turn a ValueError from the state (a malformed id, a missing secret) into a 422."""
    try:
        yield
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
