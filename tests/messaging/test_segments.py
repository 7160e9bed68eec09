"""Segments select exactly the right friends, in one SQL query, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import event, select

from core.audit import AuditLog
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from messaging.segments import segments
from messaging.segments.schemas import SegmentSpec
from sandbox.line.server import SandboxServer
from tests.factories import NO_HUB_URL, ChannelSetup, make_channel, make_shop
from tests.messaging import people
from tests.messaging.support import add_followers

pytestmark = pytest.mark.fast

NAMES = [
    "blocked",
    "plain",
    "vip",
    "numeric_rank",
    "buyer",
    "lapsed",
    "booked",
    "visited",
    "formerly_linked",
]
LINKED = {"vip", "numeric_rank", "buyer", "lapsed", "booked", "visited"}


@pytest.fixture
def population(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> dict[str, int]:
    """Nine friends, each standing out in one way; name → friend id."""
    now = utcnow()
    ids = dict(zip(NAMES, add_followers(db, line_sandbox.state, channel, len(NAMES)), strict=True))
    people.set_friend(db, ids["blocked"], status="blocked", follow_route="qr_store")
    people.tag(db, ids["vip"], "vip")
    members: dict[str, dict[str, Any]] = {
        "vip": {"rank": "gold", "points": 120, "newsletter": True},
        "numeric_rank": {"rank": 5, "points": "lots"},
        "buyer": {"points": 50, "newsletter": False},
        "lapsed": {"nickname": None},
        "booked": {},
        "visited": {},
        "formerly_linked": {},
    }
    member = {n: people.link_member(db, channel, ids[n], attributes=a) for n, a in members.items()}
    people.unlink(db, ids["formerly_linked"])
    shop = channel.shop_id
    people.purchase(db, shop, member["buyer"], total=8000, ordered_at=now - timedelta(days=40))
    people.purchase(
        db,
        shop,
        member["buyer"],
        total=4000,
        ordered_at=now - timedelta(days=10),
        items=[("P1", "SKU-1")],
    )
    people.purchase(db, shop, member["lapsed"], total=3000, ordered_at=now - timedelta(days=200))
    people.purchase(
        db, shop, member["lapsed"], total=9000, ordered_at=now - timedelta(days=2), cancelled=True
    )
    people.purchase(
        db, shop, member["formerly_linked"], total=50000, ordered_at=now - timedelta(days=1)
    )
    people.booking(db, shop, member["booked"], start_at=now + timedelta(days=1), service="cut")
    people.booking(
        db,
        shop,
        member["visited"],
        start_at=now - timedelta(days=5),
        service="color",
        status="completed",
    )
    people.booking(
        db,
        shop,
        member["visited"],
        start_at=now + timedelta(days=3),
        service="color",
        status="cancelled",
    )
    return ids


CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"friend_status": "blocked"}, {"blocked"}),
    ({"friend_status": "followed"}, set(NAMES) - {"blocked"}),
    ({"follow_route": "qr_store"}, {"blocked"}),
    ({"linked": True}, LINKED),
    ({"linked": False}, {"blocked", "plain", "formerly_linked"}),
    ({"tag": "vip"}, {"vip"}),
    ({"tag_absent": "vip"}, set(NAMES) - {"vip"}),
    ({"attribute": "rank", "value": "gold"}, {"vip"}),
    ({"attribute": "rank", "op": "eq", "value": 5}, {"numeric_rank"}),
    ({"attribute": "rank", "op": "eq", "value": "5"}, set()),
    ({"attribute": "rank", "op": "ne", "value": "gold"}, LINKED - {"vip"}),
    ({"attribute": "rank", "op": "in", "value": ["gold", 5]}, {"vip", "numeric_rank"}),
    ({"attribute": "points", "op": "gte", "value": 100}, {"vip"}),
    ({"attribute": "points", "op": "lte", "value": 100}, {"buyer"}),
    ({"attribute": "rank", "op": "exists"}, {"vip", "numeric_rank"}),
    ({"attribute": "nickname", "op": "exists"}, set()),
    ({"attribute": "newsletter", "value": True}, {"vip"}),
    ({"attribute": "newsletter", "value": False}, {"buyer"}),
    ({"purchases": {}}, {"buyer", "lapsed"}),
    ({"purchases": {"count_gte": 2}}, {"buyer"}),
    ({"purchases": {"total_gte": 10000}}, {"buyer"}),
    ({"purchases": {"last_within_days": 30}}, {"buyer"}),
    ({"purchases": {"last_before_days": 90}}, {"lapsed"}),
    ({"purchases": {"product_ids": ["P1"]}}, {"buyer"}),
    ({"purchases": {"skus": ["SKU-1"], "count_gte": 2}}, set()),
    ({"bookings": {"upcoming": True}}, {"booked"}),
    ({"bookings": {"within_days": 2, "service": "cut"}}, {"booked"}),
    ({"bookings": {"within_days": 7, "service": "color"}}, set()),
    ({"bookings": {"past_within_days": 30}}, {"visited"}),
    ({"all": [{"linked": True}, {"not": {"tag": "vip"}}]}, LINKED - {"vip"}),
    ({"any": [{"tag": "vip"}, {"bookings": {"upcoming": True}}]}, {"vip", "booked"}),
    (
        {"not": {"any": [{"linked": True}, {"friend_status": "blocked"}]}},
        {"plain", "formerly_linked"},
    ),
]


@pytest.mark.parametrize(("rules", "expected"), CASES, ids=[str(r) for r, _ in CASES])
def test_each_rule_selects_exactly_its_friends(
    db: Database, channel: ChannelSetup, population: dict[str, int], rules: dict, expected: set
) -> None:
    with db.session_scope() as session:
        segment = segments.save(
            session,
            shop_id=channel.shop_id,
            spec=SegmentSpec(name="s", rules=rules),
            actor="test",
        )
        query = segments.audience(
            session, segment=segment, channel=session.get_one(Channel, channel.channel_pk)
        )
        selected = set(session.scalars(query))

    assert selected == {population[name] for name in expected}


def test_live_count_is_one_query_and_follows_the_data(
    db: Database, channel: ChannelSetup, population: dict[str, int]
) -> None:
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with db.session_scope() as session:
        spec = SegmentSpec(name="vip or buyers", rules={"any": [{"tag": "vip"}, {"purchases": {}}]})
        segment = segments.save(session, shop_id=channel.shop_id, spec=spec, actor="test")
        target = session.get_one(Channel, channel.channel_pk)
        # This session's statements only, whatever else queries the same engine meanwhile.
        connection = session.connection()
        event.listen(connection, "before_cursor_execute", record)
        try:
            before = segments.count(session, segment=segment, channel=target)
        finally:
            event.remove(connection, "before_cursor_execute", record)
    people.tag(db, population["plain"], "vip")
    with db.session_scope() as session:
        segment = segments.get(session, shop_id=channel.shop_id, name="vip or buyers")
        target = session.get_one(Channel, channel.channel_pk)
        after = segments.count(session, segment=segment, channel=target)
        preview = segments.preview(session, segment=segment, channel=target, size=2)

    assert len(statements) == 1
    assert (before, after) == (3, 4)
    assert preview.count == 4
    assert [r.friend_id for r in preview.sample] == sorted(
        population[n] for n in ("plain", "vip", "buyer", "lapsed")
    )[:2]


def test_a_segment_never_reaches_another_channel_or_shop(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    population: dict[str, int],
) -> None:
    other = make_channel(db, line_sandbox, NO_HUB_URL, make_shop(db))
    stranger = next(iter(add_followers(db, line_sandbox.state, other, 1)))
    people.tag(db, stranger, "vip")
    with db.session_scope() as session:
        spec = SegmentSpec(name="vip", rules={"tag": "vip"})
        segment = segments.save(session, shop_id=channel.shop_id, spec=spec, actor="test")
        ours = session.get_one(Channel, channel.channel_pk)
        selected = set(session.scalars(segments.audience(session, segment=segment, channel=ours)))
        with pytest.raises(segments.SegmentNotFound):
            segments.audience(
                session, segment=segment, channel=session.get_one(Channel, other.channel_pk)
            )

    assert selected == {population["vip"]}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"colour": "red"}, "a rule is an object with one of the keys"),
        ({"tag": "vip", "since": "2026-01-01"}, "Extra inputs are not permitted"),
        ({"all": [{"purchases": {"count_gt": 2}}]}, "count_gt"),
        ({"attribute": "rank", "op": "in", "value": "gold"}, "non-empty list"),
        ({"attribute": "rank", "op": "gte", "value": True}, "not booleans"),
        ({"attribute": "rank; drop", "value": 1}, "pattern"),
    ],
)
def test_an_invalid_rule_is_refused_with_what_is_wrong(rules: dict, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        SegmentSpec(name="bad", rules=rules)

    assert message in str(raised.value)


def test_a_saved_segment_reads_back_as_its_spec(db: Database, channel: ChannelSetup) -> None:
    rules = {"all": [{"tag": "vip"}, {"not": {"purchases": {"last_within_days": 90}}}]}
    with db.session_scope() as session:
        segment = segments.save(
            session, shop_id=channel.shop_id, spec=SegmentSpec(name="s", rules=rules), actor="t"
        )
        spec = segments.spec_of(segment)

    assert spec == {"name": "s", "rules": rules}


def test_saving_a_segment_is_audited_as_created_then_as_updated(
    db: Database, channel: ChannelSetup
) -> None:
    for rules in ({"tag": "vip"}, {"tag": "regular"}):
        with db.session_scope() as session:
            spec = SegmentSpec(name="s", rules=rules)
            segments.save(session, shop_id=channel.shop_id, spec=spec, actor="staff:hana")

    with db.session_scope() as session:
        entries = session.execute(
            select(AuditLog.action, AuditLog.subject_type, AuditLog.actor)
            .where(AuditLog.subject_type == "segment")
            .order_by(AuditLog.id)
        ).all()
    assert [tuple(e) for e in entries] == [
        ("segment.created", "segment", "staff:hana"),
        ("segment.updated", "segment", "staff:hana"),
    ]
