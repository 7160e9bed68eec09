"""Downloading what friends sent (images, videos, audio, files) from LINE's content endpoint,
through the official SDK's ``MessagingApiBlob``.

LINE keeps content for a while only, and prepares (transcodes) video and audio before they can
be downloaded: ``NotReady`` says "ask again later", ``Gone`` that it will never come.
"""

from __future__ import annotations

from dataclasses import dataclass

from linebot.v3.messaging import ApiClient, ApiException, Configuration, MessagingApiBlob
from urllib3.exceptions import HTTPError

from connectors.errors import FatalError, RetriableError
from connectors.line.client import ChannelCredentials, classify


@dataclass(frozen=True, slots=True)
class Content:
    data: bytes
    content_type: str | None


class NotReady(RetriableError):
    """LINE is still preparing this video or audio."""


class Gone(FatalError):
    """LINE has no content for this message (deleted after its keeping period, or never)."""


class ContentClient:
    """Message content of one channel, downloaded with the SDK."""

    def __init__(self, credentials: ChannelCredentials, *, timeout: float = 30.0) -> None:
        self._configuration = Configuration(
            access_token=credentials.access_token, host=credentials.api_url
        )
        self._timeout = timeout

    def transcoding_status(self, message_id: str) -> str:
        """``processing``, ``succeeded`` or ``failed``: how far LINE prepared a video or audio."""
        try:
            with ApiClient(self._configuration) as api_client:
                blob = MessagingApiBlob(api_client)
                response = blob.get_message_content_transcoding_by_message_id(
                    message_id, _request_timeout=self._timeout
                )
        except ApiException as exc:
            raise _failure(exc, "content preparation status") from exc
        except (OSError, HTTPError) as exc:
            raise RetriableError(f"LINE content preparation status unreachable: {exc}") from exc
        return str(response.status)

    def download(self, message_id: str) -> Content:
        """The message's content and its type as LINE gives it."""
        try:
            with ApiClient(self._configuration) as api_client:
                response = MessagingApiBlob(api_client).get_message_content_with_http_info(
                    message_id, _request_timeout=self._timeout
                )
        except ApiException as exc:
            raise _failure(exc, "content download") from exc
        except (OSError, HTTPError) as exc:
            raise RetriableError(f"LINE content download unreachable: {exc}") from exc
        if response.status_code == 202:
            raise NotReady("LINE is still preparing this content", status=202)
        headers = response.headers or {}
        return Content(data=bytes(response.data or b""), content_type=headers.get("content-type"))


def _failure(exc: ApiException, what: str) -> RetriableError | FatalError:
    if exc.status == 404:
        return Gone(f"LINE has no content for this message (HTTP 404 on {what})", status=404)
    return classify(exc, what)
