"""Claiming audience batches: the guardrails once more before a batch's first try.

A frozen audience may be minutes or hours old when its batch is claimed. Before the first try
(no request has carried the batch's key yet) the claim drops the friends who blocked the account,
opted out or withdrew consent to the send's purpose since, and counts them on the batch; at
night it defers the batch to the end of the quiet hours. A batch that was tried already is
resent unchanged: a key never covers two different requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.tenancy import Channel
from idlink.models import Friend, FriendStatus
from messaging.outbox import consent, guardrails
from messaging.outbox.models import AudienceSend, BatchState, DeliveryBatch
from messaging.outbox.sql import any_of, is_postgres, text_array

NOBODY_LEFT = (
    "every recipient blocked the account, opted out or withdrew consent after the audience "
    "was frozen"
)
UNKNOWN_REASON = "friend no longer known"


@dataclass(slots=True)
class Members:
    """A claimed audience batch's recipients, and who of its frozen audience has left since."""

    user_ids: list[str]
    # The friend ids still to send to, when some left (None: the batch is unchanged).
    kept: list[int] | None = None
    dropped: Counter[str] = field(default_factory=Counter)


def resolve(session: Session, batches: Sequence[DeliveryBatch]) -> dict[str, Members]:
    """The LINE user ids of each batch; for never-tried batches, who left since the freeze."""
    if not batches:
        return {}
    if not is_postgres(session):
        return _resolve_in_process(session, batches)
    kept = [b for b in batches if b.user_ids is not None]
    resolved = _resolve_in_server(session, [b for b in batches if b.user_ids is None])
    resolved.update(_resolve_kept(session, kept))
    return resolved


def _resolve_kept(session: Session, batches: Sequence[DeliveryBatch]) -> dict[str, Members]:
    """Batches frozen with their user ids: only who left since is looked for, in each first
    try's range of friend ids (the index of the channel's friends who left, and consents)."""
    first_tries = [b.id for b in batches if b.state == BatchState.QUEUED]
    left: dict[str, dict[int, str]] = {}
    if first_tries:
        for batch_id, friend_id, reason in session.execute(
            _LEFT_SINCE, {"ids": text_array(first_tries), **_reasons()}
        ):
            if reason is not None:
                left.setdefault(batch_id, {})[friend_id] = reason
    resolved = {}
    for batch in batches:
        user_ids = list(batch.user_ids or ())
        gone = left.get(batch.id)
        if not gone:
            resolved[batch.id] = Members(user_ids=user_ids)
            continue
        pairs = [p for p in zip(batch.friend_ids or (), user_ids, strict=True) if p[0] not in gone]
        resolved[batch.id] = Members(
            user_ids=[user_id for _, user_id in pairs],
            kept=[friend_id for friend_id, _ in pairs],
            dropped=Counter(gone.values()),
        )
    return resolved


def _reasons() -> dict[str, object]:
    return {
        "blocked": guardrails.BLOCKED_REASON,
        "opted_out": guardrails.OPTED_OUT_REASON,
        "service_prefixes": text_array(list(consent.SERVICE_PREFIXES)),
        "service_withdrawn": consent.withdrawn_reason(consent.Purpose.SERVICE),
        "marketing_withdrawn": consent.withdrawn_reason(consent.Purpose.MARKETING),
    }


def _resolve_in_server(session: Session, batches: Sequence[DeliveryBatch]) -> dict[str, Members]:
    """Batches frozen without their user ids (before they were kept): one statement looks up
    the friends of every batch, judged and aggregated back per batch."""
    if not batches:
        return {}
    rows = session.execute(
        _RESOLVE,
        {"ids": text_array([b.id for b in batches]), "unknown": UNKNOWN_REASON, **_reasons()},
    )
    return {
        batch_id: Members(user_ids=list(user_ids or ()), kept=kept, dropped=Counter(reasons or ()))
        for batch_id, user_ids, kept, reasons in rows
    }


# Who of a never-tried batch left since its freeze. A batch's friend ids are in ascending order
# (frozen so): the candidates are the channel's friends in its range of ids who are no longer
# followers (a partial index holds only those) and the consents in that range that withhold
# something, each kept if it is one of the batch's friends and judged as at the freeze.
# Friends are never deleted (erasure keeps the row, ``erased``), so none can be missing.
_LEFT_SINCE = text(
    """
    WITH claimed AS MATERIALIZED (
        SELECT b.id AS batch_id, b.channel_id, b.friend_ids,
               b.friend_ids[1] AS lo, b.friend_ids[cardinality(b.friend_ids)] AS hi,
               EXISTS (
                   SELECT 1 FROM unnest(CAST(:service_prefixes AS text[])) AS p(prefix)
                   WHERE starts_with(a.source, p.prefix)
               ) AS service
        FROM delivery_batches AS b
        JOIN audience_sends AS a ON a.id = b.audience_send_id
        WHERE b.id IN (SELECT unnest(CAST(:ids AS text[])))
    ), candidates AS (
        SELECT cb.batch_id, f.id AS friend_id
        FROM claimed AS cb
        JOIN friends AS f
          ON f.channel_id = cb.channel_id AND f.id BETWEEN cb.lo AND cb.hi
         AND f.status <> 'followed'
        UNION
        SELECT cb.batch_id, c.friend_id
        FROM claimed AS cb
        JOIN consents AS c
          ON c.friend_id BETWEEN cb.lo AND cb.hi
         AND (c.opted_out OR c.service_withdrawn OR c.marketing_withdrawn)
    )
    SELECT k.batch_id, k.friend_id,
           CASE
               WHEN f.status <> 'followed' THEN :blocked
               WHEN c.opted_out THEN :opted_out
               WHEN cb.service AND c.service_withdrawn THEN :service_withdrawn
               WHEN NOT cb.service AND c.marketing_withdrawn THEN :marketing_withdrawn
           END AS reason
    FROM candidates AS k
    JOIN claimed AS cb ON cb.batch_id = k.batch_id
    JOIN friends AS f ON f.id = k.friend_id
    LEFT JOIN consents AS c ON c.friend_id = k.friend_id
    WHERE k.friend_id = ANY(cb.friend_ids)
    """
)


# A batch's array unnested in order, each friend looked up by primary key. A friend who left
# since the freeze is judged only before the first try: a retry resends the same request.
# Whether a send is a service message is judged once per batch (materialized): inlined into the
# members, the test ran for every friend at every place the judgement names it, two thirds of
# the statement's time.
_RESOLVE = text(
    """
    WITH claimed AS MATERIALIZED (
        SELECT b.id AS batch_id, b.state = 'queued' AS first_try, b.friend_ids,
               EXISTS (
                   SELECT 1 FROM unnest(CAST(:service_prefixes AS text[])) AS p(prefix)
                   WHERE starts_with(a.source, p.prefix)
               ) AS service
        FROM delivery_batches AS b
        LEFT JOIN audience_sends AS a ON a.id = b.audience_send_id
        WHERE b.id IN (SELECT unnest(CAST(:ids AS text[])))
    ), members AS (
        SELECT cb.batch_id, cb.first_try, cb.service, m.friend_id, m.ord
        FROM claimed AS cb
        CROSS JOIN LATERAL unnest(cb.friend_ids) WITH ORDINALITY AS m(friend_id, ord)
    ), judged AS (
        SELECT mb.batch_id, mb.friend_id, mb.ord, f.line_user_id,
               CASE
                   WHEN f.id IS NULL THEN :unknown
                   WHEN NOT mb.first_try THEN NULL
                   WHEN f.status <> 'followed' THEN :blocked
                   WHEN c.opted_out THEN :opted_out
                   WHEN mb.service AND c.service_withdrawn THEN :service_withdrawn
                   WHEN NOT mb.service AND c.marketing_withdrawn THEN :marketing_withdrawn
               END AS reason
        FROM members AS mb
        LEFT JOIN friends AS f ON f.id = mb.friend_id
        LEFT JOIN consents AS c ON c.friend_id = mb.friend_id
    )
    SELECT batch_id,
           array_agg(line_user_id ORDER BY ord) FILTER (WHERE reason IS NULL),
           CASE WHEN count(reason) > 0
                THEN coalesce(array_agg(friend_id ORDER BY ord) FILTER (WHERE reason IS NULL),
                              CAST('{}' AS bigint[]))
           END,
           array_agg(reason) FILTER (WHERE reason IS NOT NULL)
    FROM judged
    GROUP BY batch_id
    """
)


def _resolve_in_process(session: Session, batches: Sequence[DeliveryBatch]) -> dict[str, Members]:
    friend_ids = {f for b in batches for f in b.friend_ids or ()}
    user_ids: dict[int, str] = {}
    left: dict[int, str] = {}
    for friend_id, user_id, status in session.execute(
        select(Friend.id, Friend.line_user_id, Friend.status).where(
            any_of(session, Friend.id, friend_ids)
        )
    ):
        user_ids[friend_id] = user_id
        if status != FriendStatus.FOLLOWED:
            left[friend_id] = guardrails.BLOCKED_REASON
    reachable = [f for f in user_ids if f not in left]
    for friend_id in friend_ids.difference(user_ids):
        left[friend_id] = UNKNOWN_REASON
    sources: dict[int | None, str] = dict(
        session.execute(
            select(AudienceSend.id, AudienceSend.source).where(
                AudienceSend.id.in_({b.audience_send_id for b in batches})
            )
        ).all()
    )
    withheld = {
        source: consent.withheld(session, reachable, source=source)
        for source in set(sources.values())
    }
    resolved = {}
    for batch in batches:
        frozen = list(batch.friend_ids or ())
        if batch.state != BatchState.QUEUED:
            resolved[batch.id] = Members(user_ids=[user_ids[f] for f in frozen if f in user_ids])
            continue
        gone = left | withheld.get(sources.get(batch.audience_send_id, ""), {})
        kept = [f for f in frozen if f not in gone]
        resolved[batch.id] = Members(
            user_ids=[user_ids[f] for f in kept],
            kept=kept if len(kept) < len(frozen) else None,
            dropped=Counter(gone[f] for f in frozen if f in gone),
        )
    return resolved


def recheck(
    session: Session,
    batches: Sequence[DeliveryBatch],
    members: dict[str, Members],
    *,
    now: datetime,
) -> list[DeliveryBatch]:
    """Apply the guardrails to never-tried batches; return those to send now."""
    sends = {
        send.id: send
        for send in session.scalars(
            select(AudienceSend).where(AudienceSend.id.in_({b.audience_send_id for b in batches}))
        )
    }
    timezones = dict(
        session.execute(
            select(Channel.id, Channel.timezone).where(
                Channel.id.in_({s.channel_id for s in sends.values()})
            )
        ).all()
    )
    books: dict[int, guardrails.PolicyBook] = {}
    ready = []
    for batch in batches:
        assert batch.audience_send_id is not None  # only an audience send's batches are queued
        send = sends[batch.audience_send_id]
        if send.respect_quiet_hours:
            book = books.get(send.shop_id) or books.setdefault(
                send.shop_id, guardrails.PolicyBook(session, send.shop_id)
            )
            timezone = timezones[send.channel_id]
            resume_at = guardrails.quiet_hours_end(now, book.for_source(send.source), timezone)
            if resume_at is not None:
                batch.next_attempt_at, batch.updated_at = resume_at, now
                batch.last_error = guardrails.quiet_reason(resume_at, timezone)
                continue
        if _drop_left(batch, members[batch.id], now):
            ready.append(batch)
    return ready


def _drop_left(batch: DeliveryBatch, members: Members, now: datetime) -> bool:
    """Take out who left since the freeze; False when nobody is left to send to."""
    if members.kept is None:
        return True
    batch.friend_ids, batch.recipients = members.kept, len(members.kept)
    batch.user_ids = members.user_ids
    batch.dropped, batch.updated_at = dict(members.dropped), now
    if not members.kept:
        batch.state, batch.last_error = BatchState.CANCELLED, NOBODY_LEFT
        return False
    return True
