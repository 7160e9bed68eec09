"""How a kept medium is answered: headers by kind, ETags, and byte ranges as players ask."""

from __future__ import annotations

import hashlib

import pytest

from idlink.media import serving
from idlink.media.models import Media

DATA = bytes(range(100))


def medium(kind: str, content_type: str, file_name: str | None = None) -> Media:
    return Media(
        kind=kind,
        content_type=content_type,
        file_name=file_name,
        message_id=42,
        sha256=hashlib.sha256(DATA).hexdigest(),
    )


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        (None, 200, DATA, None),
        ("bytes=10-19", 206, DATA[10:20], "bytes 10-19/100"),
        ("bytes=90-", 206, DATA[90:], "bytes 90-99/100"),
        ("bytes=95-500", 206, DATA[95:], "bytes 95-99/100"),
        ("bytes=-5", 206, DATA[95:], "bytes 95-99/100"),
        ("bytes=100-", 416, b"", "bytes */100"),
        ("bytes=20-10", 416, b"", "bytes */100"),
        ("bytes=0-1,5-6", 200, DATA, None),
        ("items=0-1", 200, DATA, None),
        ("bytes=-", 200, DATA, None),
    ],
)
def test_a_byte_range_is_served_as_asked_or_the_whole_content(
    header: str | None, status: int, body: bytes, content_range: str | None
) -> None:
    served = serving.serve(medium("video", "video/mp4"), lambda: DATA, byte_range=header)

    assert (served.status, served.body) == (status, body)
    assert served.headers.get("content-range") == content_range
    assert served.headers["accept-ranges"] == "bytes"


def test_the_browsers_copy_is_not_sent_again_and_the_content_not_even_read() -> None:
    media = medium("image", "image/png")

    def unread() -> bytes:
        raise AssertionError("read")

    served = serving.serve(media, unread, if_none_match=f'W/"x", "{media.sha256}"')

    assert served.status == 304 and served.body == b""


def test_only_types_browsers_play_are_shown_in_place_and_names_are_quoted_safely() -> None:
    image = serving.headers(medium("image", "image/png"))
    page = serving.headers(medium("file", "text/html", 'a"b;\\c.html'))
    svg_as_image = serving.headers(medium("image", "image/svg+xml"))

    assert image["content-disposition"].startswith('inline; filename="line-image-42.png"')
    assert page["content-disposition"].startswith('attachment; filename="a_b__c.html"')
    assert "filename*=UTF-8''a%22b%3B%5Cc.html" in page["content-disposition"]
    assert svg_as_image["content-disposition"].startswith("attachment")
