"""Shops, channels and tokens from the command line; secrets never appear in its output."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from core.db import Database
from core.tenancy import ApiToken, Channel
from tests.cli_runner import Cli

SECRET = "0123456789abcdef0123456789abcdef"
ACCESS_TOKEN = "very-secret-channel-access-token"


def add_shop_and_channel(cli: Cli) -> None:
    assert cli("shop", "add", "ginza", "--name", "Ginza Store").exit_code == 0
    result = cli(
        "channel",
        "add",
        "--shop",
        "ginza",
        "--name",
        "Main",
        "--channel-id",
        "1650000001",
        input=f"{SECRET}\n{ACCESS_TOKEN}\n",
    )
    assert result.exit_code == 0, result.output


def test_channel_secrets_are_prompted_stored_encrypted_and_never_printed(
    cli: Cli, db: Database
) -> None:
    add_shop_and_channel(cli)

    shown = cli("channel", "show", "1650000001")
    listed = cli("channel", "list")

    assert shown.exit_code == 0 and "ginza" in shown.output
    for output in (shown.output, listed.output):
        assert SECRET not in output and ACCESS_TOKEN not in output
    with db.engine.connect() as connection:
        raw = connection.exec_driver_sql("SELECT channel_secret, access_token FROM channels")
        stored_secret, stored_token = raw.one()
    assert SECRET not in stored_secret and ACCESS_TOKEN not in stored_token
    with db.session_scope() as session:
        channel = session.scalars(select(Channel)).one()
        assert (channel.channel_secret, channel.access_token) == (SECRET, ACCESS_TOKEN)


def test_a_second_shop_with_the_same_slug_is_refused_with_a_clear_error(cli: Cli) -> None:
    cli("shop", "add", "ginza", "--name", "Ginza Store")
    again = cli("shop", "add", "ginza", "--name", "Other")
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_a_created_token_opens_the_admin_api_until_revoked(
    cli: Cli, db: Database, hub_url: str
) -> None:
    add_shop_and_channel(cli)
    created = cli("token", "create", "--shop", "ginza", "--name", "ops")
    token = created.output.strip().splitlines()[-1]
    friends_url = f"{hub_url}/api/admin/v1/friends"
    headers = {"Authorization": f"Bearer {token}"}

    assert httpx.get(friends_url, headers=headers).status_code == 200
    with db.session_scope() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert token not in stored.token_hash

    assert cli("token", "revoke", "--shop", "ginza", "--name", "ops").exit_code == 0
    refused = httpx.get(friends_url, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "Unauthorized"
