"""The form builder's rows as the admin API's body (``FormIn``), and a form as the builder's
rows: one question per fieldset, a choice per line (``label | tag, tag``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from console.context import TOKYO
from core.clock import as_utc
from growth.forms.questions import Kind, Question
from growth.forms.schemas import FormAction, FormActionKind, FormIn

# Empty question and action rows the builder offers beyond the form's own.
SPARE_QUESTIONS = 3
SPARE_ACTIONS = 2
QUESTION_INPUTS = (
    "kind",
    "key",
    "label",
    "label_en",
    "help",
    "min_length",
    "max_length",
    "minimum",
    "maximum",
    "default",
    "field",
    "attribute",
    "choices",
)


@dataclass
class Row:
    """A question as the builder shows it (every value as text)."""

    values: dict[str, str] = field(default_factory=dict)
    required: bool = False
    hidden: bool = False


def rows_of(questions: list[Question]) -> list[Row]:
    """The form's questions as builder rows, then the spare empty ones."""
    rows = []
    for question in questions:
        values = {
            name: "" if getattr(question, name) is None else str(getattr(question, name))
            for name in QUESTION_INPUTS
            if name != "choices"
        }
        values["kind"] = question.kind.value
        values["choices"] = "\n".join(
            f"{c.label} | {', '.join(c.tags)}" if c.tags else c.label for c in question.choices
        )
        rows.append(Row(values, question.required, question.hidden))
    return [*rows, *[Row() for _ in range(SPARE_QUESTIONS)]]


def _texts(form: FormData, name: str) -> list[str]:
    return [v.strip() if isinstance(v, str) else "" for v in form.getlist(name)]


def _choices(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        label, _bar, tags = line.partition("|")
        if label.strip():
            names = [t.strip() for t in tags.replace("、", ",").split(",") if t.strip()]
            found.append({"label": label.strip(), "tags": names})
    return found


def question_dicts(form: FormData) -> list[dict[str, Any]]:
    """The builder's question rows that have a kind and a label, as ``Question`` bodies."""
    columns = {name: _texts(form, f"q_{name}") for name in QUESTION_INPUTS}
    required = set(_texts(form, "q_required"))
    hidden = set(_texts(form, "q_hidden"))
    found = []
    for index, kind in enumerate(columns["kind"]):
        values = {
            name: column[index] if index < len(column) else "" for name, column in columns.items()
        }
        if not kind or not values["label"]:
            continue
        body: dict[str, Any] = {
            name: value for name, value in values.items() if value and name != "choices"
        }
        if kind in {k.value for k in (Kind.SINGLE, Kind.MULTIPLE, Kind.DROPDOWN)}:
            body["choices"] = _choices(values["choices"])
        body["required"] = str(index) in required
        body["hidden"] = str(index) in hidden
        found.append(body)
    return found


def preview_questions(form: FormData) -> tuple[list[Question], int]:
    """The rows that make valid questions (the preview shows these), and how many do not."""
    shown, broken = [], 0
    for body in question_dicts(form):
        try:
            shown.append(Question.model_validate(body))
        except ValidationError:
            broken += 1
    return shown, broken


def action_dicts(form: FormData) -> list[dict[str, Any]]:
    rows = zip(
        _texts(form, "action_kind"),
        _texts(form, "action_target"),
        _texts(form, "action_value"),
        strict=False,
    )
    return [
        {"kind": kind, "target": target, "value": value or None}
        for kind, target, value in rows
        if kind and (target or kind == FormActionKind.RICH_MENU)
    ]


def action_rows(actions: list[FormAction]) -> list[FormAction | None]:
    return [*actions, *[None] * SPARE_ACTIONS]


def _moment(text: str) -> datetime | None:
    """A ``datetime-local`` input's value, read as Tokyo time (the console's clock)."""
    if not text:
        return None
    return as_utc(datetime.fromisoformat(text).replace(tzinfo=TOKYO))


def local_input(moment: datetime | None) -> str:
    """A stored time as a ``datetime-local`` input's value in Tokyo time."""
    return "" if moment is None else as_utc(moment).astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


def spec_of(form: FormData) -> FormIn:
    """The builder's whole form as ``FormIn`` (ValidationError when it does not make one)."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    try:
        opens_at, closes_at = _moment(text("opens_at")), _moment(text("closes_at"))
    except ValueError as exc:
        raise ValueError("opening and closing times are dates and times") from exc
    return FormIn.model_validate(
        {
            "name": text("name"),
            "channel": text("channel") or None,
            "title": text("title"),
            "description": text("description") or None,
            "questions": question_dicts(form),
            "policy": text("policy") or "once",
            "opens_at": opens_at,
            "closes_at": closes_at,
            "actions": action_dicts(form),
            "thanks": text("thanks") or None,
        }
    )
