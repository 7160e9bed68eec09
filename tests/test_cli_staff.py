"""Staff accounts from the command line: a one-time link to set the password, list, disable."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.db import Database
from staff.models import StaffUser
from tests.cli_runner import Cli

LINK = re.compile(r"http://\S+/console/password/(\S+)")


def test_adding_staff_prints_a_one_time_password_link_and_lists_them(
    cli: Cli, db: Database
) -> None:
    assert cli("shop", "add", "ginza", "--name", "Ginza Store").exit_code == 0

    added = cli("staff", "add", "Aoi@example.jp", "--shop", "ginza", "--role", "operator")
    listed = cli("staff", "list", "--shop", "ginza")

    assert added.exit_code == 0, added.output
    assert LINK.search(added.output)
    assert "aoi@example.jp" in listed.output and "operator" in listed.output
    assert "password not set" in listed.output


def test_reset_password_prints_a_new_link_and_disable_blocks_the_account(
    cli: Cli, db: Database
) -> None:
    cli("shop", "add", "ginza", "--name", "Ginza Store")
    first = LINK.search(
        cli("staff", "add", "aoi@example.jp", "--shop", "ginza", "--role", "viewer").output
    )

    reset = cli("staff", "reset-password", "aoi@example.jp")
    disabled = cli("staff", "disable", "aoi@example.jp")

    second = LINK.search(reset.output)
    assert first and second and first.group(1) != second.group(1)
    assert disabled.exit_code == 0
    with db.session_scope() as session:
        assert session.scalars(select(StaffUser)).one().disabled


def test_a_role_in_an_unknown_shop_or_a_bad_role_fails_clearly(cli: Cli) -> None:
    unknown = cli("staff", "add", "aoi@example.jp", "--shop", "nowhere", "--role", "viewer")
    bad_role = cli("staff", "add", "aoi@example.jp", "--shop", "nowhere", "--role", "boss")

    assert unknown.exit_code == 1 and "no shop" in unknown.output
    assert bad_role.exit_code == 2
