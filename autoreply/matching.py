"""Which rule or FAQ entry answers a message, and why each other one does not.

Rules are tried from the highest priority down; the first whose text, schedule, conditions and
frequency all hold answers. With no rule, the FAQ entry most similar to the message answers if
its score reaches the entry's threshold; below it nothing is sent (staff answer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from autoreply import live, patterns, queries
from autoreply.live import LiveFaq, LiveRule
from autoreply.queries import FriendFacts
from autoreply.reasons import Reason
from autoreply.schemas import WEEKDAYS, Conditions, Frequency, RuleSpec, Schedule
from core.tenancy import Channel

# A once-per-window rule (the out-of-hours answer) answers a friend again after this long, or
# sooner once a staff member has written to them.
WINDOW = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Verdict:
    rule: LiveRule
    matched: bool
    reason: Reason


@dataclass(frozen=True, slots=True)
class FaqCandidate:
    entry: LiveFaq
    score: float
    question: str


@dataclass(slots=True)
class Decision:
    local: datetime
    rule: LiveRule | None = None
    faq: FaqCandidate | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    candidates: list[FaqCandidate] = field(default_factory=list)

    @property
    def fires(self) -> str | None:
        if self.rule is not None:
            return f"rule:{self.rule.name}"
        return f"faq:{self.faq.entry.name}" if self.faq is not None else None


def decide(
    session: Session,
    *,
    channel: Channel,
    text: str,
    now: datetime,
    friend_id: int | None = None,
) -> Decision:
    """The answer to ``text`` on ``channel`` at ``now`` (for a friend: conditions and frequency
    checked against them; without one, as for a friend who meets every condition)."""
    local = now.astimezone(ZoneInfo(channel.timezone))
    decision = Decision(local=local)
    facts = _Facts(session, channel.shop_id, friend_id)
    for rule in live.rules(session, channel.id):
        spec = rule.spec
        if decision.rule is not None:
            matched = patterns.matches(spec.match, spec.pattern, text)
            later = Reason("outranked" if matched else "no_match")
            decision.verdicts.append(Verdict(rule, False, later))
            continue
        reason = _refusal(session, spec, rule, text, local, facts, friend_id, now)
        if reason is None:
            decision.rule = rule
            decision.verdicts.append(Verdict(rule, True, _why(spec, local)))
        else:
            decision.verdicts.append(Verdict(rule, False, reason))
    decision.candidates = faq_candidates(session, channel, text)
    if decision.rule is None and decision.candidates:
        best = decision.candidates[0]
        if best.score >= best.entry.threshold:
            decision.faq = best
    return decision


class _Facts:
    """The friend's tags, fields and link, read once and only when a rule has conditions."""

    def __init__(self, session: Session, shop_id: int, friend_id: int | None) -> None:
        self.session, self.shop_id, self.friend_id = session, shop_id, friend_id
        self._facts: FriendFacts | None = None

    def get(self) -> FriendFacts:
        if self._facts is None:
            assert self.friend_id is not None
            self._facts = queries.friend_facts(self.session, self.shop_id, self.friend_id)
        return self._facts


def _refusal(
    session: Session,
    spec: RuleSpec,
    rule: LiveRule,
    text: str,
    local: datetime,
    facts: _Facts,
    friend_id: int | None,
    now: datetime,
) -> Reason | None:
    """Why the rule does not answer (None: it does)."""
    if not patterns.matches(spec.match, spec.pattern, text):
        return Reason("no_match")
    outside = schedule_refusal(spec.schedule, local)
    if outside is not None:
        return outside
    if facts.friend_id is not None and spec.conditions != Conditions():
        unmet = conditions_refusal(spec.conditions, facts.get())
        if unmet is not None:
            return unmet
    if friend_id is not None:
        return _frequency_refusal(session, spec.frequency, rule.id, friend_id, now)
    return None


def _why(spec: RuleSpec, local: datetime) -> Reason:
    code = "answers_outside" if spec.schedule.outside else "answers"
    what = {"match": str(spec.match), "pattern": spec.pattern, "priority": str(spec.priority)}
    return Reason(code, what | _at(local))


def _at(local: datetime) -> dict[str, str]:
    return {"weekday": WEEKDAYS[local.weekday()], "time": f"{local:%H:%M}"}


def _within(schedule: Schedule, local: datetime) -> bool:
    """The moment is within the schedule's weekdays and hours."""
    if schedule.weekdays and WEEKDAYS[local.weekday()] not in schedule.weekdays:
        return False
    if schedule.start is None or schedule.end is None:
        return True
    moment = local.time().replace(tzinfo=None)
    return _in_hours(moment, schedule.start, schedule.end)


def _in_hours(moment: time, start: time, end: time) -> bool:
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


def schedule_refusal(schedule: Schedule, local: datetime) -> Reason | None:
    today = local.date()
    if schedule.date_from and today < schedule.date_from:
        return Reason("not_started", {"date": str(schedule.date_from)})
    if schedule.date_to and today > schedule.date_to:
        return Reason("ended", {"date": str(schedule.date_to)})
    within = _within(schedule, local)
    if schedule.outside and within:
        return Reason("within_hours", _at(local))
    if not schedule.outside and not within:
        return Reason("outside_hours", _at(local))
    return None


def conditions_refusal(conditions: Conditions, facts: FriendFacts) -> Reason | None:
    missing = [t for t in conditions.tags if t not in facts.tags]
    if missing:
        return Reason("lacks_tag", {"tag": missing[0]})
    carried = [t for t in conditions.without_tags if t in facts.tags]
    if carried:
        return Reason("carries_tag", {"tag": carried[0]})
    for key, wanted in conditions.fields.items():
        if facts.fields.get(key, "") != wanted:
            return Reason("field_differs", {"key": key, "value": wanted})
    if conditions.linked is not None and conditions.linked != facts.linked:
        return Reason("not_linked" if conditions.linked else "already_linked")
    return None


def _frequency_refusal(
    session: Session, frequency: Frequency, rule_id: int, friend_id: int, now: datetime
) -> Reason | None:
    if frequency == Frequency.EVERY_TIME:
        return None
    last = queries.last_hit(session, rule_id=rule_id, friend_id=friend_id)
    if last is None:
        return None
    if frequency == Frequency.ONCE_PER_FRIEND:
        return Reason("answered_once")
    if now - last >= WINDOW or queries.staff_wrote_since(session, friend_id=friend_id, since=last):
        return None
    return Reason("answered_in_window")


def faq_candidates(session: Session, channel: Channel, text: str) -> list[FaqCandidate]:
    """The channel's enabled FAQ entries with their score for ``text``, best first."""
    index = live.faq_index(session, channel.id)
    if not index.wordings:
        return []
    best: dict[int, FaqCandidate] = {}
    for scored in index.corpus.scores(text):
        entry, question = index.wordings[scored.index]
        if entry.id not in best or scored.score > best[entry.id].score:
            best[entry.id] = FaqCandidate(entry, scored.score, question)
    return sorted(best.values(), key=lambda c: (-c.score, c.entry.name))
