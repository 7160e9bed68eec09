"""``tsunagu apply`` with tracked links and tag rules: a template places a link declared in the
same file, applying twice changes nothing, and a changed rule shows its diff."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core.db import Database
from growth.tagrules.models import TagRule
from messaging.compose.models import StandaloneLink
from tests.cli_runner import Cli
from tests.test_cli_admin import add_shop_and_channel

FILE = """\
shop: ginza
links:
  - name: menu
    url: https://salon.example/menu
    tag: read-menu
campaigns:
  - name: thanks
    channel: "1650000001"
    kind: purchase
    messages: [{type: text, text: "メニュー {{ tracked:menu }}"}]
tag_rules:
  - name: first buyers
    trigger: {event: purchase, purchase_number: 1}
    add: [first-buyer]
  - name: menu readers
    trigger: {event: click, link: menu}
    add: [curious]
"""


def _rules(db: Database) -> dict[str, tuple[dict[str, object], list[str]]]:
    with db.session_scope() as session:
        return {r.name: (r.trigger, r.add_tags) for r in session.scalars(select(TagRule))}


def test_links_and_tag_rules_are_applied_once_and_changes_show_their_diff(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "growth.yaml"
    path.write_text(FILE, encoding="utf-8")

    applied = cli("apply", str(path), "--yes")
    assert applied.exit_code == 0, applied.output
    assert "applied 4 change(s)" in applied.output
    assert _rules(db) == {
        "first buyers": ({"event": "purchase", "purchase_number": 1}, ["first-buyer"]),
        "menu readers": ({"event": "click", "link": "menu"}, ["curious"]),
    }
    with db.session_scope() as session:
        assert session.scalars(select(StandaloneLink.tag)).all() == ["read-menu"]
    again = cli("apply", str(path), "--yes")
    assert "nothing to change" in again.output, again.output

    path.write_text(FILE.replace("purchase_number: 1", "purchase_number: 2"), encoding="utf-8")
    changed = cli("apply", str(path), "--dry-run")

    assert "update tag_rules 'first buyers'" in changed.output, changed.output
    assert "purchase_number" in changed.output


def test_a_template_naming_an_undeclared_link_is_refused_and_nothing_applied(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "growth.yaml"
    path.write_text(FILE.replace("tracked:menu", "tracked:price-list"), encoding="utf-8")

    refused = cli("apply", str(path), "--yes")

    assert refused.exit_code != 0
    assert "tracked:price-list" in refused.output
    assert _rules(db) == {}
