"""Media and privacy: content goes after its retention period (the row says so), with its
message at the latest; erasing a friend deletes their media; an export lists them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config import Settings
from core.clock import utcnow
from idlink.media import fetch, queries
from idlink.media.models import Media, MediaBlob, MediaState
from idlink.models import ConversationMessage
from privacy import erasure, export, people
from privacy.retention import RetentionPolicy, purge
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.idlink.media_support import JPEG, sent_media, take_in
from tests.transactional import RolledBackDatabase as FastDb

pytestmark = pytest.mark.fast


@pytest.fixture
def media_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path})


def stored(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, settings: Settings, **opts
) -> Media:
    media = take_in(db, channel, sent_media(line_sandbox, channel, "image", **opts), settings)
    with db.session_scope() as session:
        assert fetch.fetch(session, media.id, settings=settings) == MediaState.STORED
    return media


def reread(db: FastDb, media_id: int) -> Media | None:
    with db.session_scope() as session:
        media = session.get(Media, media_id)
        if media is not None:
            session.expunge(media)
        return media


def blobs(db: FastDb) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(MediaBlob)) or 0


def test_media_content_is_purged_after_its_retention_and_the_row_says_so(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    media = stored(db, line_sandbox, channel, media_settings, data=JPEG)
    policy = RetentionPolicy.from_settings(media_settings)
    assert policy.media_days == 180

    with db.session_scope() as session:
        early = purge(session, policy=policy, now=utcnow() + timedelta(days=179))
    assert early["media"] == 0 and blobs(db) == 1

    with db.session_scope() as session:
        late = purge(session, policy=policy, now=utcnow() + timedelta(days=181))
    assert late["media"] == 1 and blobs(db) == 0
    purged = reread(db, media.id)
    assert purged is not None and purged.state == MediaState.PURGED
    with db.session_scope() as session, pytest.raises(queries.MediaContentMissing):
        queries.content_of(session, session.get_one(Media, media.id))
    with db.session_scope() as session:
        assert session.get(ConversationMessage, media.message_id) is not None


def test_a_file_kept_on_disk_goes_with_its_message_when_messages_go_first(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    settings = media_settings.model_copy(update={"media_storage": "filesystem"})
    media = stored(db, line_sandbox, channel, settings)
    kept = reread(db, media.id)
    assert kept is not None and kept.location and Path(kept.location).exists()
    policy = RetentionPolicy(messages_days=30, media_days=0)

    with db.session_scope() as session:
        counts = purge(session, policy=policy, now=utcnow() + timedelta(days=31))

    assert counts["media"] == 1 and counts["conversation_messages"] == 1
    assert not Path(kept.location).exists()
    assert reread(db, media.id) is None


def test_erasing_a_friend_deletes_their_media_and_an_export_lists_it_before(
    db: FastDb, line_sandbox: SandboxServer, channel: ChannelSetup, media_settings: Settings
) -> None:
    media = stored(db, line_sandbox, channel, media_settings, data=JPEG)
    with db.session_scope() as session:
        person = people.of_friend(session, shop_id=channel.shop_id, friend_id=media.friend_id)
        [listed] = export.collect(session, person)["media"]
    assert listed["kind"] == "image" and listed["size"] == len(JPEG)
    assert listed["state"] == "stored" and listed["location"] is None

    with db.session_scope() as session:
        counts = erasure.erase_friend(
            session, shop_id=channel.shop_id, friend_id=media.friend_id, actor="test"
        )

    assert counts["media"] == 1
    assert reread(db, media.id) is None and blobs(db) == 0
