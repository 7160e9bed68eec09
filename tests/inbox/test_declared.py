"""Inbox marks and canned replies in the ``tsunagu apply`` file: created, unchanged the second
time, updated in place (a mark's colour, a canned reply's body), named by an auto-reply rule in
the same file, and refused with their place in the file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from autoreply.models import AutoReplyRule
from core.db import Database
from inbox.models import CannedReply, InboxMark
from tests.cli_runner import Cli
from tests.test_cli_admin import add_shop_and_channel

FILE = """\
shop: ginza
marks:
  - name: 要確認
    colour: red
  - name: 予約
canned_replies:
  - name: hours
    title: 営業時間
    body: "{name}様、営業時間は10時から19時です。"
auto_replies:
  - name: booking
    channel: "1650000001"
    match: contains
    pattern: 予約
    actions:
      mark: 予約
"""


def _marks(db: Database) -> dict[str, tuple[int, str]]:
    with db.session_scope() as session:
        return {m.name: (m.id, m.colour) for m in session.scalars(select(InboxMark))}


def _canned(db: Database) -> dict[str, tuple[int, str, str]]:
    with db.session_scope() as session:
        rows = session.scalars(select(CannedReply))
        return {c.code: (c.id, c.title, c.body) for c in rows}


def test_marks_and_canned_replies_are_applied_once_then_updated_in_place(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(FILE, encoding="utf-8")

    planned = cli("apply", str(path), "--dry-run")
    assert "create marks '要確認'" in planned.output, planned.output
    assert _marks(db) == {}

    applied = cli("apply", str(path), "--yes")
    assert applied.exit_code == 0, applied.output
    assert "create marks '予約'" in applied.output
    assert "create canned_replies 'hours'" in applied.output
    assert "applied 4 change(s)" in applied.output
    before_marks, before_canned = _marks(db), _canned(db)
    assert {name: colour for name, (_, colour) in before_marks.items()} == {
        "要確認": "red",
        "予約": "gray",
    }
    assert before_canned["hours"][1:] == ("営業時間", "{name}様、営業時間は10時から19時です。")
    with db.session_scope() as session:
        (rule,) = session.scalars(select(AutoReplyRule)).all()
        assert rule.spec["actions"]["mark"] == "予約"

    again = cli("apply", str(path), "--yes")
    assert "nothing to change" in again.output, again.output

    changed_file = FILE.replace("colour: red", "colour: orange").replace("19時", "20時")
    path.write_text(changed_file, encoding="utf-8")
    changed = cli("apply", str(path), "--yes")
    assert "update marks '要確認'" in changed.output, changed.output
    assert '+  "colour": "orange"' in changed.output
    assert "update canned_replies 'hours'" in changed.output
    assert _marks(db)["要確認"] == (before_marks["要確認"][0], "orange")
    assert _canned(db)["hours"][0] == before_canned["hours"][0]
    assert "20時" in _canned(db)["hours"][2]


def test_a_canned_reply_code_that_cannot_be_typed_changes_nothing_and_says_where(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(
        FILE.replace("name: hours", "name: 営業 時間").replace("colour: red", "colour: teal"),
        encoding="utf-8",
    )

    result = cli("apply", str(path), "--yes")

    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "marks[0].colour" in output and "canned_replies[0].name" in output, output
    assert _marks(db) == {} and _canned(db) == {}


def test_a_canned_reply_with_an_unknown_variable_is_refused_and_nothing_is_applied(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(
        FILE.replace("{name}様", "{{ nickname }}様"),
        encoding="utf-8",
    )

    result = cli("apply", str(path), "--yes")

    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "canned_replies 'hours': unknown variable {{ nickname }}" in output, output
    assert _marks(db) == {} and _canned(db) == {}


def test_a_canned_reply_may_use_the_templates_variables_beside_its_short_forms(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    body = "{name}様 ({{ member_number }})、{shop}の{{ link:https://salon.example/menu }}"
    path.write_text(FILE.replace("{name}様、営業時間は10時から19時です。", body), encoding="utf-8")

    result = cli("apply", str(path), "--yes")

    assert result.exit_code == 0, result.output
    assert _canned(db)["hours"][2] == body
