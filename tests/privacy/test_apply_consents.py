"""Consent declared in a ``tsunagu apply`` file: recorded once as from ``import`` (or where the
entry says), unchanged when applied again, and honoured by the guardrails."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core.db import Database
from core.tenancy import Channel
from messaging.outbox import consent
from messaging.outbox.models import ConsentRecord
from tests.api.admin_support import add_friend
from tests.cli_runner import Cli
from tests.test_cli_admin import add_shop_and_channel

HANAKO = "U" + "1" * 32
ICHIRO = "U" + "2" * 32

CONSENTS = f"""\
shop: ginza
consents:
  - channel: "1650000001"
    line_user_id: {HANAKO}
    purpose: marketing
    granted: false
  - channel: "1650000001"
    line_user_id: {ICHIRO}
    purpose: service
    granted: false
    source: form
"""


def _friends(db: Database) -> dict[str, int]:
    with db.session_scope() as session:
        channel = session.scalars(
            select(Channel).where(Channel.line_channel_id == "1650000001")
        ).one()
        pk = channel.id
    return {user: add_friend(db, pk, user, display_name=user[:3]) for user in (HANAKO, ICHIRO)}


def _records(db: Database) -> list[tuple[int, str, bool, str]]:
    with db.session_scope() as session:
        return [
            (r.friend_id, r.purpose, r.granted, r.source)
            for r in session.scalars(select(ConsentRecord).order_by(ConsentRecord.id))
        ]


def test_declared_consents_are_recorded_once_and_honoured(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    friends = _friends(db)
    path = tmp_path / "consents.yaml"
    path.write_text(CONSENTS, encoding="utf-8")

    applied = cli("apply", str(path), "--yes")

    assert applied.exit_code == 0, applied.output
    assert f"create consents '1650000001:{HANAKO}:marketing'" in applied.output
    assert "applied 2 change(s)" in applied.output
    hanako, ichiro = friends[HANAKO], friends[ICHIRO]
    assert _records(db) == [
        (hanako, "marketing", False, "import"),
        (ichiro, "service", False, "form"),
    ]
    with db.session_scope() as session:
        assert set(consent.withheld(session, [hanako, ichiro], source="campaign:1")) == {hanako}
        assert set(consent.withheld(session, [hanako, ichiro], source="reminder:1")) == {ichiro}

    again = cli("apply", str(path), "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing to change" in again.output

    path.write_text(CONSENTS.replace("granted: false", "granted: true", 1), encoding="utf-8")
    changed = cli("apply", str(path), "--yes")
    assert changed.exit_code == 0, changed.output
    assert f"update consents '1650000001:{HANAKO}:marketing'" in changed.output
    assert _records(db)[-1] == (hanako, "marketing", True, "import")


def test_a_consent_for_a_friend_the_hub_does_not_know_changes_nothing(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    _friends(db)
    path = tmp_path / "consents.yaml"
    stranger = "U" + "9" * 32
    path.write_text(CONSENTS.replace(ICHIRO, stranger), encoding="utf-8")

    refused = cli("apply", str(path), "--yes")

    assert refused.exit_code != 0
    assert "no such friend of channel 1650000001" in " ".join(refused.output.split())
    assert _records(db) == []
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONSENTS.replace("purpose: marketing", "purpose: everything"), encoding="utf-8")
    invalid = cli("apply", str(bad), "--yes")
    assert invalid.exit_code != 0 and "consents[0].purpose" in " ".join(invalid.output.split())
