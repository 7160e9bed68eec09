"""Image messages as LINE takes them: at send, both addresses are absolute ``https`` URLs of at
most 2,000 characters (plain ``http`` is allowed to a loopback host, where the sandbox and a hub
on one machine meet); when the user's app shows the message, LINE fetches them, and a JPEG or
PNG within its limits (10 MB the original, 1 MB the preview) is what shows."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from sandbox.line.errors import LineApiError, invalid_body

MAX_URL_LENGTH = 2000
MAX_BYTES = {"originalContentUrl": 10 * 1024 * 1024, "previewImageUrl": 1024 * 1024}
_SIGNATURES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
FETCH_TIMEOUT_SECONDS = 10.0

Which = Literal["originalContentUrl", "previewImageUrl"]


def check_image_message(prop: str, message: dict[str, Any]) -> None:
    """LINE's 400 for an image message whose addresses it would not take."""
    for field in MAX_BYTES:
        url = message.get(field)
        if not isinstance(url, str) or not url:
            raise invalid_body((f"{prop}.{field}", "must be specified"))
        if len(url) > MAX_URL_LENGTH:
            raise invalid_body(
                (f"{prop}.{field}", f"Length must be between 0 and {MAX_URL_LENGTH}")
            )
        if not acceptable_url(url):
            raise invalid_body((f"{prop}.{field}", "must be a valid HTTPS URL"))


def acceptable_url(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and _loopback(parts.hostname)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fetch(message: dict[str, Any], which: Which) -> tuple[bytes, str]:
    """What the user's app shows for an image message: the fetched bytes and their type, or
    ``LineApiError`` (502) saying why the image would show broken."""
    url = str(message.get(which) or "")
    try:
        response = httpx.get(url, timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise LineApiError(502, f"could not fetch {which}: {exc}") from exc
    if response.status_code != 200:
        raise LineApiError(502, f"{which} answered {response.status_code}")
    data = response.content
    if len(data) > MAX_BYTES[which]:
        raise LineApiError(502, f"{which} is {len(data)} bytes, over {MAX_BYTES[which]}")
    found = next((t for sig, t in _SIGNATURES.items() if data.startswith(sig)), None)
    if found is None:
        raise LineApiError(502, f"{which} is not a JPEG or PNG image")
    return data, found
