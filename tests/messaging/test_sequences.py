"""Step sequences: enrolment, steps at their times, exits that stop the rest, re-entry policies."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from messaging.campaigns import triggers
from messaging.compose import compose
from messaging.outbox.models import Delivery
from messaging.sequences import sequence_steps, sequences
from messaging.sequences.models import Enrollment
from messaging.sequences.schemas import SequenceSpec
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.idlink.support import befriend
from tests.messaging import people
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub

WELCOME = {"messages": [{"type": "text", "text": "ようこそ"}]}
DAY_TWO: dict[str, Any] = {
    "delay": {"days": 1, "at": "10:00"},
    "messages": [{"type": "text", "text": "2日目"}],
}
LATER = {"delay": {"days": 5}, "messages": [{"type": "text", "text": "5日後"}]}
LAST = {"delay": {"days": 10}, "messages": [{"type": "text", "text": "10日後"}]}


def save(
    db: Database,
    channel: ChannelSetup,
    *,
    steps: list[dict[str, Any]],
    now: datetime | None = None,
    **fields: Any,
) -> int:
    spec = SequenceSpec.model_validate(
        {
            "name": "welcome",
            "channel": channel.channel_id,
            "enroll_on": {"event": "follow"},
            "steps": steps,
            **fields,
        }
    )
    with db.session_scope() as session:
        sequence = sequences.save(
            session,
            shop_id=channel.shop_id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=spec,
            actor="test",
            now=now,
        )
        return sequence.id


def run(db: Database, hub: Hub, now: datetime | None = None) -> sequence_steps.RunResult:
    with db.session_scope() as session:
        return sequence_steps.run(session, settings=hub.settings, now=now)


def enrollments(
    db: Database, friend_id: int, sequence_id: int | None = None
) -> list[tuple[int, str, str | None]]:
    """(generation, state, exit reason) of the friend's enrolments (in one sequence)."""
    query = select(Enrollment.generation, Enrollment.state, Enrollment.exit_reason).where(
        Enrollment.friend_id == friend_id
    )
    if sequence_id is not None:
        query = query.where(Enrollment.sequence_id == sequence_id)
    with db.session_scope() as session:
        return [
            (generation, state, reason)
            for generation, state, reason in session.execute(query.order_by(Enrollment.generation))
        ]


def step_rows(db: Database, sequence_id: int) -> dict[str, str]:
    """Idempotency key → state of the sequence's deliveries."""
    with db.session_scope() as session:
        rows = session.execute(
            select(Delivery.idempotency_key, Delivery.state).where(
                Delivery.source == f"sequence:{sequence_id}"
            )
        )
        return {key: state for key, state in rows}


def step_one_sent(db: Database, sequence_id: int, friend_id: int) -> None:
    """Wait until the friend's first step is sent: the next one is planned only after it."""
    key = f"sequence:{sequence_id}:{enrollment_of(db, friend_id).id}:1"
    wait_for(lambda: step_rows(db, sequence_id).get(key) == "sent", what=f"{key} sent")


def enrollment_of(db: Database, friend_id: int) -> Enrollment:
    with db.session_scope() as session:
        found = session.scalars(
            select(Enrollment)
            .where(Enrollment.friend_id == friend_id)
            .order_by(Enrollment.generation.desc())
        ).first()
    assert found is not None, f"friend {friend_id} is not enrolled"
    return found


def follower(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, at: datetime):
    """A follower known to the hub, who followed at ``at``: (friend id, user id)."""
    friend_id, user_id = next(iter(add_followers(db, line_sandbox.state, channel, 1).items()))
    people.set_friend(db, friend_id, last_followed_at=at, first_followed_at=at)
    return friend_id, user_id


@pytest.fixture(autouse=True)
def _open_all_hours(db: Database, channel: ChannelSetup) -> None:
    open_all_hours(db, channel)


def test_a_new_follower_receives_step_one_then_step_two_at_its_time(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    sequence_id = save(db, channel, steps=[WELCOME, DAY_TWO], now=utcnow() - timedelta(minutes=1))

    person = befriend(db, line_sandbox, channel)

    # The processed follow nudges the sequences; step one is due at once.
    wait_for(
        lambda: people.texts_received(line_sandbox.state, channel, person.user_id) == ["ようこそ"],
        timeout=30,
        what="the welcome step",
    )
    # On the phone is not yet recorded by the hub: step two is planned once step one is sent.
    step_one_sent(db, sequence_id, person.friend_id)
    enrollment = enrollment_of(db, person.friend_id)
    day_two = compose.due_after(enrollment.enrolled_at, DAY_TWO["delay"], "Asia/Tokyo")
    assert enrollment.next_due_at == day_two
    assert day_two.astimezone(ZoneInfo("Asia/Tokyo")).hour == 10

    run(db, hub, now=day_two - timedelta(minutes=1))
    before = step_rows(db, sequence_id)
    run(db, hub, now=day_two)

    key = f"sequence:{sequence_id}:{enrollment.id}"
    assert set(before) == {f"{key}:1"}
    assert set(step_rows(db, sequence_id)) == {f"{key}:1", f"{key}:2"}
    assert enrollments(db, person.friend_id) == [(1, "completed", None)]


def test_overdue_steps_are_each_sent_once_in_order(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    now = utcnow()
    save(db, channel, steps=[WELCOME, DAY_TWO], now=now - timedelta(days=3))
    friend_id, user_id = follower(db, line_sandbox, channel, now - timedelta(days=2))

    run(db, hub, now=now)
    run(db, hub, now=now)

    wait_for(
        lambda: (
            people.texts_received(line_sandbox.state, channel, user_id) == ["ようこそ", "2日目"]
        ),
        timeout=30,
        what="both steps, in order",
    )
    assert enrollments(db, friend_id) == [(1, "completed", None)]


def test_friends_who_followed_before_the_sequence_existed_are_not_enrolled(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    now = utcnow()
    friend_id, _ = follower(db, line_sandbox, channel, now - timedelta(days=2))
    save(db, channel, steps=[WELCOME], now=now - timedelta(days=1))

    run(db, hub, now=now)

    assert enrollments(db, friend_id) == []


def test_blocking_exits_the_sequence_and_the_planned_step_is_not_sent(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    now = utcnow()
    sequence_id = save(
        db, channel, steps=[WELCOME, LATER, LAST], exit_on=["blocked"], now=now - timedelta(days=1)
    )
    friend_id, _ = follower(db, line_sandbox, channel, now - timedelta(hours=1))
    run(db, hub, now=now)
    step_one_sent(db, sequence_id, friend_id)
    later = enrollment_of(db, friend_id).next_due_at
    # Step two planned (due later, pending), then the friend blocks before it goes out.
    run(db, hub, now=later)
    people.set_friend(db, friend_id, status="blocked")

    result = run(db, hub, now=later)

    key = f"sequence:{sequence_id}:{enrollment_of(db, friend_id).id}"
    assert result.exited == {"blocked": 1}
    assert enrollments(db, friend_id) == [(1, "exited", "blocked")]
    # Cancelled by the exit, or suppressed first by the sweeper, which also watches blocks.
    assert step_rows(db, sequence_id)[f"{key}:2"] in {"cancelled", "suppressed"}


def test_a_purchase_after_enrolling_ends_the_sequence_before_the_next_step(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    now = utcnow()
    sequence_id = save(
        db, channel, steps=[WELCOME, LATER], exit_on=["purchased"], now=now - timedelta(days=1)
    )
    friend_id, _ = follower(db, line_sandbox, channel, now - timedelta(hours=1))
    member_id = people.link_member(db, channel, friend_id)
    people.purchase(db, channel.shop_id, member_id, total=500, ordered_at=now - timedelta(days=30))
    run(db, hub, now=now)
    still_active = enrollments(db, friend_id)
    people.purchase(db, channel.shop_id, member_id, total=500, ordered_at=now)

    run(db, hub, now=now + timedelta(days=6))

    assert still_active == [(1, "active", None)]
    assert enrollments(db, friend_id) == [(1, "exited", "purchased")]
    assert len(step_rows(db, sequence_id)) == 1


def test_a_tag_added_ends_the_sequence_and_cancels_the_step_already_planned(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    now = utcnow()
    sequence_id = save(
        db,
        channel,
        steps=[WELCOME, LATER, LAST],
        exit_on=[{"tag_added": "stop"}],
        now=now - timedelta(days=1),
    )
    friend_id, _ = follower(db, line_sandbox, channel, now - timedelta(hours=1))
    run(db, hub, now=now)
    step_one_sent(db, sequence_id, friend_id)
    later = enrollment_of(db, friend_id).next_due_at
    run(db, hub, now=later)
    people.tag(db, friend_id, "stop")

    run(db, hub, now=later)

    key = f"sequence:{sequence_id}:{enrollment_of(db, friend_id).id}"
    assert enrollments(db, friend_id) == [(1, "exited", "tag_added:stop")]
    assert step_rows(db, sequence_id)[f"{key}:2"] == "cancelled"


@pytest.mark.parametrize(
    ("reentry", "while_active", "after_completion"),
    [
        ("never", [(1, "active", None)], [(1, "completed", None)]),
        ("after_exit", [(1, "active", None)], [(1, "completed", None), (2, "completed", None)]),
        (
            "always",
            [(1, "exited", "re-entered"), (2, "active", None)],
            [(1, "completed", None), (2, "completed", None)],
        ),
    ],
)
def test_a_second_follow_enrols_again_as_the_reentry_policy_says(
    db: Database,
    line_sandbox: SandboxServer,
    hub: Hub,
    channel: ChannelSetup,
    reentry: str,
    while_active: list,
    after_completion: list,
) -> None:
    now = utcnow()
    two_steps = save(db, channel, steps=[WELCOME, LATER], reentry=reentry, now=now - timedelta(2))
    one_step = save(
        db, channel, name="one", steps=[WELCOME], reentry=reentry, now=now - timedelta(2)
    )
    busy, _ = follower(db, line_sandbox, channel, now - timedelta(hours=3))
    done, _ = follower(db, line_sandbox, channel, now - timedelta(hours=3))
    run(db, hub, now=now)
    for friend_id in (busy, done):
        people.set_friend(db, friend_id, last_followed_at=now - timedelta(hours=1))

    run(db, hub, now=now)

    assert enrollments(db, busy, two_steps) == while_active
    assert enrollments(db, done, one_step) == after_completion


def test_tag_and_link_events_enrol(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    now = utcnow()
    save(db, channel, steps=[WELCOME], enroll_on={"event": "tag", "tag": "course"}, now=now)
    linked_spec = {"name": "linked", "enroll_on": {"event": "link"}}
    save(db, channel, steps=[WELCOME], now=now, **linked_spec)
    tagged, linked, neither = add_followers(db, line_sandbox.state, channel, 3)
    people.tag(db, tagged, "course")
    people.link_member(db, channel, linked)

    run(db, hub, now=utcnow())

    assert enrollments(db, tagged) == [(1, "completed", None)]
    assert enrollments(db, linked) == [(1, "completed", None)]
    assert enrollments(db, neither) == []


def test_enrolling_for_the_same_purchase_twice_enrols_once(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    now = utcnow()
    save(
        db,
        channel,
        steps=[WELCOME, LATER],
        enroll_on={"event": "purchase"},
        reentry="always",
        now=now - timedelta(days=1),
    )
    (friend_id,) = add_followers(db, line_sandbox.state, channel, 1)
    ordered_at = now - timedelta(minutes=5)

    counts = []
    for _ in range(2):
        with db.session_scope() as session:
            sequence = sequences.find(session, shop_id=channel.shop_id, name="welcome")
            assert sequence is not None
            counts.append(
                sequences.enrol(
                    session,
                    sequence=sequence,
                    friend_ids=[friend_id],
                    reason="purchase:1",
                    now=ordered_at,
                )
            )

    assert counts == [1, 0]
    assert enrollments(db, friend_id) == [(1, "active", None)]


def test_a_purchase_meeting_the_conditions_enrols_its_buyer_who_receives_step_one(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    now = utcnow()
    save(
        db,
        channel,
        steps=[WELCOME, LATER],
        enroll_on={"event": "purchase", "purchase": {"min_total": "3000"}},
        now=now - timedelta(minutes=1),
    )
    users = add_followers(db, line_sandbox.state, channel, 2)
    big, small = sorted(users)
    for friend_id, total in ((big, 5000), (small, 500)):
        member_id = people.link_member(db, channel, friend_id)
        people.purchase(db, channel.shop_id, member_id, total=total, ordered_at=now)

    # The hub's own worker runs the triggers too; whichever run reads the purchases enrols.
    for _ in range(2):
        with db.session_scope() as session:
            triggers.run(session, public_url=hub.settings.public_url, now=now)
    wait_for(
        lambda: people.texts_received(line_sandbox.state, channel, users[big]) == ["ようこそ"],
        what="step one on the buyer's phone",
    )
    assert enrollments(db, big) == [(1, "active", None)]
    assert enrollments(db, small) == []
    assert people.texts_received(line_sandbox.state, channel, users[small]) == []


def first_purchase_enrolment(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> tuple[int, int]:
    """A "first purchase" sequence whose step waits five days, and a friend enrolled in it by
    an order of now: (friend id, member id)."""
    now = utcnow()
    save(
        db,
        channel,
        steps=[LATER],
        enroll_on={"event": "purchase", "purchase": {"purchase_number": 1}},
        now=now - timedelta(minutes=1),
    )
    [friend_id] = add_followers(db, line_sandbox.state, channel, 1)
    member_id = people.link_member(db, channel, friend_id)
    people.purchase(db, channel.shop_id, member_id, total=3000, ordered_at=now)
    read_purchases(db, hub)
    assert enrollments(db, friend_id) == [(1, "active", None)]
    return friend_id, member_id


def read_purchases(db: Database, hub: Hub, *, later: timedelta = timedelta(0)) -> None:
    """Run the triggers ``later`` than now. The hub's own worker runs them too (now): whichever
    run reads the purchases acts, and a run re-reads the last minutes' purchases."""
    for _ in range(2):
        with db.session_scope() as session:
            triggers.run(session, public_url=hub.settings.public_url, now=utcnow() + later)


def test_a_backfilled_year_old_order_ends_a_first_purchase_enrolment(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    friend_id, member_id = first_purchase_enrolment(db, line_sandbox, hub, channel)

    year_ago = utcnow() - timedelta(days=400)
    people.purchase(db, channel.shop_id, member_id, total=3000, ordered_at=year_ago)
    read_purchases(db, hub)

    assert enrollments(db, friend_id) == [(1, "exited", triggers.ENROLMENT_RENUMBERED_REASON)]


def test_an_order_hours_older_read_days_later_keeps_the_first_purchase_enrolment(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    friend_id, member_id = first_purchase_enrolment(db, line_sandbox, hub, channel)

    earlier = utcnow() - timedelta(hours=2)
    people.purchase(db, channel.shop_id, member_id, total=3000, ordered_at=earlier)
    # Judged at the enrolling order's time, not the late read's: it would have enrolled too.
    read_purchases(db, hub, later=timedelta(days=3))

    assert enrollments(db, friend_id) == [(1, "active", None)]


def test_purchase_conditions_belong_to_purchase_enrolment_only() -> None:
    with pytest.raises(ValidationError, match="only when `event` is `purchase`"):
        SequenceSpec.model_validate(
            {
                "name": "x",
                "channel": "1",
                "enroll_on": {"event": "follow", "purchase": {"min_total": "1"}},
                "steps": [WELCOME],
            }
        )


def test_an_unknown_field_in_a_sequence_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        SequenceSpec.model_validate(
            {
                "name": "s",
                "channel": "1",
                "enroll_on": {"event": "follow"},
                "exit_on": ["purchased", {"tag_removed": "x"}],
                "steps": [WELCOME],
            }
        )

    assert "tag_removed" in str(raised.value)
