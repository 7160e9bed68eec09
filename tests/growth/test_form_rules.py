"""A form's rules, one definition for the page and the server: what the server accepts and
refuses (and says, in Japanese or English), and the HTML attributes the page gets from the
same questions."""

from __future__ import annotations

import re

import pytest

from growth.forms.questions import PATTERNS, Kind, Question, attributes, check, messages


def _one(kind: str, **options: object) -> list[Question]:
    return [Question.model_validate({"kind": kind, "key": "a", "label": "A", **options})]


@pytest.mark.parametrize(
    ("kind", "good", "stored"),
    [
        ("email", "hanako@example.jp", "hanako@example.jp"),
        ("tel", "090-1234-5678", "090-1234-5678"),
        ("tel", "0312345678", "0312345678"),
        ("number", "007", "7"),
        ("date", "2026-12-24", "2026-12-24"),
        ("time", "18:30", "18:30"),
        ("postcode", "1500001", "150-0001"),
        ("postcode", "150-0001", "150-0001"),
        ("katakana", "サトウ　ハナコ", "サトウ　ハナコ"),
    ],
)
def test_a_well_formed_answer_is_kept_in_its_normal_form(kind: str, good: str, stored: str) -> None:
    assert check(_one(kind), {"a": f"  {good} "}, "ja") == ({"a": stored}, {})


@pytest.mark.parametrize(
    ("kind", "bad", "english"),
    [
        ("email", "hanako@", "Please enter an email address."),
        ("tel", "phone 090", "Please enter a phone number (digits and hyphens)."),
        ("number", "3.5", "Please enter a whole number."),
        ("date", "2026-02-30", "Please choose a date."),
        ("number", "1" * 5000, "Please enter a whole number."),
        ("time", "25:00", "Please choose a time."),
        ("postcode", "150-001", "Please enter a 7-digit postcode (e.g. 150-0001)."),
        ("katakana", "さとう", "Please write in katakana."),
    ],
)
def test_a_malformed_answer_is_refused_with_its_message(kind: str, bad: str, english: str) -> None:
    assert check(_one(kind), {"a": bad}, "en") == ({}, {"a": english})
    assert check(_one(kind), {"a": bad}, "ja")[1]["a"] != english


def test_lengths_ranges_and_required_answers_are_checked() -> None:
    text = _one("short_text", required=True, min_length=2, max_length=5)
    number = _one("number", minimum=1, maximum=10)

    assert check(text, {"a": " "}, "ja")[1] == {"a": "入力してください。"}
    assert check(text, {"a": "x"}, "en")[1] == {"a": "Please write at least 2 characters."}
    assert check(text, {"a": "xxxxxx"}, "en")[1] == {"a": "Please write at most 5 characters."}
    assert check(number, {"a": "11"}, "en")[1] == {"a": "Please enter a value from 1 to 10."}
    assert check(_one("long_text"), {"a": "x" * 1001}, "en")[1] == {
        "a": "Please write at most 1000 characters."
    }
    assert check(text, {}, "ja")[1] == {"a": "入力してください。"}


def test_choices_must_be_the_forms_own_and_consent_must_be_given() -> None:
    choices = [{"label": "カット"}, {"label": "カラー"}]
    single = _one("single", choices=choices, required=True)
    multiple = _one("multiple", choices=choices, required=True)
    consent = _one("consent", required=True)

    assert check(single, {"a": "パーマ"}, "ja")[1] == {"a": "選択肢から選んでください。"}
    assert check(single, {"a": ["カット"]}, "ja")[1] == {"a": "選んでください。"}
    assert check(multiple, {"a": ["カラー", "カット"]}, "ja")[0] == {"a": ["カット", "カラー"]}
    assert check(multiple, {"a": []}, "en")[1] == {"a": "Please choose."}
    assert check(consent, {"a": ""}, "en")[1] == {"a": "Your consent is needed."}
    assert check(consent, {"a": "on"}, "en")[0] == {"a": "yes"}


def test_hidden_items_take_their_default_whatever_is_sent_and_headings_take_nothing() -> None:
    questions = [
        Question(kind=Kind.HEADING, label="About you"),
        Question(kind=Kind.SHORT_TEXT, key="src", label="S", hidden=True, default="poster"),
    ]

    assert check(questions, {"src": "forged", "About you": "x"}, "ja") == ({"src": "poster"}, {})


def test_the_page_gets_the_servers_rules_as_attributes_and_its_messages() -> None:
    for kind, pattern in PATTERNS.items():
        found = attributes(_one(kind.value)[0])
        if kind in {Kind.DATE, Kind.TIME, Kind.NUMBER}:
            assert "pattern" not in found  # their input types check the form themselves
        else:
            assert found["pattern"] == pattern
            re.compile(pattern)
    text = attributes(_one("short_text", required=True, min_length=2, max_length=5)[0])
    number = attributes(_one("number", minimum=1, maximum=10)[0])

    assert text == {"required": True, "maxlength": "5", "minlength": "2"}
    assert number == {"step": "1", "min": "1", "max": "10", "inputmode": "numeric"}
    assert (
        messages(_one("postcode")[0], "en")["format"]
        == check(_one("postcode"), {"a": "1"}, "en")[1]["a"]
    )


def test_a_question_that_contradicts_itself_is_refused() -> None:
    for body, reason in [
        ({"kind": "heading", "key": "h", "label": "H"}, "takes no key"),
        ({"kind": "email", "label": "E"}, "needs a `key`"),
        ({"kind": "email", "key": "e", "label": "E", "choices": [{"label": "x"}]}, "only choice"),
        (
            {"kind": "short_text", "key": "t", "label": "T", "min_length": 5, "max_length": 2},
            "above",
        ),
        ({"kind": "email", "key": "e", "label": "E", "hidden": True}, "only a short text"),
        ({"kind": "date", "key": "d", "label": "D", "max_length": 3}, "only written answers"),
        ({"kind": "short_text", "key": "t", "label": "T", "minimum": 1}, "only a number"),
        (
            {
                "kind": "single",
                "key": "s",
                "label": "S",
                "default": "z",
                "choices": [{"label": "a"}, {"label": "b"}],
            },
            "default is not one",
        ),
    ]:
        with pytest.raises(ValueError, match=reason):
            Question.model_validate(body)
