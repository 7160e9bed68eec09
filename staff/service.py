"""Staff accounts and roles, passwords (argon2id), sign-in with throttling, and sessions.

A session's token is handed to the browser once, in a cookie; the database keeps its SHA-256.
Signing in always starts a new session (a token set before sign-in is never promoted), so a
planted cookie cannot become a signed-in one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.crypto import new_token, sha256_hex
from core.db import insert, rows_matched
from core.errors import BadRequest, Conflict, Gone, NotFound
from core.tenancy import Channel, Shop
from staff.models import (
    PasswordLink,
    Role,
    SignInThrottle,
    StaffRole,
    StaffSession,
    StaffUser,
)

MIN_PASSWORD_LENGTH = 10
# Sessions record when they were last used at most this often: not one write per page.
TOUCH_INTERVAL = timedelta(seconds=60)


class StaffNotFound(NotFound):
    """No staff account with this email."""


class PasswordLinkInvalid(Gone):
    """The set-password link is unknown, used or expired: ask for a new one."""


class WeakPassword(BadRequest):
    """The password is too short."""


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile


@cache
def _decoy_hash() -> str:
    return _hasher().hash(new_token(16))


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get_user(session: Session, email: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(StaffUser.email == normalize_email(email)))
    if user is None:
        raise StaffNotFound(f"no staff account {email!r}: `tsunagu staff list` shows them")
    return user


def add_staff(
    session: Session,
    *,
    email: str,
    shop: Shop,
    role: Role,
    channel_ids: Sequence[str] = (),
) -> StaffUser:
    """Give ``email`` a role in ``shop`` (creating the account); one role per shop."""
    email = normalize_email(email)
    if "@" not in email:
        raise BadRequest(f"{email!r} is not an email address")
    known = set(session.scalars(select(Channel.line_channel_id).where(Channel.shop_id == shop.id)))
    unknown = sorted(set(channel_ids) - known)
    if unknown:
        raise BadRequest(f"shop {shop.slug!r} has no channel {', '.join(unknown)}")
    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None:
        user = StaffUser(email=email)
        session.add(user)
        session.flush()
    elif any(r.shop_id == shop.id for r in user.roles):
        raise Conflict(f"{email} already has a role in shop {shop.slug!r}")
    user.roles.append(
        StaffRole(shop_id=shop.id, role=role, channel_ids=sorted(channel_ids) or None)
    )
    session.flush()
    return user


def list_staff(session: Session, *, shop: Shop | None = None) -> list[tuple[StaffUser, StaffRole]]:
    """Every (account, role) pair, of one shop or all, by email."""
    query = select(StaffUser, StaffRole).join(StaffRole, StaffRole.user_id == StaffUser.id)
    if shop is not None:
        query = query.where(StaffRole.shop_id == shop.id)
    return [(u, r) for u, r in session.execute(query.order_by(StaffUser.email, StaffRole.shop_id))]


def disable_staff(session: Session, *, email: str, now: datetime | None = None) -> StaffUser:
    """Refuse the account's sign-ins from now on and end its open sessions."""
    user = get_user(session, email)
    user.disabled = True
    revoke_all_sessions(session, user=user, now=now)
    return user


def issue_password_link(
    session: Session, *, user: StaffUser, ttl: timedelta, now: datetime | None = None
) -> str:
    """A one-time token to set the account's password; earlier unused links stop working."""
    now = now or utcnow()
    session.execute(
        update(PasswordLink)
        .where(PasswordLink.user_id == user.id, PasswordLink.used_at.is_(None))
        .values(used_at=now)
    )
    token = new_token(32)
    session.add(PasswordLink(user_id=user.id, token_hash=sha256_hex(token), expires_at=now + ttl))
    session.flush()
    return token


def password_link_user(session: Session, token: str, *, now: datetime | None = None) -> StaffUser:
    """The account a set-password link is for, while the link is unused and fresh."""
    link = session.scalar(select(PasswordLink).where(PasswordLink.token_hash == sha256_hex(token)))
    if link is None or link.used_at is not None or link.expires_at <= (now or utcnow()):
        raise PasswordLinkInvalid("this link is used or expired: ask an admin for a new one")
    return session.get_one(StaffUser, link.user_id)


def set_password(
    session: Session, *, token: str, password: str, now: datetime | None = None
) -> StaffUser:
    """Set the password through a one-time link; every session of the account ends."""
    now = now or utcnow()
    user = password_link_user(session, token, now=now)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = _hasher().hash(password)
    user.password_changed_at = now
    session.execute(
        update(PasswordLink).where(PasswordLink.token_hash == sha256_hex(token)).values(used_at=now)
    )
    revoke_all_sessions(session, user=user, now=now)
    return user


def set_password_directly(session: Session, *, user: StaffUser, password: str) -> None:
    """Set a password without a link (the demo's owner)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = _hasher().hash(password)
    user.password_changed_at = utcnow()


@dataclass(frozen=True, slots=True)
class SignInPolicy:
    max_failures: int
    lock: timedelta
    idle: timedelta


@dataclass(frozen=True, slots=True)
class SignedIn:
    session: StaffSession
    token: str


@dataclass(frozen=True, slots=True)
class SignInRefused:
    """Why a sign-in failed: ``locked_until`` is set while the account or address is locked."""

    locked_until: datetime | None = None


def throttle_subjects(email: str, ip: str | None) -> tuple[str, str]:
    """What failed sign-ins are counted against: the account and the address."""
    return (f"account:{normalize_email(email)}", f"address:{ip or '-'}")


def sign_in(
    session: Session,
    *,
    email: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    policy: SignInPolicy,
    now: datetime | None = None,
) -> SignedIn | SignInRefused:
    """Check the password and open a new session, or count the failure.

    Failures are counted per account and per address; ``policy.max_failures`` within
    ``policy.lock`` locks both for ``policy.lock``. A refusal is returned, not raised, so the
    caller's transaction keeps the count. With two-step sign-in on, the session opened waits for
    its code (``second_factor_pending``) and the account's count stands until the code is right.
    """
    now = now or utcnow()
    subjects = throttle_subjects(email, ip)
    locked = locked_until(session, subjects, now)
    if locked is not None:
        return SignInRefused(locked_until=locked)
    user = session.scalar(select(StaffUser).where(StaffUser.email == normalize_email(email)))
    if not _password_matches(user, password) or user is None or user.disabled or not user.roles:
        return SignInRefused(locked_until=record_failure(session, subjects, policy, now))
    pending = user.totp_enabled_at is not None
    if not pending:
        clear_failures(session, subjects[0])
    return open_session(
        session, user=user, ip=ip, user_agent=user_agent, now=now, second_factor_pending=pending
    )


def clear_failures(session: Session, subject: str) -> None:
    for row in session.scalars(select(SignInThrottle).where(SignInThrottle.subject == subject)):
        session.delete(row)


def open_session(
    session: Session,
    *,
    user: StaffUser,
    ip: str | None,
    user_agent: str | None,
    now: datetime | None = None,
    second_factor_pending: bool = False,
) -> SignedIn:
    """A new session (never a token the browser had before) in the account's first shop."""
    now = now or utcnow()
    token = new_token(32)
    staff_session = StaffSession(
        user_id=user.id,
        token_hash=sha256_hex(token),
        shop_id=user.roles[0].shop_id,
        created_at=now,
        last_seen_at=now,
        ip=ip,
        user_agent=(user_agent or "")[:500] or None,
        second_factor_pending=second_factor_pending,
    )
    session.add(staff_session)
    session.flush()
    return SignedIn(session=staff_session, token=token)


def _password_matches(user: StaffUser | None, password: str) -> bool:
    """Verify against the account's hash, or a decoy one, so both take the same time."""
    stored = user.password_hash if user is not None and user.password_hash else _decoy_hash()
    try:
        _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None and user.password_hash is not None


def locked_until(session: Session, subjects: Sequence[str], now: datetime) -> datetime | None:
    locks = [
        row.locked_until
        for row in session.scalars(
            select(SignInThrottle).where(SignInThrottle.subject.in_(subjects))
        )
        if row.locked_until is not None and row.locked_until > now
    ]
    return max(locks) if locks else None


def record_failure(
    session: Session, subjects: Sequence[str], policy: SignInPolicy, now: datetime
) -> datetime | None:
    locked_until: datetime | None = None
    for subject in subjects:
        session.execute(
            insert(session, SignInThrottle)
            .values(subject=subject, failures=0, window_started_at=now)
            .on_conflict_do_nothing(index_elements=["subject"])
        )
        row = session.execute(
            select(SignInThrottle)
            .where(SignInThrottle.subject == subject)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        if now - row.window_started_at > policy.lock:
            row.failures, row.window_started_at, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= policy.max_failures:
            row.locked_until = now + policy.lock
            locked_until = row.locked_until
    return locked_until


def resume_session(
    session: Session, *, token: str, idle: timedelta, now: datetime | None = None
) -> StaffSession | None:
    """The live session a cookie's token opens; an idle, revoked or disabled one opens nothing."""
    now = now or utcnow()
    found = session.scalar(select(StaffSession).where(StaffSession.token_hash == sha256_hex(token)))
    if (
        found is None
        or found.revoked_at is not None
        or found.second_factor_pending
        or found.user.disabled
    ):
        return None
    if now - found.last_seen_at > idle:
        found.revoked_at = now
        return None
    if now - found.last_seen_at > TOUCH_INTERVAL:
        found.last_seen_at = now
    return found


def revoke_session(
    session: Session, *, staff_session: StaffSession, now: datetime | None = None
) -> None:
    staff_session.revoked_at = staff_session.revoked_at or now or utcnow()


def revoke_all_sessions(session: Session, *, user: StaffUser, now: datetime | None = None) -> int:
    """End every open session of the account ("sign out everywhere"); returns how many."""
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user.id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return rows_matched(result)


def open_sessions(session: Session, *, user: StaffUser) -> list[StaffSession]:
    return list(
        session.scalars(
            select(StaffSession)
            .where(
                StaffSession.user_id == user.id,
                StaffSession.revoked_at.is_(None),
                StaffSession.second_factor_pending.is_(False),
            )
            .order_by(StaffSession.last_seen_at.desc())
        )
    )


def role_in(user: StaffUser, shop_id: int) -> StaffRole | None:
    return next((r for r in user.roles if r.shop_id == shop_id), None)


def switch_shop(staff_session: StaffSession, shop_id: int) -> None:
    """Make ``shop_id`` the session's shop; only a shop the account has a role in."""
    if role_in(staff_session.user, shop_id) is None:
        raise NotFound("no such shop for this account")
    staff_session.shop_id = shop_id
