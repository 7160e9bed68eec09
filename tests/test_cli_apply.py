"""Campaigns as code: ``tsunagu apply`` validates the file, shows the diff, applies it once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from core.db import Database
from messaging.campaigns.models import Campaign
from tests.cli_runner import Cli
from tests.test_cli_admin import add_shop_and_channel

CAMPAIGNS = """\
shop: ginza
segments:
  - name: vip
    rules: {all: [{tag: vip}, {linked: true}]}
campaigns:
  - name: first-purchase-thanks
    channel: "1650000001"
    kind: purchase
    trigger: {purchase_number: 1}
    delay: {days: 3, at: "10:00"}
    messages:
      - type: text
        text: "{{ display_name }}さん、初めてのお買い物ありがとうございました"
  - name: december-sale
    channel: "1650000001"
    kind: segment
    trigger: {segment: vip}
    scheduled_at: 2099-12-01T10:00:00+09:00
    messages: [{type: text, text: "冬のセール"}]
reminders:
  - name: day-before
    channel: "1650000001"
    offset_minutes: 1440
    messages: [{type: text, text: "明日 {{ booking_time }} にお待ちしています"}]
sequences:
  - name: welcome
    channel: "1650000001"
    enroll_on: {event: follow}
    exit_on: [blocked]
    steps:
      - messages: [{type: text, text: "ようこそ"}]
      - delay: {days: 1, at: "10:00"}
        messages: [{type: text, text: "2日目"}]
"""


def _campaigns(db: Database) -> dict[str, Campaign]:
    with db.session_scope() as session:
        rows = session.scalars(select(Campaign)).all()
        for row in rows:
            session.expunge(row)
    return {row.name: row for row in rows}


def test_a_file_is_shown_applied_and_applied_again_as_nothing(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "campaigns.yaml"
    path.write_text(CAMPAIGNS, encoding="utf-8")

    dry = cli("apply", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "create campaigns 'first-purchase-thanks'" in dry.output
    assert "create reminders 'day-before'" in dry.output
    assert "create segments 'vip'" in dry.output
    assert "create sequences 'welcome'" in dry.output
    assert "5 change(s) not applied" in dry.output
    assert _campaigns(db) == {}

    unconfirmed = cli("apply", str(path))
    assert unconfirmed.exit_code == 1
    assert _campaigns(db) == {}

    applied = cli("apply", str(path), "--yes")
    assert applied.exit_code == 0, applied.output
    assert "applied 5 change(s)" in applied.output
    stored = _campaigns(db)
    assert stored["first-purchase-thanks"].delay == {"days": 3, "at": "10:00"}
    assert stored["december-sale"].scheduled_at == datetime(2099, 12, 1, 1, 0, tzinfo=UTC)

    again = cli("apply", str(path), "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing to change" in again.output
    assert (
        _campaigns(db)["first-purchase-thanks"].updated_at
        == stored["first-purchase-thanks"].updated_at
    )


def test_a_change_shows_its_diff_and_updates_in_place(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "campaigns.yaml"
    path.write_text(CAMPAIGNS, encoding="utf-8")
    assert cli("apply", str(path), "--yes").exit_code == 0
    before = _campaigns(db)["first-purchase-thanks"].id

    path.write_text(CAMPAIGNS.replace('at: "10:00"', 'at: "11:30"'), encoding="utf-8")
    changed = cli("apply", str(path), "--yes")
    assert changed.exit_code == 0, changed.output
    assert "update campaigns 'first-purchase-thanks'" in changed.output
    assert '-    "at": "10:00"' in changed.output
    assert '+    "at": "11:30"' in changed.output
    assert "unchanged campaigns 'december-sale'" in changed.output
    after = _campaigns(db)["first-purchase-thanks"]
    assert (after.id, after.delay["at"]) == (before, "11:30")


def test_an_invalid_file_changes_nothing_and_says_where(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "campaigns.yaml"
    broken = CAMPAIGNS.replace("{{ display_name }}", "{{ nickname }}").replace(
        "segment: vip", "segmnt: vip"
    )
    path.write_text(broken, encoding="utf-8")
    result = cli("apply", str(path), "--yes")
    assert result.exit_code == 1
    assert "campaigns[1].segmnt" in " ".join(result.output.split())
    assert _campaigns(db) == {}

    path.write_text(CAMPAIGNS.replace("{{ display_name }}", "{{ nickname }}"), encoding="utf-8")
    result = cli("apply", str(path), "--yes")
    assert result.exit_code == 1
    assert "unknown variable {{ nickname }}" in " ".join(result.output.split())
    assert _campaigns(db) == {}


def test_enabled_in_the_file_starts_and_pauses_campaigns(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "campaigns.yaml"
    enabled = CAMPAIGNS.replace("    kind: purchase\n", "    kind: purchase\n    enabled: true\n")
    enabled = enabled.replace("    kind: segment\n", "    kind: segment\n    enabled: true\n")
    path.write_text(enabled, encoding="utf-8")
    assert cli("apply", str(path), "--yes").exit_code == 0
    statuses = {name: c.status for name, c in _campaigns(db).items()}
    assert statuses == {"first-purchase-thanks": "active", "december-sale": "scheduled"}
    assert "nothing to change" in cli("apply", str(path), "--yes").output

    path.write_text(enabled.replace("enabled: true", "enabled: false", 1), encoding="utf-8")
    paused = cli("apply", str(path), "--yes")
    assert "update campaigns 'first-purchase-thanks'" in paused.output
    assert _campaigns(db)["first-purchase-thanks"].status == "paused"

    path.write_text(CAMPAIGNS, encoding="utf-8")  # no `enabled`: the status is left alone
    assert "nothing to change" in cli("apply", str(path), "--yes").output
    assert _campaigns(db)["december-sale"].status == "scheduled"
