"""A form's questions as HTML: the LIFF page and the console's phone preview show the same
markup, whose attributes carry the questions' rules (``questions.attributes``) and the
messages of each rule in the page's language (``questions.messages``)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from growth.forms.questions import INPUT_TYPES, Kind, Question, attributes, language_of, messages

_ENVIRONMENT = Environment(
    loader=PackageLoader("growth.forms", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
WORDS = {
    "required": {"ja": "必須", "en": "Required"},
    "choose": {"ja": "選んでください", "en": "Choose"},
    "send": {"ja": "送信する", "en": "Send"},
    "change": {"ja": "回答を変更する", "en": "Change my answers"},
}


def words(language: str) -> dict[str, str]:
    """The page's own words (not the shop's) in the language."""
    lang = language_of(language)
    return {name: texts[lang] for name, texts in WORDS.items()}


def fields(questions: list[Question], language: str, *, id_prefix: str = "q") -> Markup:
    """The questions' inputs (hidden items are not shown: the server fills them in)."""
    lang = language_of(language)
    template = _ENVIRONMENT.get_template("_fields.html")
    return Markup(  # noqa: S704 - rendered by an autoescaping environment
        template.render(
            questions=[q for q in questions if not q.hidden],
            lang=lang,
            words=words(lang),
            prefix=id_prefix,
            attributes=attributes,
            messages=lambda q: messages(q, lang),
            input_types=INPUT_TYPES,
            Kind=Kind,
        )
    )
