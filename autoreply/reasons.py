"""Why a rule answers a message or does not, as a code with its values: the admin API gives the
English sentence, the console says it in the staff member's language (the codes' sentences are
in ``console/templates/autoreplies/_reason.html``)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Each code's English sentence; the console's translations of them are kept beside its tester.
SENTENCES: dict[str, str] = {
    "no_match": "no match",
    "outranked": "matches too; a higher priority rule answers",
    "answers": "matches {what}; priority {priority}; {at}",
    "answers_outside": "matches {what} (outside opening hours); priority {priority}; {at}",
    "not_started": "starts on {date}",
    "ended": "ended on {date}",
    "within_hours": "within opening hours ({at})",
    "outside_hours": "outside its days and hours ({at})",
    "lacks_tag": "the friend lacks tag {tag!r}",
    "carries_tag": "the friend carries tag {tag!r}",
    "field_differs": "field {key!r} is not {value!r}",
    "not_linked": "the friend is not linked to a member",
    "already_linked": "already linked",
    "answered_once": "answered this friend once already",
    "answered_in_window": (
        "answered this friend in the current window (until staff write or 12 h pass)"
    ),
}


@dataclass(frozen=True, slots=True)
class Reason:
    """One of the ``SENTENCES`` codes and its values: ``match`` and ``pattern`` (said together
    as ``what``), ``weekday`` (mon…sun) and ``time`` (said together as ``at``), and the rest
    as named."""

    code: str
    values: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The reason in English."""
        values = dict(self.values)
        if "weekday" in values:
            values["at"] = f"{values['weekday'].title()} {values['time']}"
        if "match" in values:
            match, pattern = values["match"], values.get("pattern", "")
            values["what"] = "any message" if match == "any" else f"{match} {pattern!r}"
        return SENTENCES[self.code].format(**values)
