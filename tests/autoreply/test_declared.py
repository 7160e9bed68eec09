"""Auto-reply rules and FAQ entries in the ``tsunagu apply`` file: created, unchanged the second
time, updated in place, and refused with their place in the file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from autoreply.models import AutoReplyRule, FaqEntry
from core.db import Database
from tests.cli_runner import Cli
from tests.test_cli_admin import add_shop_and_channel

FILE = """\
shop: ginza
fields:
  - key: plan
    label: プラン
    type: text
auto_replies:
  - name: booking
    channel: "1650000001"
    match: contains
    pattern: 予約
    priority: 50
    schedule: {weekdays: [mon, tue, wed, thu, fri], start: "10:00", end: "19:00"}
    conditions: {tags: [vip]}
    actions:
      reply: [{type: text, text: ご予約はこちらから}]
      set_fields: {plan: gold}
  - name: after-hours
    channel: "1650000001"
    match: any
    frequency: once_per_window
    schedule: {start: "10:00", end: "19:00", outside: true}
    actions:
      reply: [{type: sticker, packageId: "446", stickerId: "1988"}]
faq:
  - name: parking
    channel: "1650000001"
    questions: [駐車場はありますか, 車で行けますか]
    answer: 裏に5台分あります。
"""


def _rules(db: Database) -> dict[str, tuple[int, int, str]]:
    with db.session_scope() as session:
        rows = session.scalars(select(AutoReplyRule)).all()
        return {r.name: (r.id, r.priority, r.pattern) for r in rows}


def test_rules_and_faq_are_applied_once_then_updated_in_place(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(FILE, encoding="utf-8")

    applied = cli("apply", str(path), "--yes")
    assert applied.exit_code == 0, applied.output
    assert "create auto_replies 'booking'" in applied.output
    assert "create faq 'parking'" in applied.output
    assert "applied 4 change(s)" in applied.output
    before = _rules(db)
    assert before["booking"][1:] == (50, "予約")

    again = cli("apply", str(path), "--yes")
    assert "nothing to change" in again.output, again.output

    path.write_text(FILE.replace("priority: 50", "priority: 70"), encoding="utf-8")
    changed = cli("apply", str(path), "--yes")
    assert "update auto_replies 'booking'" in changed.output, changed.output
    assert '+  "priority": 70' in changed.output
    assert _rules(db)["booking"] == (before["booking"][0], 70, "予約")
    with db.session_scope() as session:
        (entry,) = session.scalars(select(FaqEntry)).all()
        assert entry.questions == ["駐車場はありますか", "車で行けますか"]


def test_a_hostile_pattern_in_the_file_changes_nothing_and_says_where(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(
        FILE.replace("match: contains\n    pattern: 予約", "match: regex\n    pattern: (a|aa)+$"),
        encoding="utf-8",
    )

    result = cli("apply", str(path), "--yes")

    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "auto_replies[0]" in output and "backtracks catastrophically" in output
    assert _rules(db) == {}
