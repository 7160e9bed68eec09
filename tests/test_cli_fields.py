"""Custom fields from the command line: declared in ``tsunagu apply`` files, listed, imported."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from core.db import Database
from core.tenancy import Channel
from crm import fields
from crm.models import FieldDefinition
from idlink.models import Friend
from tests.api.admin_support import add_friend, add_link, add_member
from tests.cli_runner import Cli
from tests.test_cli_admin import add_shop_and_channel

DECLARED = """\
shop: ginza
fields:
  - key: hair
    label: 髪質
    type: choice
    choices: [直毛, くせ毛]
  - key: visits
    label: 来店回数
    type: number
segments:
  - name: curly
    rules: {field: hair, value: くせ毛}
campaigns:
  - name: curly-care
    channel: "1650000001"
    kind: segment
    trigger: {segment: curly}
    scheduled_at: 2099-12-01T10:00:00+09:00
    messages: [{type: text, text: "{{ field.hair }}の方へ、ケアのご案内"}]
"""


def _fields(db: Database) -> dict[str, tuple[str, str, list[str]]]:
    with db.session_scope() as session:
        return {
            d.key: (d.label, d.type, list(d.choices))
            for d in session.query(FieldDefinition).order_by(FieldDefinition.position)
        }


def test_fields_declared_in_a_file_come_first_so_segments_and_templates_can_use_them(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(DECLARED, encoding="utf-8")

    dry = cli("apply", str(path), "--dry-run")
    applied = cli("apply", str(path), "--yes")
    again = cli("apply", str(path), "--yes")
    path.write_text(DECLARED.replace("label: 髪質", "label: 髪のタイプ"), encoding="utf-8")
    relabelled = cli("apply", str(path), "--yes")
    listed = cli("field", "list", "--shop", "ginza")

    assert "create fields 'hair'" in dry.output and "4 change(s) not applied" in dry.output
    assert applied.exit_code == 0, applied.output
    assert "nothing to change" in again.output
    assert "update fields 'hair'" in relabelled.output
    assert '+  "label": "髪のタイプ"' in relabelled.output
    assert _fields(db) == {
        "hair": ("髪のタイプ", "choice", ["直毛", "くせ毛"]),
        "visits": ("来店回数", "number", []),
    }
    assert listed.exit_code == 0, listed.output
    assert "hair" in listed.output and "直毛, くせ毛" in listed.output


def test_a_choice_field_without_choices_is_refused_with_its_place_in_the_file(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(DECLARED.replace("    choices: [直毛, くせ毛]\n", ""), encoding="utf-8")

    result = cli("apply", str(path), "--yes")

    assert result.exit_code == 1
    assert "fields[0]" in result.output and "needs its `choices`" in result.output
    assert _fields(db) == {}


def test_values_import_by_line_user_id_or_member_number_and_bad_rows_are_reported_safely(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(DECLARED, encoding="utf-8")
    assert cli("apply", str(path), "--yes").exit_code == 0
    with db.session_scope() as session:
        channel = session.scalar(select(Channel).where(Channel.line_channel_id == "1650000001"))
        assert channel is not None
        shop_id, channel_pk = channel.shop_id, channel.id
    aoi = add_friend(db, channel_pk, "U" + "a" * 32)
    ken = add_friend(db, channel_pk, "U" + "b" * 32)
    add_link(db, shop_id, ken, add_member(db, shop_id, "M-0002"))
    with db.session_scope() as session:
        fields.set_value(
            session, friend=session.get_one(Friend, ken), key="visits", value=7, actor="t"
        )
    by_user = tmp_path / "by_user.csv"
    by_user.write_text(
        "line_user_id,hair,visits\n"
        f"{'U' + 'a' * 32},くせ毛,12\n"
        '=HYPERLINK("http://evil.example"),直毛,1\n'
        f"{'U' + 'a' * 32},ストレート,3\n",
        encoding="utf-8",
    )
    by_member = tmp_path / "by_member.csv"
    by_member.write_text("member_number,hair,visits\nM-0002,直毛,-\n", encoding="utf-8")
    report = tmp_path / "errors.csv"

    first = cli("field", "import", str(by_user), "--shop", "ginza", "--errors", str(report))
    second = cli("field", "import", str(by_member), "--shop", "ginza")
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("line_user_id,colour\nUx,red\n", encoding="utf-8")
    refused = cli("field", "import", str(unknown), "--shop", "ginza")

    assert first.exit_code == 1 and "updated 1, unchanged 0, failed 2" in first.output
    assert "line 4" in first.output and "one of: 直毛, くせ毛" in first.output
    with report.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][:2] == ["3", '\'=HYPERLINK("http://evil.example")']
    assert second.exit_code == 0, second.output
    assert refused.exit_code == 1 and "no such field: colour" in refused.output
    with db.session_scope() as session:
        values = fields.values_for(session, shop_id, [aoi, ken])
    assert values == {aoi: {"hair": "くせ毛", "visits": Decimal(12)}, ken: {"hair": "直毛"}}
