"""Proving membership: member number + the shop's second factor, or a one-time link code.

Failed attempts are counted per member number and per LINE user; past
``settings.link_max_failures`` within ``settings.link_failure_window_seconds`` both are locked
for one window. A wrong factor, an unknown member number and a malformed entry fail alike —
same error, same work (a PIN check runs even when there is no member) — so failures do not
reveal which member numbers exist.
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from core import crypto
from core.db import insert
from core.errors import HubError, TooManyAttempts, Unauthorized
from core.tenancy import SecondFactor, Shop
from idlink import members
from idlink.errors import RecordedFailure, VerificationLocked
from idlink.models import LinkCode, Member, VerificationThrottle

# Unambiguous characters (no 0/O, 1/I/L): codes are read off paper and typed on phones.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
CODE_GROUP = 4


@dataclass(frozen=True, slots=True)
class Proof:
    """What a person typed to prove who they are: a member number and factor, or a link code."""

    member_number: str | None = None
    second_factor: str | None = None
    link_code: str | None = None


class VerificationFailed(RecordedFailure, Unauthorized):
    """The member number and second factor, or the link code, did not match."""

    def __init__(self, *, shop_id: int, subjects: tuple[str, ...], detail: str) -> None:
        super().__init__(detail)
        self.shop_id = shop_id
        self.subjects = subjects

    def record(self, session: Session, *, settings: Settings, now: datetime) -> HubError:
        locked_until = record_failure(
            session, shop_id=self.shop_id, subjects=self.subjects, settings=settings, now=now
        )
        return VerificationLocked(locked_until) if locked_until else self


@cache
def _decoy_pin_hash() -> str:
    """Checked when the member number is unknown, so both paths cost one scrypt."""
    return crypto.hash_secret(secrets.token_hex(8))


def member_subject(member_number: str) -> str:
    """The throttle subject of a member number (a keyed hash: the table holds no numbers)."""
    return "member:" + crypto.box().blind_index(_fold(member_number))


def line_subject(line_user_id: str) -> str:
    """The throttle subject of a LINE user."""
    return "line:" + line_user_id


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def verify(
    session: Session,
    *,
    shop: Shop,
    proof: Proof,
    line_user_id: str,
    settings: Settings,
    now: datetime,
) -> Member:
    """The member the proof identifies; raise VerificationLocked or VerificationFailed.

    A successful proof clears the failure counts of its subjects; a link code is used up.
    """
    if proof.link_code:
        subjects: tuple[str, ...] = (line_subject(line_user_id),)
    else:
        subjects = (line_subject(line_user_id), member_subject(proof.member_number or ""))
    ensure_not_locked(session, shop_id=shop.id, subjects=subjects, now=now)
    if proof.link_code:
        member = _redeem_link_code(session, shop_id=shop.id, code=proof.link_code, now=now)
        failure = "This link code is not valid: it may be mistyped, used or expired. Check it, "
        failure += "or ask the shop for a new one."
    else:
        member = _match_factor(session, shop=shop, proof=proof)
        failure = (
            "The member number and "
            + _factor_label(shop.second_factor)
            + " do not match our records. Check both and try again."
        )
    if member is None:
        raise VerificationFailed(shop_id=shop.id, subjects=subjects, detail=failure)
    clear_failures(session, shop_id=shop.id, subjects=subjects)
    return member


def _factor_label(factor: str) -> str:
    return {
        SecondFactor.BIRTH_DATE: "birth date",
        SecondFactor.PIN: "PIN",
        SecondFactor.PHONE_LAST4: "last 4 digits of the phone number",
    }.get(SecondFactor(factor), "second factor")


def _match_factor(session: Session, *, shop: Shop, proof: Proof) -> Member | None:
    """The member whose number and second factor both match, else None (same work either way)."""
    member = None
    try:
        member = members.find_by_number(
            session, shop_id=shop.id, member_number=proof.member_number or ""
        )
    except members.InvalidMemberData:
        member = None
    given = proof.second_factor or ""
    match SecondFactor(shop.second_factor):
        case SecondFactor.PIN:
            stored = member.pin_hash if member and member.pin_hash else _decoy_pin_hash()
            matched = crypto.verify_secret(_fold(given), stored)
            return member if matched and member and member.pin_hash else None
        case SecondFactor.BIRTH_DATE:
            expected = member.birth_date if member else None
            return member if _same(expected, _birth_date(given)) else None
        case SecondFactor.PHONE_LAST4:
            expected = member.phone[-4:] if member and member.phone else None
            return member if _same(expected, _digits(given)) else None
    return None


def _same(expected: str | None, given: str | None) -> bool:
    if expected is None or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def _birth_date(value: str) -> str | None:
    try:
        return members.normalize_birth_date(value)
    except members.InvalidMemberData:
        return None


def _digits(value: str) -> str | None:
    digits = "".join(c for c in _fold(value) if c.isdigit())
    return digits if len(digits) == 4 else None


def ensure_not_locked(
    session: Session, *, shop_id: int, subjects: tuple[str, ...], now: datetime
) -> None:
    """Raise VerificationLocked when any subject is locked at ``now``."""
    rows = session.scalars(
        select(VerificationThrottle).where(
            VerificationThrottle.shop_id == shop_id, VerificationThrottle.subject.in_(subjects)
        )
    )
    locks = [row.locked_until for row in rows if row.locked_until and row.locked_until > now]
    if locks:
        raise VerificationLocked(max(locks))


def record_failure(
    session: Session,
    *,
    shop_id: int,
    subjects: tuple[str, ...],
    settings: Settings,
    now: datetime,
) -> datetime | None:
    """Count one failure for each subject; return until when they are locked, if they now are."""
    window = timedelta(seconds=settings.link_failure_window_seconds)
    locked_until: datetime | None = None
    for subject in subjects:
        row = _throttle_row(session, shop_id=shop_id, subject=subject, now=now)
        if now - row.window_started_at > window:
            row.failures, row.window_started_at, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= settings.link_max_failures:
            row.locked_until = now + window
        if row.locked_until and row.locked_until > now:
            locked_until = max(locked_until or row.locked_until, row.locked_until)
    return locked_until


def _throttle_row(
    session: Session, *, shop_id: int, subject: str, now: datetime
) -> VerificationThrottle:
    """The subject's row, locked for update; created without racing a concurrent failure."""
    session.execute(
        insert(session, VerificationThrottle)
        .values(shop_id=shop_id, subject=subject, failures=0, window_started_at=now)
        .on_conflict_do_nothing(index_elements=["shop_id", "subject"])
    )
    return session.execute(
        select(VerificationThrottle)
        .where(VerificationThrottle.shop_id == shop_id, VerificationThrottle.subject == subject)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


# Anonymous nonce requests a client address may make per shop in a window: a member card asks
# for one each time it opens, and each request writes a row.
NONCE_REQUESTS_PER_ADDRESS = 30
NONCE_REQUEST_WINDOW = timedelta(minutes=10)


def count_nonce_request(session: Session, *, shop_id: int, address: str, now: datetime) -> None:
    """Count one nonce request from ``address``; TooManyAttempts (429) once it is past the limit.

    A refused request changes nothing (its transaction is rolled back): the count stays at the
    limit until the window ends.
    """
    row = _throttle_row(session, shop_id=shop_id, subject=f"nonce:{address}"[:128], now=now)
    if now - row.window_started_at > NONCE_REQUEST_WINDOW:
        row.failures, row.window_started_at = 0, now
    if row.failures >= NONCE_REQUESTS_PER_ADDRESS:
        retry_at = row.window_started_at + NONCE_REQUEST_WINDOW
        raise TooManyAttempts(
            f"too many nonce requests from this address: try again after "
            f"{retry_at.isoformat(timespec='seconds')}"
        )
    row.failures += 1


def clear_failures(session: Session, *, shop_id: int, subjects: tuple[str, ...]) -> None:
    """Forget the failures of subjects that just proved themselves."""
    for row in session.scalars(
        select(VerificationThrottle).where(
            VerificationThrottle.shop_id == shop_id, VerificationThrottle.subject.in_(subjects)
        )
    ):
        session.delete(row)


def normalize_code(code: str) -> str:
    """Upper-case, without spaces or dashes, full-width folded: how codes are hashed."""
    return "".join(c for c in _fold(code).upper() if c.isalnum())


def issue_link_code(
    session: Session, *, member: Member, settings: Settings, now: datetime
) -> tuple[LinkCode, str]:
    """A one-time link code for the member (``ABCD-EFGH-JKMN``); only its hash is stored."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    code = LinkCode(
        shop_id=member.shop_id,
        member_id=member.id,
        code_hash=crypto.sha256_hex(raw),
        created_at=now,
        expires_at=now + timedelta(hours=settings.link_code_ttl_hours),
    )
    session.add(code)
    session.flush()
    grouped = "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))
    return code, grouped


def _redeem_link_code(session: Session, *, shop_id: int, code: str, now: datetime) -> Member | None:
    """Use up a valid code and return its member; None for unknown, used or expired codes."""
    row = session.scalar(
        select(LinkCode)
        .where(LinkCode.code_hash == crypto.sha256_hex(normalize_code(code)))
        .with_for_update()
    )
    if row is None or row.shop_id != shop_id or row.used_at is not None or row.expires_at <= now:
        return None
    row.used_at = now
    return session.get_one(Member, row.member_id)
