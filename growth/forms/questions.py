"""A form's questions and their rules — the one definition both the page and the server use.

The page gets its HTML attributes (``required``, ``maxlength``, ``pattern``, ``min``…) and the
messages to show from :func:`attributes` and :func:`messages`; the server checks a submission
with :func:`check`, by the same rules, and answers each field's message in the friend's
language. A submission is taken whole or not at all.
"""

from __future__ import annotations

import enum
import re
from datetime import date, time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Label = Annotated[str, Field(min_length=1, max_length=200)]
TagName = Annotated[str, Field(min_length=1, max_length=100)]
Answer = str | list[str]

LANGUAGES = ("ja", "en")
# The longest answer any text question takes (a long text's limit cannot go above it).
LONGEST = 2000


class Kind(enum.StrEnum):
    HEADING = "heading"
    TEXT = "text"
    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    EMAIL = "email"
    TEL = "tel"
    NUMBER = "number"
    DATE = "date"
    TIME = "time"
    POSTCODE = "postcode"
    KATAKANA = "katakana"
    SINGLE = "single"
    MULTIPLE = "multiple"
    DROPDOWN = "dropdown"
    CONSENT = "consent"


# Shown, not answered.
DISPLAY = {Kind.HEADING, Kind.TEXT}
CHOICES = {Kind.SINGLE, Kind.MULTIPLE, Kind.DROPDOWN}
# Typed answers: the input's type, and the pattern the answer must match (HTML ``pattern``
# and Python ``re.fullmatch`` read these the same way).
INPUT_TYPES = {
    Kind.SHORT_TEXT: "text",
    Kind.EMAIL: "email",
    Kind.TEL: "tel",
    Kind.NUMBER: "number",
    Kind.DATE: "date",
    Kind.TIME: "time",
    Kind.POSTCODE: "text",
    Kind.KATAKANA: "text",
}
PATTERNS = {
    Kind.EMAIL: r"[^@\s]+@[^@\s]+\.[^@\s]+",
    Kind.TEL: r"\+?[0-9]{2,5}-?[0-9]{1,4}-?[0-9]{3,4}",
    Kind.NUMBER: r"-?[0-9]{1,12}",
    Kind.DATE: r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    Kind.TIME: r"[0-9]{2}:[0-9]{2}",
    Kind.POSTCODE: r"[0-9]{3}-?[0-9]{4}",
    Kind.KATAKANA: r"[ァ-ヶー・　 ]+",
}
# Answers written as text: their length is limited.
WRITTEN = {Kind.SHORT_TEXT, Kind.LONG_TEXT, Kind.EMAIL, Kind.TEL, Kind.POSTCODE, Kind.KATAKANA}
DEFAULT_MAX_LENGTH = {Kind.EMAIL: 254, Kind.TEL: 20, Kind.POSTCODE: 8, Kind.LONG_TEXT: 1000}
INPUT_MODES = {Kind.TEL: "tel", Kind.POSTCODE: "numeric", Kind.NUMBER: "numeric"}
AUTOCOMPLETE = {Kind.EMAIL: "email", Kind.TEL: "tel", Kind.POSTCODE: "postal-code"}

# What the friend reads when an answer breaks a rule, in their language.
MESSAGES: dict[str, dict[str, str]] = {
    "required": {"ja": "入力してください。", "en": "Please fill this in."},
    "choose": {"ja": "選んでください。", "en": "Please choose."},
    "consent": {"ja": "同意が必要です。", "en": "Your consent is needed."},
    "too_short": {
        "ja": "{min}文字以上で入力してください。",
        "en": "Please write at least {min} characters.",
    },
    "too_long": {
        "ja": "{max}文字以内で入力してください。",
        "en": "Please write at most {max} characters.",
    },
    "email": {
        "ja": "メールアドレスの形で入力してください。",
        "en": "Please enter an email address.",
    },
    "tel": {
        "ja": "電話番号を数字とハイフンで入力してください。",
        "en": "Please enter a phone number (digits and hyphens).",
    },
    "number": {"ja": "半角数字で入力してください。", "en": "Please enter a whole number."},
    "range": {
        "ja": "{min}から{max}の間で入力してください。",
        "en": "Please enter a value from {min} to {max}.",
    },
    "date": {"ja": "日付を選んでください。", "en": "Please choose a date."},
    "time": {"ja": "時刻を選んでください。", "en": "Please choose a time."},
    "postcode": {
        "ja": "郵便番号を7桁の数字で入力してください。例: 150-0001",
        "en": "Please enter a 7-digit postcode (e.g. 150-0001).",
    },
    "katakana": {"ja": "全角カタカナで入力してください。", "en": "Please write in katakana."},
    "unknown_choice": {
        "ja": "選択肢から選んでください。",
        "en": "Please choose one of the options.",
    },
}


class Choice(BaseModel):
    """An option of a choice question, and the tags a friend who picks it gets."""

    model_config = ConfigDict(extra="forbid")

    label: Label
    tags: list[TagName] = Field(default_factory=list, max_length=10)


class Question(BaseModel):
    """One item of a form. Headings and texts are shown; the others are answered, under their
    ``key``. ``field`` / ``attribute``: the custom field or member attribute the answer sets;
    a choice's ``tags``: added to the friend who picks it. ``hidden``: not shown, answered by
    its ``default``."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    key: Key | None = None
    label: Label
    label_en: Label | None = None
    help: str | None = Field(None, max_length=500)
    required: bool = False
    min_length: int | None = Field(None, ge=1, le=LONGEST)
    max_length: int | None = Field(None, ge=1, le=LONGEST)
    minimum: int | None = Field(None, ge=-(10**12), le=10**12)
    maximum: int | None = Field(None, ge=-(10**12), le=10**12)
    choices: list[Choice] = Field(default_factory=list, max_length=50)
    default: str | None = Field(None, max_length=LONGEST)
    hidden: bool = False
    field: str | None = Field(None, min_length=1, max_length=64)
    attribute: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{1,40}$")

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        if self.kind in DISPLAY:
            if self.key or self.required or self.field or self.attribute or self.hidden:
                raise ValueError(f"a `{self.kind}` is shown, not answered: it takes no key")
            return self
        if not self.key:
            raise ValueError(f"question {self.label!r} needs a `key`")
        if self.kind in CHOICES:
            labels = [c.label for c in self.choices]
            if len(labels) < 2 or len(set(labels)) != len(labels):
                raise ValueError(f"question {self.key!r} needs two or more different choices")
            if self.default is not None and self.default not in labels:
                raise ValueError(f"question {self.key!r}: the default is not one of its choices")
        elif self.choices:
            raise ValueError(f"question {self.key!r}: only choice questions take choices")
        low, high = self.min_length, self.max_length
        if low is not None and high is not None and low > high:
            raise ValueError(f"question {self.key!r}: min_length is above max_length")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"question {self.key!r}: minimum is above maximum")
        if self.kind not in WRITTEN and (self.min_length or self.max_length):
            raise ValueError(f"question {self.key!r}: only written answers take lengths")
        if self.kind != Kind.NUMBER and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"question {self.key!r}: only a number takes minimum and maximum")
        if self.hidden and self.kind != Kind.SHORT_TEXT:
            raise ValueError(f"question {self.key!r}: only a short text can be hidden")
        if self.default is not None and self.kind not in CHOICES:
            problem = _problem(self, self.default.strip())
            if problem is not None:
                raise ValueError(f"question {self.key!r}: the default breaks its own rules")
        return self

    @property
    def answered(self) -> bool:
        return self.kind not in DISPLAY

    def label_in(self, language: str) -> str:
        return self.label_en if language == "en" and self.label_en else self.label

    @property
    def longest(self) -> int:
        """The answer's length limit: the question's, else its kind's."""
        if self.max_length is not None:
            return self.max_length
        return DEFAULT_MAX_LENGTH.get(self.kind, LONGEST if self.kind == Kind.LONG_TEXT else 200)


def language_of(wanted: str | None) -> str:
    """``ja`` or ``en`` from a language tag (``en-US``…); Japanese unless English is asked."""
    return "en" if (wanted or "").lower().startswith("en") else "ja"


def message(code: str, language: str, **values: object) -> str:
    return MESSAGES[code][language_of(language)].format(**values)


def attributes(question: Question) -> dict[str, str | bool]:
    """The HTML attributes of the question's input: the page's half of the rules."""
    found: dict[str, str | bool] = {}
    if question.required and question.kind not in {Kind.MULTIPLE}:
        found["required"] = True
    if question.kind in WRITTEN:
        found["maxlength"] = str(question.longest)
        if question.min_length is not None:
            found["minlength"] = str(question.min_length)
    if question.kind in PATTERNS and question.kind not in {Kind.DATE, Kind.TIME, Kind.NUMBER}:
        found["pattern"] = PATTERNS[question.kind]
    if question.kind == Kind.NUMBER:
        found["step"] = "1"
    if question.minimum is not None and question.kind == Kind.NUMBER:
        found["min"] = str(question.minimum)
    if question.maximum is not None and question.kind == Kind.NUMBER:
        found["max"] = str(question.maximum)
    if question.kind in INPUT_MODES:
        found["inputmode"] = INPUT_MODES[question.kind]
    if question.kind in AUTOCOMPLETE:
        found["autocomplete"] = AUTOCOMPLETE[question.kind]
    return found


def messages(question: Question, language: str) -> dict[str, str]:
    """The messages the page shows for each way the input can be wrong (``data-msg-*``)."""
    missing = {Kind.CONSENT: "consent", **dict.fromkeys(CHOICES, "choose")}.get(
        question.kind, "required"
    )
    found = {"missing": message(missing, language)}
    if question.kind in PATTERNS:
        found["format"] = message(question.kind.value, language)
    if question.kind in WRITTEN:
        found["long"] = message("too_long", language, max=question.longest)
        if question.min_length is not None:
            found["short"] = message("too_short", language, min=question.min_length)
    if question.kind == Kind.NUMBER:
        low = question.minimum if question.minimum is not None else "…"
        high = question.maximum if question.maximum is not None else "…"
        found["range"] = message("range", language, min=low, max=high)
    return found


def check(
    questions: list[Question], raw: dict[str, Any], language: str
) -> tuple[dict[str, Answer], dict[str, str]]:
    """The answers, cleaned, and the message for each field that breaks a rule (none: the
    submission may be saved). Unknown keys are ignored; hidden items keep their default."""
    answers: dict[str, Answer] = {}
    errors: dict[str, str] = {}
    for question in questions:
        if not question.answered or question.key is None:
            continue
        if question.hidden:
            if question.default is not None:
                answers[question.key] = question.default
            continue
        value = raw.get(question.key)
        if question.kind == Kind.MULTIPLE:
            picked = _picked(value)
            labels = {c.label for c in question.choices}
            if any(p not in labels for p in picked):
                errors[question.key] = message("unknown_choice", language)
            elif question.required and not picked:
                errors[question.key] = message("choose", language)
            elif picked:
                answers[question.key] = [c.label for c in question.choices if c.label in picked]
            continue
        text = value.strip() if isinstance(value, str) else ""
        if question.kind == Kind.CONSENT:
            agreed = text in {"yes", "on", "true"}
            if question.required and not agreed:
                errors[question.key] = message("consent", language)
            elif agreed:
                answers[question.key] = "yes"
            continue
        if not text:
            if question.required:
                missing = "choose" if question.kind in CHOICES else "required"
                errors[question.key] = message(missing, language)
            continue
        problem = _problem(question, text)
        if problem is not None:
            errors[question.key] = message(problem[0], language, **problem[1])
        else:
            answers[question.key] = _normal(question, text)
    return answers, errors


def _picked(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [v for v in value[:50] if isinstance(v, str) and v]
    return []


def _problem(question: Question, text: str) -> tuple[str, dict[str, object]] | None:
    """Why ``text`` is no answer to the question (a message code and its values), or None."""
    if question.kind in CHOICES:
        if text not in {c.label for c in question.choices}:
            return "unknown_choice", {}
        return None
    if question.kind in WRITTEN:
        if len(text) > question.longest:
            return "too_long", {"max": question.longest}
        if question.min_length is not None and len(text) < question.min_length:
            return "too_short", {"min": question.min_length}
    pattern = PATTERNS.get(question.kind)
    if pattern is not None and not re.fullmatch(pattern, text):
        return question.kind.value, {}
    if question.kind == Kind.NUMBER:
        number = int(text)
        low, high = question.minimum, question.maximum
        if (low is not None and number < low) or (high is not None and number > high):
            return "range", {
                "min": "…" if low is None else low,
                "max": "…" if high is None else high,
            }
    if question.kind == Kind.DATE:
        try:
            date.fromisoformat(text)
        except ValueError:
            return "date", {}
    if question.kind == Kind.TIME:
        try:
            time.fromisoformat(text)
        except ValueError:
            return "time", {}
    return None


def _normal(question: Question, text: str) -> str:
    if question.kind == Kind.POSTCODE:
        digits = text.replace("-", "")
        return f"{digits[:3]}-{digits[3:]}"
    if question.kind == Kind.NUMBER:
        return str(int(text))
    return text


def as_text(answer: Answer) -> str:
    """An answer as one line of text (a custom field's value, a CSV cell)."""
    return ", ".join(answer) if isinstance(answer, list) else answer
