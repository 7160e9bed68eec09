"""Every message of the console's templates has its Japanese translation, and none is stale."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from console import i18n

CONSOLE = Path(__file__).resolve().parents[2] / "console"
MESSAGE = re.compile(r"""_\(\s*(?:"([^"]+)"|'([^']+)')""")


def _template_messages() -> set[str]:
    found = set()
    for template in (CONSOLE / "templates").rglob("*.html"):
        for double, single in MESSAGE.findall(template.read_text()):
            found.add(double or single)
    return found


def test_every_template_message_is_translated_into_japanese_and_none_is_stale() -> None:
    with (CONSOLE / "locales" / "ja" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="ja")
    translated = {m.id for m in catalog if m.id and m.string}

    assert _template_messages() - translated == set()
    assert translated - _template_messages() == set()


def test_no_message_is_translated_twice() -> None:
    """A message given twice takes one of its translations silently, on every page."""
    text = (CONSOLE / "locales" / "ja" / "LC_MESSAGES" / "messages.po").read_text()
    ids = re.findall(r'^msgid "(.+)"$', text, flags=re.MULTILINE)
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    glued = re.findall(r'^(?:msgstr .*|".*")\nmsgid .*$', text, flags=re.MULTILINE)
    assert glued == [], "entries without a blank line between them"


def test_japanese_is_the_default_and_english_is_the_messages_themselves() -> None:
    assert i18n.negotiate(None) == "ja"
    assert i18n.negotiate("en-US,en;q=0.9") == "en"
    assert i18n.negotiate("fr-FR, en;q=0.5") == "en"
    assert i18n.translations("ja").gettext("Friends") == "友だち"
    assert i18n.translations("en").gettext("Friends") == "Friends"
