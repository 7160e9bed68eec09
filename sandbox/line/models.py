"""Records the sandbox LINE platform keeps: channels, users, friendships, messages, webhooks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SandboxUser:
    """A simulated LINE user and the profile the Messaging API returns for them."""

    user_id: str
    display_name: str
    picture_url: str | None = None
    status_message: str | None = None
    language: str | None = "ja"

    def profile(self) -> dict[str, Any]:
        """Return the ``UserProfileResponse`` body, leaving out absent optional fields."""
        body: dict[str, Any] = {"displayName": self.display_name, "userId": self.user_id}
        optional = {
            "pictureUrl": self.picture_url,
            "statusMessage": self.status_message,
            "language": self.language,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    def to_dict(self) -> dict[str, Any]:
        """Return the user as the sandbox control API shows it."""
        return {
            "user_id": self.user_id,
            "display_name": self.display_name,
            "picture_url": self.picture_url,
            "status_message": self.status_message,
            "language": self.language,
        }


@dataclass
class Friendship:
    """A user's relation to one channel: following, blocked, and the linked rich menu."""

    following: bool = False
    blocked: bool = False
    followed_at: float | None = None
    rich_menu_id: str | None = None

    @property
    def status(self) -> str:
        """One of ``following``, ``blocked`` or ``none``."""
        if self.following:
            return "following"
        return "blocked" if self.blocked else "none"


@dataclass
class RichMenu:
    """A rich menu as created through the API, with its uploaded image."""

    rich_menu_id: str
    definition: dict[str, Any]
    image: bytes | None = None
    image_content_type: str | None = None

    def response(self) -> dict[str, Any]:
        """Return the ``RichMenuResponse`` body."""
        return {"richMenuId": self.rich_menu_id, **self.definition}


@dataclass
class SandboxChannel:
    """A LINE Official Account (Messaging API channel) and its paired LINE Login channel."""

    channel_id: str
    channel_secret: str
    access_token: str
    bot_user_id: str
    login_channel_id: str | None = None
    login_channel_secret: str | None = None
    webhook_url: str | None = None
    mode: str = "active"
    display_name: str = "Sandbox shop"
    monthly_quota: int | None = 5000
    usage: int = 0
    usage_month: str = ""
    friends: dict[str, Friendship] = field(default_factory=dict)
    rich_menus: dict[str, RichMenu] = field(default_factory=dict)
    rich_menu_aliases: dict[str, str] = field(default_factory=dict)
    default_rich_menu_id: str | None = None
    # Custom aggregation unit names used, by month ("2026-11"), in order of first use.
    aggregation_units: dict[str, list[str]] = field(default_factory=dict)
    # "manual": the account marks messages read by API; message events carry a
    # markAsReadToken (token → the user and the message it reads up to), ``read_marks`` lists
    # each use's user and ``read_up_to`` the message each user's last one read up to.
    mark_as_read_mode: str = "auto"
    read_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    read_marks: list[str] = field(default_factory=list)
    read_up_to: dict[str, str] = field(default_factory=dict)

    @property
    def basic_id(self) -> str:
        """The account's LINE ID, as its add-friend URL names it."""
        return "@" + self.channel_id[-7:]

    def friendship(self, user_id: str) -> Friendship:
        """Return (creating when absent) the user's friendship with this channel."""
        return self.friends.setdefault(user_id, Friendship())

    def is_following(self, user_id: str) -> bool:
        """Tell whether the user follows the channel now (messages are delivered only then)."""
        friendship = self.friends.get(user_id)
        return friendship is not None and friendship.following

    def to_dict(self) -> dict[str, Any]:
        """Return the channel as the sandbox control API shows it (secrets included: a sandbox)."""
        return {
            "channel_id": self.channel_id,
            "channel_secret": self.channel_secret,
            "access_token": self.access_token,
            "bot_user_id": self.bot_user_id,
            "login_channel_id": self.login_channel_id,
            "login_channel_secret": self.login_channel_secret,
            "webhook_url": self.webhook_url,
            "mode": self.mode,
            "display_name": self.display_name,
            "monthly_quota": self.monthly_quota,
            "usage": self.usage,
            "default_rich_menu_id": self.default_rich_menu_id,
        }


@dataclass(frozen=True)
class ReceivedMessage:
    """One message object a simulated user received, and the request that carried it."""

    user_id: str
    channel_id: str
    endpoint: str
    request_id: str
    retry_key: str | None
    message_id: str
    message: dict[str, Any]
    received_at: float
    # The request's custom aggregation unit (``customAggregationUnits[0]``), if it named one.
    aggregation_unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the message as ``GET /sandbox/users/{userId}/messages`` shows it."""
        return {
            "user_id": self.user_id,
            "channel_id": self.channel_id,
            "endpoint": self.endpoint,
            "request_id": self.request_id,
            "retry_key": self.retry_key,
            "message_id": self.message_id,
            "message": self.message,
            "received_at": self.received_at,
            "aggregation_unit": self.aggregation_unit,
        }


@dataclass
class WebhookDelivery:
    """One webhook POST to the hub: the exact bytes sent and what the hub answered."""

    channel_id: str
    url: str | None
    body: bytes
    signature: str
    sent_at: float
    status_code: int | None = None
    response_body: str = ""
    error: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The decoded webhook body: ``{"destination", "events"}``."""
        return json.loads(self.body)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events carried by this delivery."""
        return list(self.payload["events"])

    @property
    def ok(self) -> bool:
        """Tell whether the hub answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_dict(self) -> dict[str, Any]:
        """Return the delivery as the sandbox control API shows it."""
        return {
            "channel_id": self.channel_id,
            "url": self.url,
            "status_code": self.status_code,
            "error": self.error,
            "sent_at": self.sent_at,
            "signature": self.signature,
            "body": self.payload,
            "response_body": self.response_body,
        }
