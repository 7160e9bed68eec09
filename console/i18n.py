"""The console's languages: Japanese first, English beside it.

Messages are written in English in the code and templates (``_("Friends")``); the Japanese
catalogue ``locales/ja/LC_MESSAGES/messages.po`` is compiled in memory when first needed, so
there is no build step and no compiled file to keep in step.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
_LOCALE_DIR = Path(__file__).with_name("locales")


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The catalogue of ``locale``; English is the messages themselves."""
    if locale not in LOCALES or locale == "en":
        return gettext.NullTranslations()
    with (_LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def negotiate(accept_language: str | None) -> str:
    """The first supported language the browser asks for, else Japanese."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        if primary in LOCALES:
            return primary
    return DEFAULT_LOCALE
