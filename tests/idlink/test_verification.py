"""Lock-out windows and link-code expiry, with time passed in (``now=``) on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config import Settings
from core.db import Database
from core.tenancy import Shop
from idlink import verification
from idlink.errors import VerificationLocked
from idlink.models import Member
from tests.idlink.support import add_member

pytestmark = pytest.mark.fast

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def attempt(
    db: Database, shop: Shop, settings: Settings, proof: verification.Proof, now: datetime
) -> Member:
    """One verification as a request runs it: a failure is recorded and committed."""
    with db.session_scope() as session:
        try:
            with session.begin_nested():
                return verification.verify(
                    session,
                    shop=session.get_one(Shop, shop.id),
                    proof=proof,
                    line_user_id="U" + "f" * 32,
                    settings=settings,
                    now=now,
                )
        except verification.VerificationFailed as failure:
            reported = failure.record(session, settings=settings, now=now)
            session.commit()
            raise reported from None


WRONG = verification.Proof(member_number="V-1", second_factor="2000-01-01")
RIGHT = verification.Proof(member_number="V-1", second_factor="1990-04-01")


def test_the_lock_lifts_after_the_window_and_a_right_answer_then_works(
    db: Database, shop: Shop, settings: Settings
) -> None:
    member_id = add_member(db, shop.id, "V-1", birth_date="1990-04-01")
    for i in range(settings.link_max_failures):
        with pytest.raises((verification.VerificationFailed, VerificationLocked)):
            attempt(db, shop, settings, WRONG, T0 + timedelta(seconds=i))
    with pytest.raises(VerificationLocked) as locked:
        attempt(db, shop, settings, RIGHT, T0 + timedelta(seconds=30))
    window = timedelta(seconds=settings.link_failure_window_seconds)
    assert locked.value.until > T0 + window - timedelta(seconds=1)

    later = locked.value.until + timedelta(seconds=1)

    assert attempt(db, shop, settings, RIGHT, later).id == member_id


def test_failures_spread_beyond_the_window_never_lock(
    db: Database, shop: Shop, settings: Settings
) -> None:
    add_member(db, shop.id, "V-1", birth_date="1990-04-01")
    window = timedelta(seconds=settings.link_failure_window_seconds)
    for i in range(settings.link_max_failures * 2):
        with pytest.raises(verification.VerificationFailed):
            attempt(db, shop, settings, WRONG, T0 + i * window / 2)


def test_an_expired_link_code_is_refused(db: Database, shop: Shop, settings: Settings) -> None:
    member_id = add_member(db, shop.id, "V-2")
    with db.session_scope() as session:
        member = session.get_one(Member, member_id)
        _, code = verification.issue_link_code(session, member=member, settings=settings, now=T0)
    expiry = T0 + timedelta(hours=settings.link_code_ttl_hours)
    proof = verification.Proof(link_code=code)

    with pytest.raises(verification.VerificationFailed):
        attempt(db, shop, settings, proof, expiry)

    assert attempt(db, shop, settings, proof, expiry - timedelta(seconds=1)).id == member_id
