"""Messaging API routes (api.line.me paths), named after the spec's operationIds."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool

from sandbox.line import messaging
from sandbox.line.deps import api_channel, get_simulator, get_state, json_body, request_id
from sandbox.line.errors import LineApiError, invalid_body, not_found
from sandbox.line.messaging import SendRequest, iso_time
from sandbox.line.models import SandboxChannel
from sandbox.line.simulate import Simulator
from sandbox.line.state import SandboxState
from sandbox.line.validation import check_messages, require_object

router = APIRouter()

State = Annotated[SandboxState, Depends(get_state)]
RequestId = Annotated[str, Depends(request_id)]
Sim = Annotated[Simulator, Depends(get_simulator)]
RetryKey = Annotated[str | None, Header(alias="X-Line-Retry-Key")]
MAX_FOLLOWER_PAGE = 1000


@router.post("/v2/bot/message/reply")
async def reply_message(
    request: Request,
    state: State,
    rid: RequestId,
    channel: SandboxChannel = api_channel("replyMessage"),
) -> dict[str, Any]:
    """Send a reply message with a webhook's reply token."""
    send = SendRequest(channel, "replyMessage", rid)
    return messaging.reply(state, send, await json_body(request))


@router.post("/v2/bot/message/push")
async def push_message(
    request: Request,
    state: State,
    rid: RequestId,
    channel: SandboxChannel = api_channel("pushMessage"),
    retry_key: RetryKey = None,
) -> dict[str, Any]:
    """Send a push message to one user."""
    send = SendRequest(channel, "pushMessage", rid, retry_key)
    return messaging.push(state, send, await json_body(request))


@router.post("/v2/bot/message/multicast")
async def multicast(
    request: Request,
    state: State,
    rid: RequestId,
    channel: SandboxChannel = api_channel("multicast"),
    retry_key: RetryKey = None,
) -> dict[str, Any]:
    """Send the same messages to 1-500 users."""
    send = SendRequest(channel, "multicast", rid, retry_key)
    return messaging.multicast(state, send, await json_body(request))


@router.post("/v2/bot/message/narrowcast", status_code=202)
async def narrowcast(
    request: Request,
    state: State,
    rid: RequestId,
    channel: SandboxChannel = api_channel("narrowcast"),
    retry_key: RetryKey = None,
) -> dict[str, Any]:
    """Send to an audience; answered 202 and followed through the progress endpoint."""
    send = SendRequest(channel, "narrowcast", rid, retry_key)
    return messaging.narrowcast(state, send, await json_body(request))


@router.get("/v2/bot/message/progress/narrowcast")
def get_narrowcast_progress(
    state: State,
    channel: SandboxChannel = api_channel("getNarrowcastProgress"),
    request_id: str = Query(alias="requestId"),
) -> dict[str, Any]:
    """Report a narrowcast's progress by its request id."""
    return messaging.narrowcast_progress(state, request_id)


@router.post("/v2/bot/message/broadcast")
async def broadcast(
    request: Request,
    state: State,
    rid: RequestId,
    channel: SandboxChannel = api_channel("broadcast"),
    retry_key: RetryKey = None,
) -> dict[str, Any]:
    """Send to every friend of the channel."""
    send = SendRequest(channel, "broadcast", rid, retry_key)
    return messaging.broadcast(state, send, await json_body(request))


@router.get("/v2/bot/message/quota")
def get_message_quota(channel: SandboxChannel = api_channel("getMessageQuota")) -> dict[str, Any]:
    """Return the channel's monthly message limit."""
    return messaging.quota(channel)


@router.get("/v2/bot/message/quota/consumption")
def get_message_quota_consumption(
    state: State, channel: SandboxChannel = api_channel("getMessageQuotaConsumption")
) -> dict[str, Any]:
    """Return how many messages the channel has sent this month."""
    return {"totalUsage": state.current_usage(channel)}


@router.get("/v2/bot/message/aggregation/info")
def get_aggregation_unit_usage(
    state: State, channel: SandboxChannel = api_channel("getAggregationUnitUsage")
) -> dict[str, Any]:
    """How many custom aggregation units the channel used this month."""
    return {"numOfCustomAggregationUnits": len(messaging.aggregation_usage(state, channel))}


@router.get("/v2/bot/message/aggregation/list")
def get_aggregation_unit_name_list(
    state: State,
    channel: SandboxChannel = api_channel("getAggregationUnitNameList"),
    limit: int = Query(default=100, ge=1, le=100),
    start: str | None = None,
) -> dict[str, Any]:
    """The names of the units used this month, a page at a time."""
    names = messaging.aggregation_usage(state, channel)
    offset = _decode_cursor(start)
    page: dict[str, Any] = {"customAggregationUnits": names[offset : offset + limit]}
    if offset + limit < len(names):
        page["next"] = _encode_cursor(offset + limit)
    return page


@router.get("/v2/bot/profile/{user_id}")
def get_profile(
    user_id: str, state: State, channel: SandboxChannel = api_channel("getProfile")
) -> dict[str, Any]:
    """Return a friend's profile; users who are not friends are not found."""
    with state.lock:
        user = state.users.get(user_id)
        if user is None or not channel.is_following(user_id):
            raise not_found()
        return user.profile()


@router.get("/v2/bot/followers/ids")
def get_followers(
    state: State,
    channel: SandboxChannel = api_channel("getFollowers"),
    start: str | None = None,
    limit: int = Query(default=300, ge=1, le=MAX_FOLLOWER_PAGE),
) -> dict[str, Any]:
    """Page through the channel's friends; ``next`` is an opaque continuation token."""
    with state.lock:
        user_ids = messaging.followers(channel)
    offset = _decode_cursor(start)
    page: dict[str, Any] = {"userIds": user_ids[offset : offset + limit]}
    if offset + limit < len(user_ids):
        page["next"] = _encode_cursor(offset + limit)
    return page


@router.get("/v2/bot/info")
def get_bot_info(channel: SandboxChannel = api_channel("getBotInfo")) -> dict[str, Any]:
    """Return the bot's user id, basic id and display name."""
    return {
        "userId": channel.bot_user_id,
        "basicId": channel.basic_id,
        "displayName": channel.display_name,
        "chatMode": "bot",
        "markAsReadMode": channel.mark_as_read_mode,
    }


@router.post("/v2/bot/user/{user_id}/linkToken")
def issue_link_token(
    user_id: str, state: State, channel: SandboxChannel = api_channel("issueLinkToken")
) -> dict[str, Any]:
    """Issue a single-use account-link token, valid for ten minutes."""
    return {"linkToken": state.issue_link_token(channel, user_id)}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _decode_cursor(start: str | None) -> int:
    if start is None:
        return 0
    try:
        return int(base64.urlsafe_b64decode(start.encode()).decode())
    except ValueError:
        raise LineApiError(400, "The value of the 'start' parameter is invalid") from None


@router.get("/v2/bot/channel/webhook/endpoint")
def get_webhook_endpoint(
    channel: SandboxChannel = api_channel("getWebhookEndpoint"),
) -> dict[str, Any]:
    """Return the channel's webhook URL and whether webhooks are sent."""
    return {"endpoint": channel.webhook_url or "", "active": bool(channel.webhook_url)}


@router.put("/v2/bot/channel/webhook/endpoint")
async def set_webhook_endpoint(
    request: Request, state: State, channel: SandboxChannel = api_channel("setWebhookEndpoint")
) -> dict[str, Any]:
    """Set the channel's webhook URL (how a hub can register itself)."""
    body = require_object(await json_body(request))
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise invalid_body(("endpoint", "must be a valid URL"))
    state.update_channel(channel.channel_id, webhook_url=endpoint)
    return {}


@router.post("/v2/bot/channel/webhook/test")
async def test_webhook_endpoint(
    request: Request, sim: Sim, channel: SandboxChannel = api_channel("testWebhookEndpoint")
) -> dict[str, Any]:
    """Send an empty-events webhook to the given (or current) URL and report the answer."""
    raw = await request.body()
    body = require_object(await json_body(request)) if raw else {}
    endpoint = body.get("endpoint") or channel.webhook_url
    delivery = await run_in_threadpool(
        sim.check_connectivity, channel_id=channel.channel_id, url=endpoint
    )
    status = delivery.status_code or 0
    return {
        "success": delivery.ok,
        "timestamp": iso_time(delivery.sent_at),
        "statusCode": status,
        "reason": "OK" if delivery.ok else "ERROR",
        "detail": str(status) if delivery.status_code else (delivery.error or ""),
    }


def _add_validate_route(kind: str) -> None:
    operation_id = "validate" + kind.capitalize()

    async def validate_messages(
        request: Request, channel: SandboxChannel = api_channel(operation_id)
    ) -> dict[str, Any]:
        """Check message objects without sending them."""
        check_messages(require_object(await json_body(request)))
        return {}

    router.add_api_route(
        f"/v2/bot/message/validate/{kind}", validate_messages, methods=["POST"], name=operation_id
    )


for _kind in ("reply", "push", "multicast", "narrowcast", "broadcast"):
    _add_validate_route(_kind)


@router.post("/v2/bot/chat/loading/start", status_code=202)
async def show_loading_animation(
    request: Request, state: State, channel: SandboxChannel = api_channel("showLoadingAnimation")
) -> dict[str, Any]:
    """Accept a loading indicator for a friend's chat (5-60 seconds, in steps of 5)."""
    body = require_object(await json_body(request))
    chat_id = body.get("chatId")
    if not isinstance(chat_id, str) or not channel.is_following(chat_id):
        raise LineApiError(400, "The property, 'chatId', in the request body is invalid")
    seconds = body.get("loadingSeconds", 20)
    if not isinstance(seconds, int) or seconds % 5 or not 5 <= seconds <= 60:
        raise invalid_body(("loadingSeconds", "must be a multiple of 5 between 5 and 60"))
    return {}


@router.post("/v2/bot/chat/markAsRead")
async def mark_messages_as_read_by_token(
    request: Request,
    state: State,
    channel: SandboxChannel = api_channel("markMessagesAsReadByToken"),
) -> dict[str, Any]:
    """Mark a user's messages read up to the one that carried ``markAsReadToken``."""
    body = require_object(await json_body(request))
    token = body.get("markAsReadToken")
    if not isinstance(token, str) or not token:
        raise invalid_body(("markAsReadToken", "must be specified"))
    with state.lock:
        read = channel.read_tokens.get(token)
        if read is None:
            raise LineApiError(400, "Invalid markAsReadToken")
        user_id, message_id = read
        channel.read_marks.append(user_id)
        channel.read_up_to[user_id] = message_id
    return {}
