"""Follow routes in the ``tsunagu apply`` file: created, unchanged the second time, updated in
place (their code, and so their printed QR code, kept), refused with the place of the error."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core.db import Database
from growth.models import FollowRoute
from tests.cli_runner import Cli
from tests.test_cli_admin import add_shop_and_channel

ROUTES = """\
shop: ginza
routes:
  - name: station-poster
    channel: "1650000001"
    window_hours: 24
    actions:
      - {kind: tag, target: poster, when: first}
      - {kind: message, target: "ようこそ", when: first}
"""


def _routes(db: Database) -> dict[str, tuple[str, int, list[dict[str, object]]]]:
    with db.session_scope() as session:
        return {
            r.name: (r.code, r.window_hours, r.actions)
            for r in session.scalars(select(FollowRoute))
        }


def test_a_route_is_applied_once_and_changed_in_place(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(ROUTES, encoding="utf-8")

    dry = cli("apply", str(path), "--dry-run")
    assert "create routes 'station-poster'" in dry.output, dry.output
    assert _routes(db) == {}
    applied = cli("apply", str(path), "--yes")
    assert applied.exit_code == 0, applied.output
    code, window, actions = _routes(db)["station-poster"]
    assert window == 24
    assert [a["kind"] for a in actions] == ["tag", "message"]
    assert "nothing to change" in cli("apply", str(path), "--yes").output

    path.write_text(ROUTES.replace("window_hours: 24", "window_hours: 72"), encoding="utf-8")
    changed = cli("apply", str(path), "--yes")

    assert "update routes 'station-poster'" in changed.output, changed.output
    assert '+  "window_hours": 72' in changed.output
    assert _routes(db)["station-poster"][:2] == (code, 72)


def test_an_invalid_route_changes_nothing_and_says_where(
    cli: Cli, db: Database, tmp_path: Path
) -> None:
    add_shop_and_channel(cli)
    path = tmp_path / "shop.yaml"
    path.write_text(ROUTES.replace("kind: message", "kind: email"), encoding="utf-8")

    result = cli("apply", str(path), "--yes")

    assert result.exit_code == 1
    assert "routes[0].actions.1.kind" in " ".join(result.output.split())
    assert _routes(db) == {}
