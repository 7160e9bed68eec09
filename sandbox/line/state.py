"""In-memory state of the sandbox LINE platform, shared by the HTTP app and Python callers.

Every method takes the state's lock, so the app's worker threads, the test thread and the
webhook deliveries can use one ``SandboxState`` at once.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.line import ids, tokens
from sandbox.line.contents import ContentStore
from sandbox.line.errors import LineApiError, unauthorized
from sandbox.line.limits import Admission, FailureInjector, RateLimiter, RetryKeyStore
from sandbox.line.login import LiffApp, LoginAccessToken, LoginState
from sandbox.line.models import (
    ReceivedMessage,
    SandboxChannel,
    SandboxUser,
    WebhookDelivery,
)
from sandbox.line.recorder import ApiCall

LINK_TOKEN_TTL_SECONDS = 600
REPLY_TOKEN_TTL_SECONDS = 60
CHANNEL_MODES = ("active", "standby")
API_LOG_SIZE = 2000


@dataclass
class ReplyToken:
    """A reply token handed out with a webhook event: single use, short lived."""

    channel_id: str
    user_id: str
    expires_at: float
    used: bool = False


@dataclass
class LinkToken:
    """An account-link token: single use, valid for ten minutes."""

    channel_id: str
    user_id: str
    expires_at: float
    used: bool = False


class SandboxState(LoginState):
    """Channels, users and everything the emulated platform remembers, behind one lock."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self._set_empty()

    def reset(self) -> None:
        """Forget everything (channels, users, logs, limits, keys), e.g. between tests."""
        with self.lock:
            self._set_empty()

    def _set_empty(self) -> None:
        self.channels: dict[str, SandboxChannel] = {}
        self.users: dict[str, SandboxUser] = {}
        self.reply_tokens: dict[str, ReplyToken] = {}
        self.link_tokens: dict[str, LinkToken] = {}
        self.login_access_tokens: dict[str, LoginAccessToken] = {}
        self.liff_apps: dict[str, LiffApp] = {}
        self.narrowcasts: dict[str, dict[str, Any]] = {}
        self.contents = ContentStore()
        self.received: list[ReceivedMessage] = []
        self.deliveries: list[WebhookDelivery] = []
        self.api_log: deque[ApiCall] = deque(maxlen=API_LOG_SIZE)
        self.rate_limiter = RateLimiter()
        self.failures = FailureInjector()
        self.reply_token_ttl_seconds: float = REPLY_TOKEN_TTL_SECONDS
        # How much later every API call is answered: the network between the caller and LINE.
        self.latency_seconds = 0.0
        self.retry_keys = RetryKeyStore()
        self.signing_keys = [tokens.new_signing_key(self.clock())]

    # Channels and users

    def add_channel(
        self,
        channel_id: str,
        channel_secret: str,
        access_token: str,
        *,
        bot_user_id: str | None = None,
        login_channel_id: str | None = None,
        login_channel_secret: str | None = None,
        webhook_url: str | None = None,
        mode: str = "active",
        display_name: str = "Sandbox shop",
        monthly_quota: int | None = 5000,
    ) -> SandboxChannel:
        """Register a Messaging API channel (and its LINE Login channel, when given)."""
        _check_mode(mode)
        if bot_user_id is not None and not ids.is_user_id(bot_user_id):
            raise ValueError(f"{bot_user_id!r} is not a LINE user ID (U + 32 lowercase hex)")
        channel = SandboxChannel(
            channel_id=channel_id,
            channel_secret=channel_secret,
            access_token=access_token,
            bot_user_id=bot_user_id or ids.new_user_id(),
            login_channel_id=login_channel_id,
            login_channel_secret=login_channel_secret,
            webhook_url=webhook_url,
            mode=mode,
            display_name=display_name,
            monthly_quota=monthly_quota,
        )
        with self.lock:
            self.channels[channel_id] = channel
        return channel

    def update_channel(self, channel_id: str, **changes: Any) -> SandboxChannel:
        """Change a channel's settings, e.g. ``webhook_url`` or ``mode="standby"``."""
        allowed = {
            "channel_secret",
            "access_token",
            "login_channel_id",
            "login_channel_secret",
            "webhook_url",
            "mode",
            "display_name",
            "monthly_quota",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        if "mode" in changes:
            _check_mode(changes["mode"])
        with self.lock:
            channel = self.channel(channel_id)
            for name, value in changes.items():
                setattr(channel, name, value)
            return channel

    def channel(self, channel_id: str | None = None) -> SandboxChannel:
        """Return a channel by id, or the only (first) channel when ``channel_id`` is None."""
        with self.lock:
            if channel_id is None:
                if not self.channels:
                    raise KeyError("no channel registered")
                return next(iter(self.channels.values()))
            try:
                return self.channels[channel_id]
            except KeyError:
                raise KeyError(f"unknown channel {channel_id}") from None

    def channel_for_token(self, access_token: str | None) -> SandboxChannel:
        """Return the channel whose access token this is, or raise LINE's 401."""
        with self.lock:
            presented = (access_token or "").encode("utf-8", "surrogateescape")
            for channel in self.channels.values():
                if presented and secrets.compare_digest(channel.access_token.encode(), presented):
                    return channel
        raise unauthorized()

    def login_channel(self, login_channel_id: str) -> SandboxChannel | None:
        """Return the Messaging API channel paired with a LINE Login channel id, if any."""
        with self.lock:
            for channel in self.channels.values():
                if channel.login_channel_id == login_channel_id:
                    return channel
        return None

    def add_user(
        self,
        user_id: str | None = None,
        display_name: str = "LINE user",
        picture_url: str | None = None,
        status_message: str | None = None,
        language: str | None = "ja",
    ) -> SandboxUser:
        """Create a simulated LINE user (``U`` + 32 hex generated when no id is given)."""
        if user_id is not None and not ids.is_user_id(user_id):
            raise ValueError(f"{user_id!r} is not a LINE user ID (U + 32 lowercase hex)")
        user = SandboxUser(
            user_id=user_id or ids.new_user_id(),
            display_name=display_name,
            picture_url=picture_url,
            status_message=status_message,
            language=language,
        )
        with self.lock:
            self.users[user.user_id] = user
        return user

    def user(self, user_id: str) -> SandboxUser:
        """Return a simulated user, raising KeyError when unknown."""
        with self.lock:
            try:
                return self.users[user_id]
            except KeyError:
                raise KeyError(f"unknown user {user_id}") from None

    # Inspection

    def inbox(self, user_id: str, *, channel_id: str | None = None) -> list[ReceivedMessage]:
        """Return the messages a user received, oldest first (blocked users receive nothing)."""
        with self.lock:
            return [
                m
                for m in self.received
                if m.user_id == user_id and (channel_id is None or m.channel_id == channel_id)
            ]

    def webhook_deliveries(self, channel_id: str | None = None) -> list[WebhookDelivery]:
        """Return every webhook delivery attempted so far, oldest first."""
        with self.lock:
            return [d for d in self.deliveries if channel_id in (None, d.channel_id)]

    def record_delivery(self, delivery: WebhookDelivery) -> None:
        """Append a webhook delivery to the log."""
        with self.lock:
            self.deliveries.append(delivery)

    def record_api_call(self, call: ApiCall) -> None:
        """Append a platform API call to the (bounded) traffic log."""
        with self.lock:
            self.api_log.append(call)

    def api_calls(self) -> list[ApiCall]:
        """Return the latest platform API calls (up to 2,000), oldest first."""
        with self.lock:
            return list(self.api_log)

    def find_event(self, webhook_event_id: str) -> tuple[WebhookDelivery, dict[str, Any]]:
        """Return the first delivery carrying an event, and the event, by ``webhookEventId``."""
        with self.lock:
            for delivery in self.deliveries:
                for event in delivery.events:
                    if event.get("webhookEventId") == webhook_event_id:
                        return delivery, event
        raise KeyError(f"no webhook event {webhook_event_id}")

    # Platform limits and failure injection

    def set_rate_limit(self, endpoint: str, limit: int, *, per_seconds: float = 1.0) -> None:
        """Allow ``limit`` calls of ``endpoint`` (an operationId) per channel per window."""
        with self.lock:
            self.rate_limiter.set_limit(endpoint, limit, per_seconds)

    def inject_failures(self, endpoint: str, statuses: list[int]) -> None:
        """Make the next calls of ``endpoint`` (an operationId) fail with these statuses."""
        with self.lock:
            self.failures.inject(endpoint, list(statuses))

    def outage(self, endpoint: str, seconds: float) -> None:
        """Make every call of ``endpoint`` answer 503 for the next ``seconds``, as LINE does
        while it is down (however often the caller tries)."""
        with self.lock:
            self.failures.outage(endpoint, self.clock() + seconds)

    def inject_delay(self, endpoint: str, seconds: float, *, times: int = 1) -> None:
        """Process the next calls of ``endpoint`` normally but answer them ``seconds`` late.

        A client that times out meanwhile sees a failure although LINE accepted the request:
        its retry with the same retry key must then get 409.
        """
        with self.lock:
            self.failures.delay(endpoint, seconds, times)

    def lose_answers(self, endpoint: str, *, times: int = 1) -> None:
        """Carry out the next calls of ``endpoint`` but answer them 500, as when LINE accepted
        a request and its answer was lost on the way back: a retry with the same retry key
        must then get 409, and a reply's token is used up."""
        with self.lock:
            self.failures.lose(endpoint, times)

    def set_latency(self, seconds: float) -> None:
        """Answer every Messaging API call ``seconds`` late, as a far-away api.line.me does."""
        with self.lock:
            self.latency_seconds = max(0.0, seconds)

    def set_monthly_quota(self, channel_id: str, limit: int | None, *, usage: int = 0) -> None:
        """Set a channel's monthly message limit (None = unlimited) and its usage so far."""
        with self.lock:
            channel = self.channel(channel_id)
            channel.monthly_quota = limit
            channel.usage = usage
            channel.usage_month = self.month()

    def admit(self, channel: SandboxChannel, endpoint: str) -> Admission:
        """Apply injected failures then the rate limit to one API call: how it is answered."""
        with self.lock:
            self.failures.check_outage(endpoint, self.clock())
            self.failures.take(endpoint)
            self.rate_limiter.hit(channel.channel_id, endpoint, self.clock())
            return Admission(
                delay=self.failures.take_delay(endpoint) + self.latency_seconds,
                lose_answer=self.failures.take_lost(endpoint),
            )

    def current_usage(self, channel: SandboxChannel) -> int:
        """Return the channel's messages counted this month, resetting at a new month."""
        with self.lock:
            month = self.month()
            if channel.usage_month != month:
                channel.usage_month = month
                channel.usage = 0
            return channel.usage

    def month(self) -> str:
        """The current month ("2026-11") on the sandbox clock, in UTC."""
        return time.strftime("%Y-%m", time.gmtime(self.clock()))

    # Reply and link tokens

    def issue_reply_token(self, channel_id: str, user_id: str) -> str:
        """Issue a single-use reply token for an event sent to the hub."""
        token = secrets.token_hex(16)
        with self.lock:
            self.reply_tokens[token] = ReplyToken(
                channel_id, user_id, self.clock() + self.reply_token_ttl_seconds
            )
        return token

    def set_reply_token_ttl(self, seconds: float) -> None:
        """How long the reply tokens issued from now on stay valid (LINE: a short time)."""
        if seconds <= 0:
            raise ValueError("a reply token lives a positive number of seconds")
        with self.lock:
            self.reply_token_ttl_seconds = seconds

    def expire_reply_tokens(self, user_id: str) -> int:
        """Let a user's unused reply tokens expire now; how many did."""
        with self.lock:
            expiring = [
                t for t in self.reply_tokens.values() if t.user_id == user_id and not t.used
            ]
            for token in expiring:
                token.expires_at = self.clock()
            return len(expiring)

    def use_reply_token(self, channel: SandboxChannel, token: str) -> str:
        """Consume a reply token and return its user, or raise LINE's 400."""
        with self.lock:
            reply = self.reply_tokens.get(token)
            if (
                reply is None
                or reply.used
                or reply.channel_id != channel.channel_id
                or reply.expires_at <= self.clock()
            ):
                raise LineApiError(400, "Invalid reply token")
            reply.used = True
            return reply.user_id

    def issue_link_token(self, channel: SandboxChannel, user_id: str) -> str:
        """Issue an account-link token for a user (``POST /v2/bot/user/{userId}/linkToken``)."""
        with self.lock:
            if user_id not in self.users:
                raise LineApiError(400, "The user hasn't added the LINE Official Account")
            token = ids.new_token(32)
            self.link_tokens[token] = LinkToken(
                channel.channel_id, user_id, self.clock() + LINK_TOKEN_TTL_SECONDS
            )
            return token

    def consume_link_token(self, token: str) -> tuple[LinkToken, bool]:
        """Use a link token: return it and whether it was still valid (unused, unexpired)."""
        with self.lock:
            link = self.link_tokens.get(token)
            if link is None:
                raise KeyError("unknown link token")
            valid = not link.used and link.expires_at > self.clock()
            link.used = True
            return link, valid


def _check_mode(mode: str) -> None:
    if mode not in CHANNEL_MODES:
        raise ValueError(f"mode must be one of {CHANNEL_MODES}, not {mode!r}")
