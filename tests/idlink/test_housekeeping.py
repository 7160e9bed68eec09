"""Anonymous nonce minting is throttled per address, and the linking flows' expired rows
(nonces, link codes, throttles) are purged by the ``idlink.purge`` job."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select

from config import Settings
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel, Shop
from idlink import members, purge, verification
from idlink import service as idlink_service
from idlink.members import MemberFields
from idlink.models import LinkCode, LinkNonce, NoncePurpose, VerificationThrottle
from jobs.celery_app import beat_schedule
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup, make_channel, make_shop


def count(db: Database, model: type) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def ask_nonce(hub_url: str, channel: ChannelSetup) -> httpx.Response:
    return httpx.post(
        f"{hub_url}/api/idlink/nonce", json={"channel_id": channel.channel_id}, timeout=10
    )


def test_one_address_asking_for_nonces_in_a_loop_is_stopped_at_the_limit(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    limit = verification.NONCE_REQUESTS_PER_ADDRESS

    answers = [ask_nonce(hub_url, channel) for _ in range(limit + 5)]

    assert [a.status_code for a in answers] == [200] * limit + [429] * 5
    refused = answers[-1].json()
    assert refused["error"] == "TooManyAttempts"
    assert "try again after" in refused["detail"]
    assert count(db, LinkNonce) == limit
    other_shop = make_channel(db, line_sandbox, hub_url, make_shop(db))
    assert ask_nonce(hub_url, other_shop).status_code == 200


def test_the_purge_deletes_expired_nonces_codes_and_finished_throttles_only(
    db: Database, settings: Settings, shop: Shop, channel: ChannelSetup
) -> None:
    now = utcnow()
    long_ago = now - timedelta(days=10)
    with db.session_scope() as session:
        row = session.get_one(Channel, channel.channel_pk)
        member = members.create_member(
            session, shop_id=shop.id, member_number="M-1", fields=MemberFields(), actor="test"
        )
        for when in (long_ago, now):
            idlink_service.issue_nonce(
                session, channel=row, purpose=NoncePurpose.ID_TOKEN, now=when
            )
            verification.issue_link_code(session, member=member, settings=settings, now=when)
            verification.record_failure(
                session,
                shop_id=shop.id,
                subjects=(f"s-{when.timestamp():.0f}",),
                settings=settings,
                now=when,
            )

    with db.session_scope() as session:
        purged = purge.purge_expired(session, settings=settings, now=now)

    assert purged == {"nonces": 1, "link_codes": 1, "throttles": 1}
    assert (count(db, LinkNonce), count(db, LinkCode), count(db, VerificationThrottle)) == (1, 1, 1)


def test_the_purge_runs_every_hour() -> None:
    schedule = beat_schedule(Settings(_env_file=None))

    assert schedule["idlink.purge"]["schedule"] == 3600.0
