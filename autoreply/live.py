"""A channel's enabled rules and FAQ index as the matcher reads them, kept per process and
reloaded when the channel's rules or entries change (their count or newest update time), so a
message costs two small queries, not parsing every rule and indexing every wording again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from autoreply import queries
from autoreply.schemas import STORED, RuleSpec
from autoreply.similarity import Corpus

Version = tuple[int, datetime | None]


@dataclass(frozen=True, slots=True)
class LiveRule:
    id: int
    name: str
    priority: int
    spec: RuleSpec


@dataclass(frozen=True, slots=True)
class LiveFaq:
    id: int
    name: str
    answer: str
    threshold: float


@dataclass(frozen=True, slots=True)
class FaqIndex:
    """Every wording of the channel's enabled entries: (entry, wording), and their index."""

    wordings: tuple[tuple[LiveFaq, str], ...]
    corpus: Corpus


_rules: dict[int, tuple[Version, tuple[LiveRule, ...]]] = {}
_faq: dict[int, tuple[Version, FaqIndex]] = {}


def rules(session: Session, channel_id: int) -> tuple[LiveRule, ...]:
    """The channel's enabled rules, highest priority first."""
    version = queries.rules_version(session, channel_id)
    cached = _rules.get(channel_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    loaded = tuple(
        LiveRule(
            rule.id,
            rule.name,
            rule.priority,
            RuleSpec.model_validate(rule.spec, context={STORED: True}),
        )
        for rule in queries.channel_rules(session, channel_id)
    )
    _rules[channel_id] = (version, loaded)
    return loaded


def faq_index(session: Session, channel_id: int) -> FaqIndex:
    """The channel's enabled FAQ entries' wordings, indexed for similarity."""
    version = queries.faq_version(session, channel_id)
    cached = _faq.get(channel_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    wordings = tuple(
        (LiveFaq(entry.id, entry.name, entry.answer, entry.threshold), question)
        for entry in queries.channel_faq(session, channel_id)
        for question in entry.questions
    )
    index = FaqIndex(wordings, Corpus([question for _entry, question in wordings]))
    _faq[channel_id] = (version, index)
    return index
