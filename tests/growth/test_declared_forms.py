"""Forms in the ``tsunagu apply`` file: created, unchanged the second time, updated in place
(their code, and so their shared URL, kept), refused with the place of the error."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core.db import Database
from growth.forms.models import Form
from tests.cli_runner import Cli
from tests.test_cli_admin import add_shop_and_channel

FORMS = """\
shop: ginza
forms:
  - name: visit-survey
    channel: "1650000001"
    title: ご来店前アンケート
    policy: editable
    opens_at: 2026-12-01T00:00:00Z
    questions:
      - {kind: heading, label: お客さまについて}
      - {kind: katakana, key: kana, label: フリガナ, required: true, max_length: 20}
      - kind: single
        key: length
        label: 髪の長さ
        choices:
          - {label: ショート, tags: [ショート]}
          - {label: ロング, tags: [ロング]}
    actions:
      - {kind: tag, target: アンケート回答}
"""


def _forms(db: Database) -> dict[str, tuple[str, str, int]]:
    with db.session_scope() as session:
        return {f.name: (f.code, f.title, len(f.questions)) for f in session.scalars(select(Form))}


def test_a_form_is_applied_once_and_changed_in_place(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(FORMS, encoding="utf-8")

    dry = cli("apply", str(path), "--dry-run")
    assert "create forms 'visit-survey'" in dry.output, dry.output
    assert _forms(db) == {}
    applied = cli("apply", str(path), "--yes")
    assert applied.exit_code == 0, applied.output
    code, title, questions = _forms(db)["visit-survey"]
    assert (title, questions) == ("ご来店前アンケート", 3)
    assert "nothing to change" in cli("apply", str(path), "--yes").output

    path.write_text(FORMS.replace("title: ご来店前", "title: 初回"), encoding="utf-8")
    changed = cli("apply", str(path), "--yes")

    assert "update forms 'visit-survey'" in changed.output, changed.output
    assert _forms(db)["visit-survey"] == (code, "初回アンケート", 3)


def test_an_invalid_form_changes_nothing_and_says_where(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(FORMS.replace("kind: katakana", "kind: hiragana"), encoding="utf-8")

    result = cli("apply", str(path), "--yes")

    assert result.exit_code == 1
    assert "forms[0].questions.1.kind" in " ".join(result.output.split())
    assert _forms(db) == {}
