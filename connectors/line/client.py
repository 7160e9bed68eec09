"""The hub's LINE Messaging API client: the official SDK, pointed at a configurable host.

The SDK's pydantic-v1 models stay inside this module: callers get plain dataclasses and the
errors of :mod:`connectors.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MarkMessagesAsReadByTokenRequest,
    MessagingApi,
    PushMessageRequest,
    RichMenuBulkLinkRequest,
    RichMenuBulkUnlinkRequest,
    TextMessage,
)

from connectors.errors import FatalError, RetriableError

# LINE's bulk rich menu link and unlink take 1 to 500 user ids per request.
MAX_BULK_USERS = 500


@dataclass(frozen=True, slots=True)
class ChannelCredentials:
    """What the client needs of a channel: its access token and where LINE's API lives."""

    access_token: str
    api_url: str


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str
    display_name: str | None
    picture_url: str | None
    status_message: str | None
    language: str | None


def classify(exc: ApiException, what: str) -> RetriableError | FatalError:
    """Map an SDK error to retriable (429, 5xx) or fatal (other 4xx), with LINE's reason."""
    status = exc.status or 0
    reason = exc.body if isinstance(exc.body, str) and exc.body else exc.reason
    message = f"LINE {what} failed with HTTP {status}: {reason}"
    if status == 429 or status >= 500 or status == 0:
        return RetriableError(message, status=status)
    return FatalError(message, status=status)


def _accepted_request_id(exc: FatalError) -> str | None:
    """The original request id of a push LINE already accepted under the same retry key."""
    cause = exc.__cause__
    if exc.status != 409 or not isinstance(cause, ApiException):
        return None
    return (cause.headers or {}).get("x-line-accepted-request-id")


class LineClient:
    """A thin, typed facade over ``linebot.v3.messaging`` for one channel."""

    def __init__(self, credentials: ChannelCredentials, *, timeout: float = 10.0) -> None:
        self._configuration = Configuration(
            access_token=credentials.access_token, host=credentials.api_url
        )
        self._timeout = timeout

    @contextmanager
    def _api(self, what: str) -> Iterator[MessagingApi]:
        with ApiClient(self._configuration) as api_client:
            try:
                yield MessagingApi(api_client)
            except ApiException as exc:
                raise classify(exc, what) from exc
            except OSError as exc:
                raise RetriableError(f"LINE {what} unreachable: {exc}") from exc

    def get_profile(self, user_id: str) -> Profile:
        """The user's current LINE profile."""
        with self._api("profile") as api:
            profile = api.get_profile(user_id, _request_timeout=self._timeout)
        return Profile(
            user_id=profile.user_id,
            display_name=profile.display_name,
            picture_url=profile.picture_url,
            status_message=profile.status_message,
            language=profile.language,
        )

    def get_basic_id(self) -> str:
        """The account's LINE ID ("@abc1234"), what its add-friend URL names."""
        with self._api("bot info") as api:
            return api.get_bot_info(_request_timeout=self._timeout).basic_id

    def issue_link_token(self, user_id: str) -> str:
        """A single-use, 10-minute account-link token for the user."""
        with self._api("link token") as api:
            return api.issue_link_token(user_id, _request_timeout=self._timeout).link_token

    def push_text(self, user_id: str, text: str, *, retry_key: str) -> str | None:
        """Push one text message; return LINE's request id (of the first acceptance).

        ``retry_key`` (a UUID) makes a retried push deliver at most once: LINE answers a repeat
        with 409 and the original request's id, which counts as success.
        """
        request = PushMessageRequest(to=user_id, messages=[TextMessage(text=text)])
        try:
            with self._api("push") as api:
                response = api.push_message_with_http_info(
                    request, x_line_retry_key=retry_key, _request_timeout=self._timeout
                )
        except FatalError as exc:
            accepted = _accepted_request_id(exc)
            if accepted is None:
                raise
            return accepted
        return (response.headers or {}).get("x-line-request-id")

    def mark_as_read(self, token: str) -> None:
        """Mark the user's messages read up to the one that carried ``token`` (a channel whose
        markAsReadMode is manual)."""
        with self._api("mark as read") as api:
            api.mark_messages_as_read_by_token(
                MarkMessagesAsReadByTokenRequest(mark_as_read_token=token),
                _request_timeout=self._timeout,
            )

    def link_rich_menu(self, user_id: str, rich_menu_id: str) -> None:
        """Show ``rich_menu_id`` to this user instead of the default menu."""
        with self._api("rich menu link") as api:
            api.link_rich_menu_id_to_user(user_id, rich_menu_id, _request_timeout=self._timeout)

    def unlink_rich_menu(self, user_id: str) -> None:
        """Return the user to the channel's default rich menu."""
        with self._api("rich menu unlink") as api:
            api.unlink_rich_menu_id_from_user(user_id, _request_timeout=self._timeout)

    def bulk_link_rich_menu(self, rich_menu_id: str, user_ids: list[str]) -> None:
        """Show ``rich_menu_id`` to 1 to 500 users in one request (LINE answers 202)."""
        _check_bulk(user_ids)
        request = RichMenuBulkLinkRequest(rich_menu_id=rich_menu_id, user_ids=user_ids)
        with self._api("rich menu bulk link") as api:
            api.link_rich_menu_id_to_users(request, _request_timeout=self._timeout)

    def bulk_unlink_rich_menus(self, user_ids: list[str]) -> None:
        """Return 1 to 500 users to the channel's default rich menu in one request."""
        _check_bulk(user_ids)
        request = RichMenuBulkUnlinkRequest(user_ids=user_ids)
        with self._api("rich menu bulk unlink") as api:
            api.unlink_rich_menu_id_from_users(request, _request_timeout=self._timeout)


def _check_bulk(user_ids: list[str]) -> None:
    if not 1 <= len(user_ids) <= MAX_BULK_USERS:
        raise ValueError(f"a bulk rich menu request takes 1 to {MAX_BULK_USERS} user ids")
