"""Erasure benchmark: one person erased in a shop that holds N stored webhooks and N audit
entries, timed, with how long it writes (and so holds the locks intake needs).

``.venv/bin/python -m bench.erasure`` (``--help`` for the options) does, in one run:

1. drops and re-creates its own PostgreSQL database (``tsunagu_bench_erasure``), migrates it,
   registers a shop and a channel with 1,000 followers, and loads N inbound events and N audit
   entries of other people (not timed), then the person: a friend linked to a member with a
   name, an email and a phone, a message of theirs and an audit entry naming them;
2. **timed**: ``privacy.erasure.erase_friend`` in one transaction, as the admin API, the CLI and
   the console run it, and the part of it from its first write to its commit;
3. checks that the person's message and audit entry were found and erased, and prints the
   figures, kept as JSON in ``bench/results/erasure-*.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import event, insert

from bench.fanout import prepare, report

PERSON = "U" + "e" * 32
BATCH = 5000


@dataclass
class Figures:
    load_average_1m: float
    events: int
    audit_entries: int
    erase_seconds: float
    writing_seconds: float
    events_erased: int
    audit_entries_erased: int


def _load(database: Any, *, shop_id: int, channel_pk: int, rows: int) -> None:
    from core.audit import AuditLog
    from core.inbox import IncomingEvent, store_events

    for start in range(0, rows, BATCH):
        numbers = range(start, min(rows, start + BATCH))
        with database.session_scope() as session:
            store_events(
                session,
                source="line",
                shop_id=shop_id,
                channel_id=channel_pk,
                events=[
                    IncomingEvent(
                        dedup_key=f"bench-{i}",
                        event_type="message",
                        payload={
                            "source": {"userId": f"U{i:032x}"},
                            "message": {"type": "text", "text": f"予約の確認です {i}"},
                        },
                    )
                    for i in numbers
                ],
            )
            session.execute(
                insert(AuditLog),
                [
                    {
                        "shop_id": shop_id,
                        "actor": "staff:bench@example.jp",
                        "action": "friend.tag_added",
                        "subject_type": "friend",
                        "subject_id": str(i),
                        "detail": {"tag": "vip"},
                    }
                    for i in numbers
                ],
            )


def _person(database: Any, *, shop_id: int, channel_pk: int) -> int:
    from core import audit
    from core.inbox import IncomingEvent, store_events
    from idlink import members
    from idlink.models import Friend, FriendStatus, LinkMethod, MemberLink

    with database.session_scope() as session:
        friend = Friend(
            shop_id=shop_id,
            channel_id=channel_pk,
            line_user_id=PERSON,
            display_name="山田 花子",
            status=FriendStatus.FOLLOWED,
        )
        session.add(friend)
        member = members.create_member(
            session,
            shop_id=shop_id,
            member_number="M-BENCH",
            fields=members.MemberFields(
                name="山田 花子", email="hanako@example.jp", phone="090-1234-5678"
            ),
            actor="bench",
        )
        session.flush()
        session.add(
            MemberLink(
                shop_id=shop_id,
                provider_id="bench",
                friend_id=friend.id,
                member_id=member.id,
                method=LinkMethod.STAFF,
                linked_by="bench",
            )
        )
        store_events(
            session,
            source="line",
            shop_id=shop_id,
            channel_id=channel_pk,
            events=[
                IncomingEvent(
                    dedup_key="bench-person",
                    event_type="message",
                    payload={
                        "source": {"userId": PERSON},
                        "message": {"type": "text", "text": "メールは hanako@example.jp です"},
                    },
                )
            ],
        )
        audit.record(
            session,
            shop_id=shop_id,
            actor="staff:bench@example.jp",
            action="member.updated",
            subject_type="member",
            subject_id=member.id,
            email="hanako@example.jp",
        )
        return friend.id


def run(args: argparse.Namespace) -> Figures:
    from privacy import erasure

    database, shop_id, channel_pk = prepare(args.database_url, friends=1000, name="erasure")
    print(f"loading {args.rows:,} events and audit entries …", flush=True)
    _load(database, shop_id=shop_id, channel_pk=channel_pk, rows=args.rows)
    friend_id = _person(database, shop_id=shop_id, channel_pk=channel_pk)
    first_write: list[float] = []

    @event.listens_for(database.engine, "before_cursor_execute")
    def _writes(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not first_write and statement.lstrip().upper().startswith(("UPDATE", "DELETE")):
            first_write.append(time.perf_counter())

    started = time.perf_counter()
    with database.session_scope() as session:
        counts = erasure.erase_friend(session, shop_id=shop_id, friend_id=friend_id, actor="bench")
    ended = time.perf_counter()
    database.dispose()
    return Figures(
        load_average_1m=os.getloadavg()[0],
        events=args.rows + 1,
        audit_entries=args.rows + 1,
        erase_seconds=round(ended - started, 2),
        writing_seconds=round(ended - first_write[0], 2),
        events_erased=counts.get("inbound_events", 0),
        audit_entries_erased=counts.get("audit_log", 0),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_erasure",
        ),
    )
    figures: dict[str, Any] = asdict(run(parser.parse_args()))
    report("erasure", figures)


if __name__ == "__main__":
    main()
