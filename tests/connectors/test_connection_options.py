"""A connection's options are checked when it is added: a bad one is refused by name."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import Result

from commerce.connections import config_of, connector_for, create_connection
from commerce.models import Connection
from connectors.options import InvalidOptions
from connectors.salesforce.settings import read_settings
from connectors.shopify.connector import ShopifyConnector
from core.db import Database
from core.tenancy import Shop
from tests.cli_runner import Cli


def add_shopify(cli: Cli, *options: str) -> Result:
    assert cli("shop", "add", "ginza", "--name", "Ginza Store").exit_code == 0
    flags = [part for option in options for part in ("--option", option)]
    return cli("connector", "add", "shopify", "--shop", "ginza", "--name", "store", *flags)


def stored_connections(db: Database) -> list[Connection]:
    with db.session_scope() as session:
        return list(session.scalars(select(Connection)))


def test_a_misspelt_option_is_refused_with_its_name_and_the_options_there_are(
    cli: Cli, db: Database
) -> None:
    result = add_shopify(cli, "page_sise=50")

    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "unknown option 'page_sise'" in output
    assert "page_size" in output and "backfill" in output
    assert stored_connections(db) == []


def test_a_value_the_connector_cannot_use_is_refused_naming_the_option(
    cli: Cli, db: Database
) -> None:
    result = add_shopify(cli, "backfill=fast", "page_size=many")

    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "option 'backfill'" in output and "'fast'" in output
    assert "option 'page_size'" in output and "'many'" in output
    assert stored_connections(db) == []


def test_accepted_options_are_stored_and_used_by_the_connector(cli: Cli, db: Database) -> None:
    result = add_shopify(cli, "page_size=50", "backfill=bulk", "lookback_seconds=60")

    assert result.exit_code == 0, result.output
    (connection,) = stored_connections(db)
    assert connection.options == {"page_size": 50, "backfill": "bulk", "lookback_seconds": 60}
    connector = connector_for(connection)
    assert isinstance(connector, ShopifyConnector)
    assert (connector.page_size, connector.backfill) == (50, "bulk")
    assert connector.lookback.total_seconds() == 60


def test_a_salesforce_mapping_must_name_api_fields_and_is_refused_with_422(
    db: Database, shop: Shop
) -> None:
    with db.session_scope() as session, pytest.raises(InvalidOptions) as refused:
        create_connection(
            session,
            shop=session.merge(shop),
            kind="salesforce",
            name="crm",
            credentials={"consumer_key": "k", "consumer_secret": "s"},
            options={"booking": {"object": "Booking__c", "fields": {"start": "Start Time"}}},
        )

    assert refused.value.status_code == 422
    assert "booking" in refused.value.detail and "fields.start" in refused.value.detail
    assert "not a Salesforce API name" in refused.value.detail
    assert stored_connections(db) == []


def test_salesforce_writeback_true_takes_the_default_fields(db: Database, shop: Shop) -> None:
    with db.session_scope() as session:
        connection = create_connection(
            session,
            shop=session.merge(shop),
            kind="salesforce",
            name="crm",
            credentials={"consumer_key": "k", "consumer_secret": "s"},
            options={"writeback": True, "booking": False},
        )
        settings = read_settings(config_of(connection))

    assert settings.writeback == {
        "object": "Contact",
        "match_field": "Member_Number__c",
        "line_user_id_field": "LINE_User_Id__c",
        "linked_field": "LINE_Linked__c",
    }
    assert settings.bookings is None
