"""Time-based one-time passwords (RFC 6238) as an optional second sign-in step, with recovery
codes.

The secret is stored encrypted (``EncryptedText``); a code is accepted once (the step it was
accepted for is kept), one step early or late for clocks that drift. Recovery codes are shown
once and stored as keyed hashes, so a copy of the database alone does not reveal them.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.clock import as_utc, utcnow
from core.crypto import box, new_token, sha256_hex
from core.errors import BadRequest, Conflict, Gone
from staff.models import RecoveryCode, SignInThrottle, StaffSession, StaffUser
from staff.service import (
    SignedIn,
    SignInPolicy,
    SignInRefused,
    locked_until,
    record_failure,
    throttle_subjects,
)

ISSUER = "tsunagu"
RECOVERY_CODES = 10
# Lower-case letters and digits without the look-alikes (0/o, 1/l/i).
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
# How long the second step may wait after the password was checked.
CHALLENGE_TTL = timedelta(minutes=5)


class WrongCode(BadRequest):
    """The code is not the authenticator's current one (or a recovery code not yet used)."""


class TotpAlreadyOn(Conflict):
    """Two-step sign-in is already on for this account: turn it off first."""


class SecondStepExpired(Gone):
    """The second sign-in step came too late, or for no sign-in: start again."""


def is_enabled(user: StaffUser) -> bool:
    return user.totp_enabled_at is not None and user.totp_secret is not None


def start_enrolment(session: Session, *, user: StaffUser) -> str:
    """A new secret for the account, unused until a first code confirms it."""
    if is_enabled(user):
        raise TotpAlreadyOn("two-step sign-in is already on")
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    session.flush()
    return user.totp_secret


def provisioning_uri(user: StaffUser) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    if user.totp_secret is None:
        raise BadRequest("no two-step enrolment has started")
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def confirm_enrolment(
    session: Session, *, user: StaffUser, code: str, now: datetime | None = None
) -> list[str]:
    """Turn two-step sign-in on with a first code; returns the recovery codes, shown once."""
    now = now or utcnow()
    if is_enabled(user):
        raise TotpAlreadyOn("two-step sign-in is already on")
    if user.totp_secret is None or not _totp_matches(user, code, now):
        raise WrongCode("that code is not the one the authenticator shows now")
    user.totp_enabled_at = now
    return _new_recovery_codes(session, user)


def disable(session: Session, *, user: StaffUser, code: str, now: datetime | None = None) -> None:
    """Turn two-step sign-in off, proven with a current code or a recovery code."""
    if not is_enabled(user) or not check_code(session, user=user, code=code, now=now):
        raise WrongCode("that code is not the one the authenticator shows now")
    remove(session, user=user)


def remove(session: Session, *, user: StaffUser) -> None:
    """Forget the account's authenticator and recovery codes (no code asked: for an admin's
    ``tsunagu staff reset-two-step`` when both are lost)."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def recovery_codes_left(session: Session, *, user: StaffUser) -> int:
    return len(
        session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def check_code(
    session: Session, *, user: StaffUser, code: str, now: datetime | None = None
) -> bool:
    """Whether ``code`` is the authenticator's current code or an unused recovery code (which
    is then used up)."""
    now = now or utcnow()
    if not is_enabled(user):
        return False
    if _totp_matches(user, code, now):
        return True
    wanted = _recovery_hash(code)
    for row in session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ):
        if hmac.compare_digest(row.code_hash, wanted):
            row.used_at = now
            return True
    return False


def complete_sign_in(
    session: Session,
    *,
    token: str,
    code: str,
    ip: str | None,
    policy: SignInPolicy,
    now: datetime | None = None,
) -> SignedIn | SignInRefused:
    """The second step: a right code turns the waiting session into a signed-in one under a new
    token; a wrong one counts against the account and the address like a wrong password."""
    now = now or utcnow()
    waiting = session.scalar(
        select(StaffSession).where(StaffSession.token_hash == sha256_hex(token))
    )
    if (
        waiting is None
        or not waiting.second_factor_pending
        or waiting.revoked_at is not None
        or now - as_utc(waiting.created_at) > CHALLENGE_TTL
    ):
        raise SecondStepExpired("the sign-in waited too long: enter the password again")
    subjects = throttle_subjects(waiting.user.email, ip)
    locked = locked_until(session, subjects, now)
    if locked is not None:
        return SignInRefused(locked_until=locked)
    if waiting.user.disabled or not check_code(session, user=waiting.user, code=code, now=now):
        return SignInRefused(locked_until=record_failure(session, subjects, policy, now))
    for row in session.scalars(select(SignInThrottle).where(SignInThrottle.subject == subjects[0])):
        session.delete(row)
    fresh = new_token(32)
    waiting.token_hash = sha256_hex(fresh)
    waiting.second_factor_pending = False
    waiting.last_seen_at = now
    session.flush()
    return SignedIn(session=waiting, token=fresh)


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _totp_matches(user: StaffUser, code: str, now: datetime) -> bool:
    code = _normalise(code)
    if user.totp_secret is None or len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(user.totp_secret)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue
        at = now + (step - current) * timedelta(seconds=totp.interval)
        if hmac.compare_digest(totp.at(at), code):
            user.totp_last_step = step
            return True
    return False


def _recovery_hash(code: str) -> str:
    return box().blind_index("staff recovery code\0" + _normalise(code))


def _new_recovery_codes(session: Session, user: StaffUser) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(raw)))
    session.flush()
    return codes
