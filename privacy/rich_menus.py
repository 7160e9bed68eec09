"""An erased friend's rich menu, dropped on LINE: erasure notes the LINE user (the one copy of
their id that stays) and this job asks LINE to return them to the default menu, in bulk per
channel, retrying with backoff while LINE fails. Once LINE accepts, or refuses for good, the
row and the id in it go."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from config import Settings
from connectors.errors import FatalError, RetriableError
from connectors.line.client import MAX_BULK_USERS
from core.clock import utcnow
from core.enqueue import enqueue_after_commit
from core.tenancy import Channel
from idlink import service as idlink_service
from idlink.models import Friend
from privacy.models import RichMenuUnlink

log = logging.getLogger(__name__)

TASK = "privacy.unlink_rich_menus"
FIRST_RETRY = timedelta(seconds=5)
LAST_RETRY = timedelta(minutes=30)


def schedule(session: Session, friends: list[Friend], now: datetime) -> int:
    """Note each friend's LINE user for the unlink (before their id is erased); the job runs
    after commit."""
    for friend in friends:
        session.add(
            RichMenuUnlink(
                shop_id=friend.shop_id,
                channel_id=friend.channel_id,
                line_user_id=friend.line_user_id,
                next_attempt_at=now,
                created_at=now,
            )
        )
    if friends:
        enqueue_after_commit(session, TASK)
    return len(friends)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … up to 30 minutes between tries."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LAST_RETRY)


def unlink_due(session: Session, *, settings: Settings, now: datetime | None = None) -> int:
    """Send the due unlinks, a bulk request per channel; return how many LINE took or refused
    for good (their rows deleted)."""
    now = now or utcnow()
    due = session.scalars(
        select(RichMenuUnlink)
        .where(RichMenuUnlink.next_attempt_at <= now)
        .order_by(RichMenuUnlink.id)
        .limit(MAX_BULK_USERS * 4)
    ).all()
    by_channel: dict[int, list[RichMenuUnlink]] = defaultdict(list)
    for row in due:
        by_channel[row.channel_id].append(row)
    done = 0
    for channel_id, rows in by_channel.items():
        client = idlink_service.line_client(session.get_one(Channel, channel_id), settings)
        for start in range(0, len(rows), MAX_BULK_USERS):
            chunk = rows[start : start + MAX_BULK_USERS]
            try:
                client.bulk_unlink_rich_menus([row.line_user_id for row in chunk])
            except RetriableError as exc:
                for row in chunk:
                    row.attempts += 1
                    row.last_error = str(exc)[:500]
                    row.next_attempt_at = now + backoff(row.attempts)
                log.warning("rich menu unlink on channel %s to be retried: %s", channel_id, exc)
                continue
            except FatalError as exc:
                # Nothing a retry would change (the user is gone from LINE, say): the id goes.
                log.warning("rich menu unlink on channel %s refused: %s", channel_id, exc)
            session.execute(
                delete(RichMenuUnlink).where(RichMenuUnlink.id.in_([row.id for row in chunk]))
            )
            done += len(chunk)
    return done
