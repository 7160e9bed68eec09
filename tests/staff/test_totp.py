"""Two-step sign-in: enrolment, codes good once, recovery codes, and the throttle it shares."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select, text

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from staff import service, totp
from staff.models import RecoveryCode, StaffUser
from staff.service import SignedIn, SignInRefused
from tests.staff.test_service import PASSWORD, POLICY, add_account, sign_in


def enrol(db: Database, now: datetime) -> tuple[str, list[str]]:
    """Turn two-step sign-in on for aoi@example.jp; returns the secret and recovery codes."""
    with db.session_scope() as session:
        user = service.get_user(session, "aoi@example.jp")
        secret = totp.start_enrolment(session, user=user)
        codes = totp.confirm_enrolment(session, user=user, code=pyotp.TOTP(secret).at(now), now=now)
    return secret, codes


def second_step(db: Database, token: str, code: str, *, now: datetime, ip: str = "10.0.0.1"):
    with db.session_scope() as session:
        return totp.complete_sign_in(session, token=token, code=code, ip=ip, policy=POLICY, now=now)


def test_enrolment_needs_the_apps_code_and_stores_the_secret_encrypted(
    db: Database, shop: Shop
) -> None:
    add_account(db, shop)
    now = utcnow()
    with db.session_scope() as session:
        user = service.get_user(session, "aoi@example.jp")
        secret = totp.start_enrolment(session, user=user)
        with pytest.raises(totp.WrongCode):
            totp.confirm_enrolment(session, user=user, code="000000", now=now)
        assert not totp.is_enabled(user)
        codes = totp.confirm_enrolment(session, user=user, code=pyotp.TOTP(secret).at(now), now=now)
        assert totp.is_enabled(user)
        assert "otpauth://totp/tsunagu:aoi%40example.jp?secret=" in totp.provisioning_uri(user)

    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT totp_secret FROM staff_users")).scalar_one()
        hashes = connection.execute(text("SELECT code_hash FROM staff_recovery_codes")).all()
    assert secret not in stored
    assert len(codes) == 10 and len(set(codes)) == 10
    assert len(hashes) == 10
    assert not {code.replace("-", "") for code in codes} & {h for (h,) in hashes}


def test_a_password_alone_opens_nothing_once_two_step_sign_in_is_on(
    db: Database, shop: Shop
) -> None:
    add_account(db, shop)
    now = utcnow()
    secret, _codes = enrol(db, now)

    first = sign_in(db, PASSWORD, now=now)
    assert isinstance(first, SignedIn) and first.session.second_factor_pending
    with db.session_scope() as session:
        assert service.resume_session(session, token=first.token, idle=POLICY.idle) is None

    done = second_step(db, first.token, pyotp.TOTP(secret).at(now + timedelta(seconds=30)), now=now)

    assert isinstance(done, SignedIn) and done.token != first.token
    with db.session_scope() as session:
        assert service.resume_session(session, token=first.token, idle=POLICY.idle) is None
        assert service.resume_session(session, token=done.token, idle=POLICY.idle) is not None


def test_a_code_is_good_once(db: Database, shop: Shop) -> None:
    add_account(db, shop)
    now = utcnow()
    secret, _codes = enrol(db, now - timedelta(minutes=2))
    code = pyotp.TOTP(secret).at(now)

    first = sign_in(db, PASSWORD, now=now)
    assert isinstance(first, SignedIn)
    assert isinstance(second_step(db, first.token, code, now=now), SignedIn)
    again = sign_in(db, PASSWORD, now=now)
    assert isinstance(again, SignedIn)
    assert isinstance(second_step(db, again.token, code, now=now), SignInRefused)


def test_a_recovery_code_signs_in_once_and_disabling_needs_a_code(db: Database, shop: Shop) -> None:
    add_account(db, shop)
    now = utcnow()
    _secret, codes = enrol(db, now)

    first = sign_in(db, PASSWORD, now=now)
    assert isinstance(first, SignedIn)
    assert isinstance(second_step(db, first.token, codes[3].upper(), now=now), SignedIn)
    again = sign_in(db, PASSWORD, now=now)
    assert isinstance(again, SignedIn)
    assert isinstance(second_step(db, again.token, codes[3], now=now), SignInRefused)

    with db.session_scope() as session:
        user = service.get_user(session, "aoi@example.jp")
        assert totp.recovery_codes_left(session, user=user) == 9
        with pytest.raises(totp.WrongCode):
            totp.disable(session, user=user, code=codes[3], now=now)
        totp.disable(session, user=user, code=codes[4], now=now)
    with db.session_scope() as session:
        user = session.scalars(select(StaffUser)).one()
        assert user.totp_secret is None and not totp.is_enabled(user)
        assert session.scalars(select(RecoveryCode)).all() == []
    assert isinstance(sign_in(db, PASSWORD, now=now), SignedIn)


def test_wrong_codes_count_with_wrong_passwords_and_lock(db: Database, shop: Shop) -> None:
    add_account(db, shop)
    now = utcnow()
    secret, _codes = enrol(db, now)
    assert isinstance(sign_in(db, "wrong password", now=now), SignInRefused)

    first = sign_in(db, PASSWORD, now=now)
    assert isinstance(first, SignedIn)
    wrong = second_step(db, first.token, "123456", now=now)
    locked = second_step(db, first.token, "654321", now=now)
    right = second_step(db, first.token, pyotp.TOTP(secret).at(now), now=now)
    password = sign_in(db, PASSWORD, now=now)

    assert isinstance(wrong, SignInRefused) and wrong.locked_until is None
    assert isinstance(locked, SignInRefused) and locked.locked_until is not None
    assert isinstance(right, SignInRefused) and right.locked_until is not None
    assert isinstance(password, SignInRefused) and password.locked_until is not None


def test_the_second_step_expires(db: Database, shop: Shop) -> None:
    add_account(db, shop)
    now = utcnow()
    secret, _codes = enrol(db, now)
    first = sign_in(db, PASSWORD, now=now)
    assert isinstance(first, SignedIn)
    later = now + totp.CHALLENGE_TTL + timedelta(seconds=1)

    with pytest.raises(totp.SecondStepExpired):
        second_step(db, first.token, pyotp.TOTP(secret).at(later), now=later)


def test_an_admin_turns_two_step_sign_in_off_for_someone_who_lost_everything(
    db: Database, shop: Shop, cli
) -> None:
    add_account(db, shop)
    now = utcnow()
    enrol(db, now)
    waiting = sign_in(db, PASSWORD, now=now)
    assert isinstance(waiting, SignedIn) and waiting.session.second_factor_pending

    result = cli("staff", "reset-two-step", "Aoi@example.jp")

    assert result.exit_code == 0, result.output
    assert "two-step sign-in of aoi@example.jp is off" in result.output
    signed_in = sign_in(db, PASSWORD, now=now)
    assert isinstance(signed_in, SignedIn) and not signed_in.session.second_factor_pending
    with db.session_scope() as session:
        assert session.scalars(select(RecoveryCode)).all() == []
        assert not totp.is_enabled(service.get_user(session, "aoi@example.jp"))
