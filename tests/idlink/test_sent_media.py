"""Images staff send, as kept: in the configured storage (a directory here), readable by their
token only while kept, gone with the friend's erasure; and a preview only when the picture is
too large to be its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings
from idlink.media import lifecycle, queries, sent
from idlink.media.queries import MediaNotFound
from idlink.models import Friend
from tests.api.admin_support import add_friend
from tests.factories import ChannelSetup
from tests.inbox.images import picture, size_of
from tests.transactional import RolledBackDatabase as FastDb

pytestmark = pytest.mark.fast


def test_a_sent_image_is_kept_in_the_media_directory_and_erased_with_the_friend(
    db: FastDb, channel: ChannelSetup, settings: Settings, tmp_path: Path
) -> None:
    on_disk = settings.model_copy(
        update={"media_storage": "filesystem", "media_dir": tmp_path / "media"}
    )
    friend_id = add_friend(db, channel.channel_pk, "U" + "a" * 32)
    image = sent.check(picture(64, 48), max_bytes=on_disk.reply_image_max_bytes)
    with db.session_scope() as session:
        media = sent.keep(
            session, friend=session.get_one(Friend, friend_id), image=image, settings=on_disk
        )
        token, location = media.public_token or "", Path(media.location or "")
        served = queries.content_of(session, queries.sent(session, token))

        assert served == image.data and location.read_bytes() == image.data
        assert location.is_relative_to(tmp_path / "media") and len(token) == 43

        lifecycle.erase_of_friends(session, [friend_id])
        with pytest.raises(MediaNotFound):
            queries.sent(session, token)
    assert not location.exists()


def test_only_a_large_picture_gets_a_smaller_preview() -> None:
    small = sent.check(picture(400, 300), max_bytes=10_000_000)
    tall = sent.check(picture(300, 1200, kind="JPEG"), max_bytes=10_000_000)

    assert sent.preview(small) is small
    assert size_of(sent.preview(tall).data) == (120, 480)
    assert sent.preview(tall).content_type == "image/jpeg"


def test_an_upload_is_refused_by_its_declared_length_before_it_is_read() -> None:
    limit = 10 * 1024 * 1024

    sent.check_declared_length(str(limit + 1000), max_bytes=limit)
    with pytest.raises(sent.ImageTooLarge):
        sent.check_declared_length(str(limit + sent.FORM_ALLOWANCE + 1), max_bytes=limit)
    with pytest.raises(sent.UploadLengthRequired):
        sent.check_declared_length(None, max_bytes=limit)
