"""Staff accounts: passwords through one-time links, throttled sign-in, sessions that end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from staff import service
from staff.models import Role, StaffSession, StaffUser
from staff.service import SignedIn, SignInPolicy, SignInRefused

pytestmark = pytest.mark.fast

POLICY = SignInPolicy(max_failures=3, lock=timedelta(minutes=15), idle=timedelta(hours=1))
PASSWORD = "correct horse battery"


def add_account(db: Database, shop: Shop, email: str = "aoi@example.jp") -> None:
    with db.session_scope() as session:
        user = service.add_staff(session, email=email, shop=session.merge(shop), role=Role.OPERATOR)
        token = service.issue_password_link(session, user=user, ttl=timedelta(hours=1))
        service.set_password(session, token=token, password=PASSWORD)


def sign_in(
    db: Database, password: str, *, email: str = "aoi@example.jp", ip: str = "10.0.0.1", now=None
):
    with db.session_scope() as session:
        return service.sign_in(
            session,
            email=email,
            password=password,
            ip=ip,
            user_agent="test",
            policy=POLICY,
            now=now,
        )


def test_the_password_is_stored_as_an_argon2id_hash(db: Database, shop: Shop) -> None:
    add_account(db, shop)

    with db.session_scope() as session:
        user = session.scalars(select(StaffUser)).one()
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_a_set_password_link_works_once(db: Database, shop: Shop) -> None:
    with db.session_scope() as session:
        user = service.add_staff(
            session, email="Aoi@Example.jp", shop=session.merge(shop), role=Role.VIEWER
        )
        token = service.issue_password_link(session, user=user, ttl=timedelta(hours=1))
        service.set_password(session, token=token, password=PASSWORD)
        with pytest.raises(service.PasswordLinkInvalid):
            service.set_password(session, token=token, password="another password")


def test_an_expired_link_and_a_short_password_are_refused(db: Database, shop: Shop) -> None:
    with db.session_scope() as session:
        user = service.add_staff(
            session, email="aoi@example.jp", shop=session.merge(shop), role=Role.VIEWER
        )
        token = service.issue_password_link(session, user=user, ttl=timedelta(hours=1))
        with pytest.raises(service.WeakPassword):
            service.set_password(session, token=token, password="short")
        with pytest.raises(service.PasswordLinkInvalid):
            service.set_password(
                session, token=token, password=PASSWORD, now=utcnow() + timedelta(hours=2)
            )


def test_sign_in_opens_a_session_whose_token_is_stored_hashed(db: Database, shop: Shop) -> None:
    add_account(db, shop)

    result = sign_in(db, PASSWORD, email=" AOI@example.jp ")

    assert isinstance(result, SignedIn)
    with db.session_scope() as session:
        stored = session.scalars(select(StaffSession)).one()
        assert stored.token_hash != result.token and len(stored.token_hash) == 64
        assert (stored.ip, stored.user_agent, stored.shop_id) == ("10.0.0.1", "test", shop.id)
        assert service.resume_session(session, token=result.token, idle=POLICY.idle) is not None


def test_wrong_passwords_lock_the_account_even_with_the_right_one(db: Database, shop: Shop) -> None:
    add_account(db, shop)

    refusals = [sign_in(db, "wrong password", ip=f"10.0.0.{n}") for n in range(3)]
    locked = sign_in(db, PASSWORD, ip="10.0.0.9")

    assert all(isinstance(r, SignInRefused) for r in refusals)
    assert refusals[-1].locked_until is not None
    assert isinstance(locked, SignInRefused) and locked.locked_until is not None
    assert isinstance(sign_in(db, PASSWORD, now=utcnow() + timedelta(minutes=16)), SignedIn)


def test_one_address_guessing_many_accounts_is_locked(db: Database, shop: Shop) -> None:
    add_account(db, shop)

    for n in range(3):
        sign_in(db, "guess", email=f"someone{n}@example.jp", ip="203.0.113.7")

    assert isinstance(sign_in(db, PASSWORD, ip="203.0.113.7"), SignInRefused)
    assert isinstance(sign_in(db, PASSWORD, ip="198.51.100.1"), SignedIn)


def test_an_idle_session_ends(db: Database, shop: Shop) -> None:
    add_account(db, shop)
    result = sign_in(db, PASSWORD)
    assert isinstance(result, SignedIn)

    with db.session_scope() as session:
        later = utcnow() + POLICY.idle + timedelta(minutes=1)
        assert (
            service.resume_session(session, token=result.token, idle=POLICY.idle, now=later) is None
        )
        assert service.resume_session(session, token=result.token, idle=POLICY.idle) is None


def test_disabling_an_account_ends_its_sessions_and_refuses_sign_in(
    db: Database, shop: Shop
) -> None:
    add_account(db, shop)
    result = sign_in(db, PASSWORD)
    assert isinstance(result, SignedIn)

    with db.session_scope() as session:
        service.disable_staff(session, email="aoi@example.jp")

    with db.session_scope() as session:
        assert service.resume_session(session, token=result.token, idle=POLICY.idle) is None
    assert isinstance(sign_in(db, PASSWORD), SignInRefused)


def test_sign_out_everywhere_ends_every_session(db: Database, shop: Shop) -> None:
    add_account(db, shop)
    first, second = sign_in(db, PASSWORD), sign_in(db, PASSWORD)
    assert isinstance(first, SignedIn) and isinstance(second, SignedIn)

    with db.session_scope() as session:
        user = session.scalars(select(StaffUser)).one()
        assert service.revoke_all_sessions(session, user=user) == 2

    with db.session_scope() as session:
        for token in (first.token, second.token):
            assert service.resume_session(session, token=token, idle=POLICY.idle) is None


def test_a_second_role_in_the_same_shop_is_refused(db: Database, shop: Shop) -> None:
    add_account(db, shop)
    with db.session_scope() as session, pytest.raises(service.Conflict):
        service.add_staff(
            session, email="aoi@example.jp", shop=session.merge(shop), role=Role.ADMIN
        )


def test_an_unknown_channel_scope_is_refused(db: Database, shop: Shop) -> None:
    with db.session_scope() as session, pytest.raises(service.BadRequest):
        service.add_staff(
            session,
            email="aoi@example.jp",
            shop=session.merge(shop),
            role=Role.VIEWER,
            channel_ids=["999"],
        )
