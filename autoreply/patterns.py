"""Text matching for rules: exact, contains, starts with, or a regular expression evaluated with
a time limit, so that a pattern that backtracks catastrophically cannot stall the worker.

Texts and patterns are compared NFKC-normalised (full-width letters and half-width kana are the
ordinary ones), case-folded and trimmed.
Regular expressions run on the ``regex`` package with a timeout; a pattern that exceeds it on
probe inputs is refused when saved, and one that exceeds it on a real message matches nothing.
"""

from __future__ import annotations

import logging
import unicodedata
from functools import lru_cache

import regex

log = logging.getLogger(__name__)

# A friend's message is at most 5,000 characters: this is the budget for one pattern on one.
REGEX_TIMEOUT = 0.05
_PROBE_LENGTH = 3000


class PatternRefused(ValueError):
    """The regular expression cannot be used: it does not compile, or it backtracks."""


def normal(text: str) -> str:
    """The form texts are compared in: NFKC, case-folded, trimmed."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> regex.Pattern[str]:
    try:
        return regex.compile(normal(pattern), regex.V1)
    except (regex.error, ValueError, OverflowError) as exc:
        raise PatternRefused(f"not a valid regular expression: {exc}") from exc


def check_regex(pattern: str) -> None:
    """Refuse a pattern that does not compile, or that takes longer than the time limit on a
    long probe input made of its own characters (catastrophic backtracking)."""
    compiled_pattern = compiled(pattern)
    for probe in _probes(normal(pattern)):
        try:
            compiled_pattern.search(probe, timeout=REGEX_TIMEOUT)
        except TimeoutError as exc:
            raise PatternRefused(
                f"this regular expression backtracks catastrophically: on a long message it "
                f"ran over {int(REGEX_TIMEOUT * 1000)} ms; simplify it (e.g. no nested or "
                f"overlapping repetition like (a|aa)+)"
            ) from exc


def _probes(pattern: str) -> list[str]:
    letters = [c for c in dict.fromkeys(pattern) if c.isalnum()][:8] or ["a"]
    probes = [letter * _PROBE_LENGTH + "!" for letter in letters]
    probes.append("".join(letters) * (_PROBE_LENGTH // len(letters)) + "!")
    probes.append(" ".join(letters) * (_PROBE_LENGTH // (2 * len(letters))) + "!")
    return probes


def matches(match: str, pattern: str, text: str) -> bool:
    """Whether ``text`` (a friend's message) matches the rule's ``match`` and ``pattern``."""
    said = normal(text)
    if match == "any":
        return True
    if match == "regex":
        try:
            return compiled(pattern).search(said, timeout=REGEX_TIMEOUT) is not None
        except PatternRefused:
            return False
        except TimeoutError:
            log.warning("auto-reply pattern %r ran out of time; treated as no match", pattern)
            return False
    wanted = normal(pattern)
    if match == "exact":
        return said == wanted
    if match == "contains":
        return wanted in said
    if match == "prefix":
        return said.startswith(wanted)
    raise ValueError(f"unknown match {match!r}")


def sample(match: str, pattern: str) -> str | None:
    """A text the rule surely matches (None: a regex, which has no obvious one)."""
    return None if match == "regex" else ("…" if match == "any" else normal(pattern))
