"""Consent per purpose: a friend may take marketing messages and not service ones, or the
reverse. Every change is a ``ConsentRecord`` (purpose, granted or withdrawn, when, where from,
who recorded it); ``Consent`` holds the current state the guardrails read.

A send's purpose comes from its source: visit reminders (``reminder:…``), auto-replies and
staff's 1:1 answers (``staff:…``, ``token:…``) are service messages; everything else a shop
sends on its own initiative — campaigns, segment deliveries, step sequences — is marketing.
With no record a friend who follows takes both (following a LINE Official Account is agreeing
to hear from it); a withdrawal suppresses what is pending of that purpose at once, and every
later send of it with the reason.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from config import Settings
from core import audit
from core.clock import utcnow
from core.db import rows_matched
from core.inbox import InboundEvent
from core.tenancy import Channel
from idlink import liff
from idlink.models import Friend
from idlink.queries import find_friend
from idlink.service import member_actor
from messaging.outbox import guardrails
from messaging.outbox.models import Consent, ConsentRecord, Delivery, DeliveryState
from messaging.outbox.sql import any_of


class Purpose(enum.StrEnum):
    MARKETING = "marketing"
    SERVICE = "service"


class ConsentSource(enum.StrEnum):
    LIFF = "liff"
    FORM = "form"
    KEYWORD = "keyword"
    STAFF = "staff"
    IMPORT = "import"
    API = "api"


# What a friend may write, alone in a message, to stop or restart the shop's marketing messages
# (compared trimmed and case-folded). Service messages — reminders of their bookings — go on.
KEYWORDS: dict[str, bool] = {"配信停止": False, "stop": False, "配信再開": True, "start": True}

# Sources of service messages: what the friend asked for (by booking, by writing to the shop and
# being answered, automatically or by staff 1:1 in the inbox or from the chart, console or API),
# not what the shop pushes.
SERVICE_PREFIXES = ("reminder:", "autoreply:", "staff:", "token:")


def purpose_of(source: str) -> Purpose:
    """The purpose of a send with this source."""
    return Purpose.SERVICE if source.startswith(SERVICE_PREFIXES) else Purpose.MARKETING


def withdrawn_reason(purpose: Purpose) -> str:
    return f"friend withdrew consent to {purpose} messages"


def withdrawn_column(purpose: Purpose) -> Any:
    """The ``Consent`` column that says a friend withdrew this purpose."""
    return (
        Consent.marketing_withdrawn if purpose == Purpose.MARKETING else Consent.service_withdrawn
    )


def is_service_source(column: Any) -> ColumnElement[bool]:
    """SQL: the source column names a service message."""
    return or_(*(column.startswith(prefix) for prefix in SERVICE_PREFIXES))


def withheld(session: Session, friend_ids: Collection[int], *, source: str) -> dict[int, str]:
    """The friends among ``friend_ids`` a send of ``source`` may not reach, with the reason:
    opted out of all messages, or withdrew consent to the send's purpose."""
    if not friend_ids:
        return {}
    purpose = purpose_of(source)
    rows = session.execute(
        select(Consent.friend_id, Consent.opted_out).where(
            any_of(session, Consent.friend_id, friend_ids),
            or_(Consent.opted_out.is_(True), withdrawn_column(purpose).is_(True)),
        )
    )
    return {
        friend_id: guardrails.OPTED_OUT_REASON if opted_out else withdrawn_reason(purpose)
        for friend_id, opted_out in rows
    }


def friend_of(session: Session, *, shop_id: int, friend_id: int) -> Friend:
    """The shop's friend, or FriendNotFound."""
    return find_friend(session, shop_id, friend_id)


def record(
    session: Session,
    *,
    friend: Friend,
    purpose: Purpose,
    granted: bool,
    source: ConsentSource,
    actor: str,
    now: datetime | None = None,
) -> ConsentRecord:
    """Record a friend giving or withdrawing consent to a purpose; a withdrawal suppresses the
    friend's pending sends of that purpose. Audited."""
    now = now or utcnow()
    entry = ConsentRecord(
        shop_id=friend.shop_id,
        friend_id=friend.id,
        purpose=purpose,
        granted=granted,
        source=source,
        recorded_by=actor,
        recorded_at=now,
    )
    session.add(entry)
    state = session.get(Consent, friend.id)
    if state is None:
        state = Consent(friend_id=friend.id, shop_id=friend.shop_id, opted_out=False)
        session.add(state)
    setattr(state, withdrawn_column(purpose).key, not granted)
    state.source, state.changed_at = source, now
    session.flush()
    suppressed = 0 if granted else _suppress_pending(session, friend.id, purpose, now)
    audit.record(
        session,
        shop_id=friend.shop_id,
        actor=actor,
        action="consent.granted" if granted else "consent.withdrawn",
        subject_type="friend",
        subject_id=friend.id,
        now=now,
        purpose=str(purpose),
        source=str(source),
        suppressed=suppressed,
    )
    return entry


def _suppress_pending(session: Session, friend_id: int, purpose: Purpose, now: datetime) -> int:
    service = is_service_source(Delivery.source)
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.friend_id == friend_id,
            Delivery.state.in_([DeliveryState.PENDING, DeliveryState.HELD]),
            Delivery.batch_id.is_(None),
            service if purpose == Purpose.SERVICE else ~service,
        )
        .values(state=DeliveryState.SUPPRESSED, reason=withdrawn_reason(purpose), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result)


def current(session: Session, *, friend: Friend) -> dict[str, dict[str, Any]]:
    """Per purpose: whether the friend takes it now, since when and from where (None: never
    recorded, the default of a follower)."""
    latest: dict[str, ConsentRecord] = {}
    for entry in history(session, friend=friend):
        latest[entry.purpose] = entry
    state = session.get(Consent, friend.id)
    opted_out = bool(state and state.opted_out)
    return {
        purpose: {
            "granted": not opted_out and (latest[purpose].granted if purpose in latest else True),
            "recorded_at": latest[purpose].recorded_at if purpose in latest else None,
            "source": latest[purpose].source if purpose in latest else None,
        }
        for purpose in Purpose
    }


def history(session: Session, *, friend: Friend) -> list[ConsentRecord]:
    """Every consent the friend gave or withdrew, oldest first."""
    return list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.friend_id == friend.id)
            .order_by(ConsentRecord.id)
        )
    )


def by_liff(
    session: Session,
    *,
    channel: Channel,
    id_token: str,
    nonce: str | None,
    settings: Settings,
    change: tuple[Purpose, bool] | None = None,
    now: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """The member card's consent: the ID token's friend reads it, or gives or withdraws one
    purpose (``change``), recorded as from ``liff`` with the friend as its author.

    The token is not used up: a friend may switch a purpose on and off on the same page, and
    each change is theirs alone (the token names them, verified)."""
    now = now or utcnow()
    claims = liff.verify_id_token(
        session,
        channel=channel,
        id_token=id_token,
        nonce=nonce,
        consume=False,
        settings=settings,
        now=now,
    )
    friend = liff.friend_of(session, channel=channel, line_user_id=claims.sub)
    if change is not None:
        purpose, granted = change
        record(
            session,
            friend=friend,
            purpose=purpose,
            granted=granted,
            source=ConsentSource.LIFF,
            actor=member_actor(claims.sub),
            now=now,
        )
    return current(session, friend=friend)


def on_line_event(session: Session, event: InboundEvent) -> ConsentRecord | None:
    """A friend's text message that is exactly a keyword of ``KEYWORDS`` gives or withdraws
    consent to marketing, recorded with source ``keyword`` and the friend as its author."""
    message = event.payload.get("message")
    source = event.payload.get("source")
    if event.event_type != "message" or event.channel_id is None:
        return None
    if not isinstance(message, dict) or not isinstance(source, dict):
        return None
    text, user_id = message.get("text"), source.get("userId")
    if message.get("type") != "text" or not isinstance(text, str) or not isinstance(user_id, str):
        return None
    granted = KEYWORDS.get(text.strip().casefold())
    friend = session.scalar(
        select(Friend).where(Friend.channel_id == event.channel_id, Friend.line_user_id == user_id)
    )
    if granted is None or friend is None:
        return None
    return record(
        session,
        friend=friend,
        purpose=Purpose.MARKETING,
        granted=granted,
        source=ConsentSource.KEYWORD,
        actor=member_actor(user_id),
    )
