"""Simulated user actions: each one changes the platform state and sends the hub a webhook."""

from __future__ import annotations

from typing import Any

from sandbox.line import contents, ids, webhooks
from sandbox.line.models import SandboxChannel, WebhookDelivery
from sandbox.line.state import SandboxState

DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10.0


class Simulator:
    """What simulated users do in LINE: follow, block, talk, tap, link their account.

    Each action delivers a signed webhook synchronously and returns the recorded
    ``WebhookDelivery`` (the hub's status code and the events sent).
    """

    def __init__(
        self, state: SandboxState, *, timeout: float = DEFAULT_WEBHOOK_TIMEOUT_SECONDS
    ) -> None:
        self.state = state
        self.timeout = timeout

    def follow(self, user_id: str, *, channel_id: str | None = None) -> WebhookDelivery:
        """Add the channel as a friend; ``isUnblocked`` is true when the user had blocked it."""
        channel = self.state.channel(channel_id)
        self.state.user(user_id)
        with self.state.lock:
            friendship = channel.friendship(user_id)
            unblocked = friendship.blocked
            friendship.following, friendship.blocked = True, False
            friendship.followed_at = self.state.clock()
        event = self._event("follow", channel, user_id, reply=True)
        event["follow"] = {"isUnblocked": unblocked}
        return self.send(channel, [event])

    def unfollow(self, user_id: str, *, channel_id: str | None = None) -> WebhookDelivery:
        """Block the channel: later pushes are accepted but not delivered."""
        channel = self.state.channel(channel_id)
        self.state.user(user_id)
        with self.state.lock:
            friendship = channel.friendship(user_id)
            friendship.following, friendship.blocked = False, True
        return self.send(channel, [self._event("unfollow", channel, user_id, reply=False)])

    def send_text(
        self,
        user_id: str,
        text: str,
        *,
        channel_id: str | None = None,
        quoted_message_id: str | None = None,
    ) -> WebhookDelivery:
        """Send the bot a text message (with a message id, quoteToken and replyToken)."""
        channel = self.state.channel(channel_id)
        self.state.user(user_id)
        event = self._event("message", channel, user_id, reply=True)
        message: dict[str, Any] = {
            "type": "text",
            "id": ids.new_message_id(),
            "text": text,
            "quoteToken": ids.new_token(43),
        }
        if quoted_message_id is not None:
            message["quotedMessageId"] = quoted_message_id
        event["message"] = self._readable(channel, user_id, message)
        return self.send(channel, [event])

    def send_sticker(
        self,
        user_id: str,
        package_id: str = "446",
        sticker_id: str = "1988",
        *,
        keywords: list[str] | None = None,
        channel_id: str | None = None,
    ) -> WebhookDelivery:
        """Send the bot a sticker (a static one from LINE's free set by default)."""
        channel = self.state.channel(channel_id)
        self.state.user(user_id)
        event = self._event("message", channel, user_id, reply=True)
        event["message"] = self._readable(
            channel,
            user_id,
            {
                "type": "sticker",
                "id": ids.new_message_id(),
                "packageId": package_id,
                "stickerId": sticker_id,
                "stickerResourceType": "STATIC",
                "quoteToken": ids.new_token(43),
                **({"keywords": keywords} if keywords else {}),
            },
        )
        return self.send(channel, [event])

    def send_media(
        self,
        user_id: str,
        kind: str,
        *,
        data: bytes | None = None,
        content_type: str | None = None,
        file_name: str = "document.pdf",
        duration_ms: int = 3000,
        external_url: str | None = None,
        preview_url: str | None = None,
        transcoding: str = "succeeded",
        channel_id: str | None = None,
    ) -> WebhookDelivery:
        """Send the bot an image, video, audio or file; the platform keeps its content.

        With ``external_url`` the image, video or audio is hosted elsewhere
        (``contentProvider.type: external``) and the platform keeps nothing.
        """
        if kind not in contents.MEDIA_KINDS:
            raise ValueError(f"kind must be one of {contents.MEDIA_KINDS}, not {kind!r}")
        if transcoding not in contents.TRANSCODING_STATES:
            raise ValueError(f"transcoding must be one of {contents.TRANSCODING_STATES}")
        if external_url is not None and kind == "file":
            raise ValueError("a file is always kept by LINE, never external")
        channel = self.state.channel(channel_id)
        self.state.user(user_id)
        message_id = ids.new_message_id()
        body = contents.sample_png() if data is None else data
        message: dict[str, Any] = {"type": kind, "id": message_id}
        if kind == "file":
            message |= {"fileName": file_name, "fileSize": len(body)}
        elif external_url is not None:
            message["contentProvider"] = {
                "type": "external",
                "originalContentUrl": external_url,
                **({"previewImageUrl": preview_url} if preview_url else {}),
            }
        else:
            message["contentProvider"] = {"type": "line"}
        if kind in ("video", "audio"):
            message["duration"] = duration_ms
        if kind in ("image", "video"):
            message["quoteToken"] = ids.new_token(43)
        if external_url is None:
            self.state.contents.add(
                contents.StoredContent(
                    channel_id=channel.channel_id,
                    message_id=message_id,
                    kind=kind,
                    data=body,
                    content_type=content_type or contents.DEFAULT_CONTENT_TYPES[kind],
                    expires_at=self.state.clock() + contents.CONTENT_TTL_SECONDS,
                    transcoding=transcoding if kind in ("video", "audio") else "succeeded",
                )
            )
        event = self._event("message", channel, user_id, reply=True)
        event["message"] = self._readable(channel, user_id, message)
        return self.send(channel, [event])

    def postback(
        self,
        user_id: str,
        data: str,
        *,
        params: dict[str, str] | None = None,
        channel_id: str | None = None,
    ) -> WebhookDelivery:
        """Tap a postback action (e.g. a rich menu area) carrying ``data``."""
        channel = self.state.channel(channel_id)
        self.state.user(user_id)
        event = self._event("postback", channel, user_id, reply=True)
        event["postback"] = {"data": data, **({"params": params} if params else {})}
        return self.send(channel, [event])

    def account_link(
        self, link_token: str, nonce: str, *, force_failure: bool = False
    ) -> WebhookDelivery:
        """Complete account linking as access.line.me does after the shop's login page.

        A used or expired token (or ``force_failure``) sends ``result: failed`` without a
        reply token. Raises KeyError for a token the platform never issued.
        """
        link, valid = self.state.consume_link_token(link_token)
        channel = self.state.channel(link.channel_id)
        succeeded = valid and not force_failure
        event = self._event("accountLink", channel, link.user_id, reply=succeeded)
        event["link"] = {"result": "ok" if succeeded else "failed", "nonce": nonce}
        return self.send(channel, [event])

    def check_connectivity(
        self, *, channel_id: str | None = None, url: str | None = None
    ) -> WebhookDelivery:
        """Send an empty ``events`` list, as LINE's console 'Verify' button does."""
        return self.send(self.state.channel(channel_id), [], url=url)

    def redeliver(self, webhook_event_id: str) -> WebhookDelivery:
        """Send a past event again: same event, same timestamp, ``isRedelivery: true``."""
        delivery, event = self.state.find_event(webhook_event_id)
        channel = self.state.channel(delivery.channel_id)
        resent = {**event, "deliveryContext": {"isRedelivery": True}}
        return self.send(channel, [resent])

    def redeliver_failed(self, *, channel_id: str | None = None) -> list[WebhookDelivery]:
        """Resend every event the hub has not yet acknowledged, as LINE's redelivery does.

        One delivery per channel, events in their original order, each marked
        ``isRedelivery: true`` with its original timestamp.
        """
        pending: dict[str, dict[str, dict[str, Any]]] = {}
        acknowledged: set[str] = set()
        for delivery in self.state.webhook_deliveries(channel_id):
            ids_in_delivery = [e["webhookEventId"] for e in delivery.events]
            if delivery.ok:
                acknowledged.update(ids_in_delivery)
                continue
            for event in delivery.events:
                pending.setdefault(delivery.channel_id, {}).setdefault(
                    event["webhookEventId"], event
                )
        resent = []
        for pending_channel_id, events in pending.items():
            unacknowledged = [
                {**event, "deliveryContext": {"isRedelivery": True}}
                for event_id, event in events.items()
                if event_id not in acknowledged
            ]
            if unacknowledged:
                channel = self.state.channel(pending_channel_id)
                resent.append(self.send(channel, unacknowledged))
        return resent

    def send(
        self, channel: SandboxChannel, events: list[dict[str, Any]], *, url: str | None = None
    ) -> WebhookDelivery:
        """Sign and POST ``events`` to ``url`` (default: the channel's); record the delivery."""
        body = webhooks.encode_body(channel, events)
        delivery = webhooks.post(
            channel, body, now=self.state.clock(), timeout=self.timeout, url=url
        )
        self.state.record_delivery(delivery)
        return delivery

    def _readable(
        self, channel: SandboxChannel, user_id: str, message: dict[str, Any]
    ) -> dict[str, Any]:
        """A message of a channel that reads manually carries a markAsReadToken."""
        if channel.mark_as_read_mode == "manual":
            token = ids.new_token(43)
            with self.state.lock:
                channel.read_tokens[token] = (user_id, message["id"])
            message["markAsReadToken"] = token
        return message

    def _event(
        self, event_type: str, channel: SandboxChannel, user_id: str, *, reply: bool
    ) -> dict[str, Any]:
        timestamp_ms = int(self.state.clock() * 1000)
        event = webhooks.base_event(event_type, channel, user_id, timestamp_ms)
        if reply:
            event["replyToken"] = self.state.issue_reply_token(channel.channel_id, user_id)
        return event
