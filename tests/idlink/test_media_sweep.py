"""The running hub retries a medium whose fetch failed: the sweeper takes it up when its time
comes, and the friend's image is kept after all."""

from __future__ import annotations

from sqlalchemy import select, update

from core.clock import utcnow
from core.db import Database
from idlink.media.models import Media, MediaState
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.idlink.media_support import JPEG
from tests.waiting import wait_for


def state_of(db: Database, line_message_id: str) -> tuple[str, int] | None:
    with db.session_scope() as session:
        media = session.scalar(select(Media).where(Media.line_message_id == line_message_id))
        return (media.state, media.attempts) if media is not None else None


def test_a_fetch_that_failed_is_taken_up_by_the_sweeper_when_its_retry_is_due(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    line_sandbox.state.inject_failures("getMessageContent", [500, 502, 503])
    user = line_sandbox.state.add_user()
    delivery = line_sandbox.simulate.send_media(
        user.user_id, "image", data=JPEG, channel_id=channel.channel_id
    )
    line_message_id = delivery.events[0]["message"]["id"]

    wait_for(
        lambda: state_of(db, line_message_id) == (MediaState.PENDING, 1),
        what="the first fetch run to fail",
    )
    with db.session_scope() as session:
        session.execute(
            update(Media)
            .where(Media.line_message_id == line_message_id)
            .values(next_attempt_at=utcnow())
        )

    wait_for(
        lambda: state_of(db, line_message_id) == (MediaState.STORED, 2),
        what="the sweeper's fetch",
    )
