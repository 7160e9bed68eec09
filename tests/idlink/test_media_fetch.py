"""Fetching what friends send from LINE's content endpoint: kept whole, retried on 5xx and
timeouts with backoff, refused when too large or not what the message says, idempotent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import Settings
from core.db import Database
from idlink.media import fetch, queries
from idlink.media.models import Media, MediaBlob, MediaState
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.idlink.media_support import JPEG, sent_media, take_in
from tests.transactional import RolledBackDatabase as FastDb
from tests.waiting import wait_for

pytestmark = pytest.mark.fast


@pytest.fixture
def media_settings(settings: Settings, tmp_path) -> Settings:
    return settings.model_copy(update={"media_fetch_timeout_seconds": 0.5, "data_dir": tmp_path})


class Pauses(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fetched(
    db: Database, media_id: int, settings: Settings, pauses: Pauses | None = None
) -> tuple[str | None, Media, bytes | None]:
    """Run one fetch of the medium; its new state, the row, and the content kept."""
    pause = Pauses() if pauses is None else pauses
    with db.session_scope() as session:
        state = fetch.fetch(session, media_id, settings=settings, pause=pause)
        media = session.get_one(Media, media_id)
        data = queries.content_of(session, media) if state == MediaState.STORED else None
        session.flush()
        session.expunge(media)
    return state, media, data


def content_calls(line_sandbox: SandboxServer, message_id: str) -> int:
    path = f"/v2/bot/message/{message_id}/content"
    return sum(1 for call in line_sandbox.state.api_calls() if call.path == path)


def test_an_image_is_fetched_and_kept_byte_for_byte_with_its_real_type(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    event = sent_media(line_sandbox, channel, "image", data=JPEG, content_type="image/jpeg")
    media = take_in(db, channel, event, media_settings)

    assert db.sent[-1] == ("media.fetch", {"media_id": media.id})
    state, kept, data = fetched(db, media.id, media_settings)

    assert state == MediaState.STORED and data == JPEG
    assert (kept.content_type, kept.size, kept.storage) == ("image/jpeg", len(JPEG), "database")
    assert kept.line_message_id == event["message"]["id"]


def test_a_redelivered_event_and_a_second_fetch_keep_one_medium(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    event = sent_media(line_sandbox, channel, "image")
    first = take_in(db, channel, event, media_settings)
    again = take_in(db, channel, event, media_settings)
    fetched(db, first.id, media_settings)

    assert fetched(db, first.id, media_settings)[0] is None
    assert again.id == first.id
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(MediaBlob)) == 1
    wait_for(lambda: content_calls(line_sandbox, event["message"]["id"]) == 1, what="1 call")


def test_line_5xx_answers_are_retried_with_backoff_until_the_content_comes(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    event = sent_media(line_sandbox, channel, "image", data=JPEG)
    media = take_in(db, channel, event, media_settings)
    line_sandbox.state.inject_failures("getMessageContent", [500, 503])
    pauses = Pauses()

    state, _, data = fetched(db, media.id, media_settings, pauses)

    assert state == MediaState.STORED and data == JPEG
    assert pauses == list(fetch.RETRY_PAUSES)
    wait_for(lambda: content_calls(line_sandbox, event["message"]["id"]) == 3, what="3 calls")


def test_a_timed_out_download_is_tried_again(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    event = sent_media(line_sandbox, channel, "image", data=JPEG)
    media = take_in(db, channel, event, media_settings)
    line_sandbox.state.inject_delay("getMessageContent", 1.5)

    state, _, data = fetched(db, media.id, media_settings)

    assert state == MediaState.STORED and data == JPEG


def test_a_fetch_run_that_keeps_failing_waits_longer_then_gives_up(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    settings = media_settings.model_copy(update={"media_fetch_attempts": 2})
    media = take_in(db, channel, sent_media(line_sandbox, channel, "image"), settings)
    line_sandbox.state.inject_failures("getMessageContent", [500] * 6)

    state, waiting, _ = fetched(db, media.id, settings)
    assert state == MediaState.PENDING and waiting.attempts == 1
    assert waiting.next_attempt_at is not None and "HTTP 500" in (waiting.error or "")
    assert fetch.retry_delay(1) == timedelta(seconds=30) and fetch.retry_delay(20).seconds == 3600

    state, failed, _ = fetched(db, media.id, settings)
    assert state == MediaState.FAILED and "gave up after 2 fetches" in (failed.error or "")


def test_content_line_no_longer_has_is_marked_failed_at_once(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    event = sent_media(line_sandbox, channel, "image")
    media = take_in(db, channel, event, media_settings)
    line_sandbox.state.contents.expire(event["message"]["id"])

    state, failed, _ = fetched(db, media.id, media_settings)

    assert state == MediaState.FAILED and "404" in (failed.error or "")


def test_media_over_the_size_limit_is_refused_and_marked_too_large(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    small = media_settings.model_copy(update={"media_max_bytes": 1000})
    image = take_in(db, channel, sent_media(line_sandbox, channel, "image", data=JPEG), small)
    file_event = sent_media(line_sandbox, channel, "file", data=b"%PDF" + b"x" * 5000)
    declared = take_in(db, channel, file_event, small)

    state, refused, _ = fetched(db, image.id, small)

    assert state == MediaState.TOO_LARGE and refused.size == len(JPEG)
    assert declared.state == MediaState.TOO_LARGE and declared.size == 5004
    # The file said its size: nothing was downloaded, no fetch nudged.
    assert content_calls(line_sandbox, file_event["message"]["id"]) == 0
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(MediaBlob)) == 0


def test_an_image_that_is_no_image_is_refused(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    event = sent_media(
        line_sandbox, channel, "image", data=b"<script>alert(1)</script>", content_type="image/png"
    )
    media = take_in(db, channel, event, media_settings)

    state, refused, _ = fetched(db, media.id, media_settings)

    assert state == MediaState.REFUSED and "image/png for a image message" in (refused.error or "")


def test_a_video_waits_while_line_prepares_it(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    event = sent_media(line_sandbox, channel, "video", data=b"mp4", transcoding="processing")
    media = take_in(db, channel, event, media_settings)

    state, _, _ = fetched(db, media.id, media_settings)
    assert state == MediaState.PENDING and content_calls(line_sandbox, event["message"]["id"]) == 0

    line_sandbox.state.contents.set_transcoding(event["message"]["id"], "succeeded")
    state, kept, data = fetched(db, media.id, media_settings)
    assert state == MediaState.STORED and data == b"mp4" and kept.content_type == "video/mp4"


def test_an_external_image_keeps_its_url_and_is_not_fetched(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    event = sent_media(line_sandbox, channel, "image", external_url="https://img.example.com/a.jpg")

    media = take_in(db, channel, event, media_settings)

    assert media.state == MediaState.EXTERNAL
    assert media.external_url == "https://img.example.com/a.jpg"
    assert ("media.fetch", {"media_id": media.id}) not in db.sent


def test_the_filesystem_storage_keeps_a_private_file(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    settings = media_settings.model_copy(update={"media_storage": "filesystem"})
    event = sent_media(line_sandbox, channel, "file", data=b"%PDF-1.7", file_name="../../見積.pdf")
    media = take_in(db, channel, event, settings)

    state, kept, data = fetched(db, media.id, settings)

    assert state == MediaState.STORED and data == b"%PDF-1.7"
    assert kept.storage == "filesystem" and kept.file_name == "見積.pdf"
    assert kept.location is not None and kept.location.startswith(str(settings.data_dir))
    assert Path(kept.location).stat().st_mode & 0o777 == 0o600
