"""No input is answered with a 500 or silently dropped: hostile headers, ids, depths and numbers
get a 4xx in the hub's error shape, signed but unusable bodies are kept for review, and an error
nobody expected is still JSON with a request id, logged and counted."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select, text

from connectors.line.webhook import signature
from core.db import Database
from core.inbox import EventStatus, InboundEvent
from core.serving import ThreadedServer, free_port
from core.tenancy import ApiToken, Shop, create_channel, create_token
from sandbox.reservations.sender import WebhookSender
from sandbox.reservations.signing import calcom_signature, v1_signature
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.api.admin_support import ADMIN_PREFIX, AdminApi, add_member, admin_api
from tests.connectors.reservations.conftest import Endpoint, add_connection
from tests.connectors.shopify.conftest import Store, connect
from tests.factories import ChannelSetup, make_shop

DEEP = b"[" * 100_000 + b"]" * 100_000
TOO_BIG_ID = 2**63
PAST_INTEGER_ID = 2**31


@pytest.fixture
def admin(db: Database, hub_url: str, shop: Shop) -> AdminApi:
    return admin_api(db, hub_url, shop)


@pytest.fixture
def store(db: Database, shop: Shop, hub_url: str, tmp_path) -> Iterator[Store]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield connect(db, shop, server, hub_url)


@pytest.fixture
def generic(db: Database, shop: Shop, hub_url: str) -> Endpoint:
    return add_connection(
        db, shop, hub_url, kind="reservations", credentials={"secret": secrets.token_hex(16)}
    )


@pytest.fixture
def calcom(db: Database, shop: Shop, hub_url: str) -> Endpoint:
    return add_connection(
        db, shop, hub_url, kind="calcom", credentials={"secret": secrets.token_hex(16)}
    )


@pytest.fixture
def sender() -> Iterator[WebhookSender]:
    client = WebhookSender()
    yield client
    client.close()


def kept_for_review(db: Database, **where: int) -> list[InboundEvent]:
    with db.session_scope() as session:
        query = select(InboundEvent).where(InboundEvent.event_type == "malformed")
        for column, value in where.items():
            query = query.where(getattr(InboundEvent, column) == value)
        found = list(session.scalars(query))
        session.expunge_all()
        return found


def assert_error_shape(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    body = response.json()
    assert set(body) == {"error", "detail"}
    return body


def line_post(channel: ChannelSetup, body: bytes) -> httpx.Response:
    headers = {"x-line-signature": signature(channel.channel_secret, body)}
    return httpx.post(channel.webhook_url, content=body, headers=headers, timeout=30)


# Headers


def test_a_reservation_timestamp_of_a_non_ascii_digit_is_refused_not_a_500(
    db: Database, generic: Endpoint
) -> None:
    # "¹" is a digit to str.isdigit() and not to int(); latin-1 is how HTTP headers decode.
    response = httpx.post(
        generic.url,
        content=b"{}",
        headers={
            b"X-Tsunagu-Event-Id": b"evt-1",
            b"X-Tsunagu-Timestamp": "¹".encode("latin-1"),
            b"X-Tsunagu-Signature": b"v1=00",
        },
        timeout=10,
    )

    body = assert_error_shape(response, 401)
    assert "X-Tsunagu-Timestamp" in body["detail"]


# Ids past what a row id can be


@pytest.mark.parametrize("family", ["shopify", "reservations"])
def test_a_webhook_path_id_past_64_bits_is_422(hub_url: str, family: str) -> None:
    response = httpx.post(f"{hub_url}/webhooks/{family}/{TOO_BIG_ID}", content=b"{}", timeout=10)

    body = assert_error_shape(response, 422)
    assert body["error"] == "ValidationFailed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/members/{id}"),
        ("PATCH", "/members/{id}"),
        ("GET", "/friends/{id}"),
        ("GET", "/events/{id}"),
        ("GET", "/connections/{id}"),
        ("GET", "/campaigns/{id}"),
        ("GET", "/campaigns/{id}/report"),
        ("GET", "/campaigns/{id}/preview"),
        ("POST", "/campaigns/{id}/pause"),
        ("POST", "/links/{id}/unlink"),
        ("POST", "/members/{id}/link-codes"),
        ("POST", "/friends/{id}/account-link"),
        ("GET", "/links?friend_id={id}"),
        ("GET", "/purchases?member_id={id}"),
        ("GET", "/bookings?friend_id={id}"),
    ],
)
def test_an_admin_id_past_64_bits_is_422(admin: AdminApi, method: str, path: str) -> None:
    url = admin.base_url + path.format(id=TOO_BIG_ID)
    response = httpx.request(method, url, headers=admin.headers, json={}, timeout=10)

    body = assert_error_shape(response, 422)
    assert body["error"] == "ValidationFailed"


def test_an_id_past_a_32_bit_key_is_422_and_the_largest_one_is_simply_not_found(
    admin: AdminApi,
) -> None:
    assert_error_shape(admin.get(f"/members/{PAST_INTEGER_ID}"), 422)
    assert_error_shape(admin.get(f"/members/{PAST_INTEGER_ID - 1}"), 404)


@pytest.mark.parametrize("last_id", [PAST_INTEGER_ID, TOO_BIG_ID, 10**30])
def test_a_cursor_past_what_a_key_holds_is_400(admin: AdminApi, last_id: int) -> None:
    cursor = base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")

    body = assert_error_shape(admin.get("/members", cursor=cursor), 400)
    assert body["error"] == "InvalidCursor"


# Setup that is missing, and credentials that name nothing


def test_a_member_card_on_a_channel_without_a_liff_app_is_409_without_setup_hints(
    hub_url: str, channel: ChannelSetup, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        response = httpx.get(f"{hub_url}/idlink/liff/{channel.channel_id}", timeout=10)

    body = assert_error_shape(response, 409)
    assert body["error"] == "NotSetUp"
    assert "PATCH" not in body["detail"] and "liff_id" not in body["detail"]
    assert any("liff_id" in record.getMessage() for record in caplog.records)


def test_linking_on_a_channel_without_a_login_channel_is_409_without_setup_hints(
    db: Database, hub_url: str, shop: Shop
) -> None:
    line_channel_id = str(secrets.randbelow(9 * 10**9) + 10**9)
    with db.session_scope() as session:
        create_channel(
            session,
            shop=session.get_one(Shop, shop.id),
            name="No login",
            line_channel_id=line_channel_id,
            channel_secret=secrets.token_hex(16),
            access_token=secrets.token_hex(16),
        )

    response = httpx.post(
        f"{hub_url}/api/idlink/liff/status",
        json={"channel_id": line_channel_id, "id_token": "x.y.z"},
        timeout=10,
    )

    body = assert_error_shape(response, 409)
    assert "tsunagu channel" not in body["detail"]


def test_a_token_whose_shop_row_is_gone_is_refused_with_401(db: Database, hub_url: str) -> None:
    shop = make_shop(db)
    with db.session_scope() as session:
        _, plaintext = create_token(session, shop=session.get_one(Shop, shop.id), name="orphan")
    _delete_without_constraints(db, "DELETE FROM shops WHERE id = :id", id=shop.id)

    response = httpx.get(
        f"{hub_url}{ADMIN_PREFIX}/members",
        headers={"Authorization": f"Bearer {plaintext}"},
        timeout=10,
    )

    body = assert_error_shape(response, 401)
    assert "token" in body["detail"]
    with db.session_scope() as session:
        for token in session.scalars(select(ApiToken).where(ApiToken.shop_id == shop.id)):
            session.delete(token)


def _delete_without_constraints(db: Database, statement: str, **params: int) -> None:
    """Leave a dangling reference behind, as a hand-edited database may have."""
    if db.is_sqlite:
        raw = db.engine.raw_connection()
        try:
            # Autocommit (the hub's SQLite connections begin their transactions themselves),
            # so the pragma takes effect; it is switched back before the connection is reused.
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute(statement.replace(":id", "?"), tuple(params.values()))
            raw.execute("PRAGMA foreign_keys=ON")
        finally:
            raw.close()
        return
    with db.engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        connection.execute(text(statement), params)


# Signed but hostile bodies: kept for review, answered 4xx


def test_a_signed_line_body_nested_100000_deep_is_kept_and_answered_400(
    db: Database, channel: ChannelSetup
) -> None:
    response = line_post(channel, DEEP)

    body = assert_error_shape(response, 400)
    assert "nests deeper" in body["detail"]
    [kept] = kept_for_review(db, channel_id=channel.channel_pk)
    assert kept.status == EventStatus.FAILED
    assert "nests deeper" in (kept.last_error or "")
    assert kept.payload["body"] == DEEP.decode()


def test_a_line_timestamp_of_10_to_the_17_is_kept_and_answered_400(
    db: Database, channel: ChannelSetup
) -> None:
    event = {
        "type": "follow",
        "mode": "active",
        "timestamp": 10**17,
        "webhookEventId": "01JHOSTILETIMESTAMP0000000",
        "source": {"type": "user", "userId": "U" + "e" * 32},
    }
    raw = json.dumps({"destination": channel.bot_user_id, "events": [event]}).encode()

    response = line_post(channel, raw)

    body = assert_error_shape(response, 400)
    assert "timestamp" in body["detail"]
    [kept] = kept_for_review(db, channel_id=channel.channel_pk)
    assert json.loads(kept.payload["body"]) == json.loads(raw)


def test_a_signed_line_body_kept_once_however_often_it_is_sent(
    db: Database, channel: ChannelSetup
) -> None:
    responses = [line_post(channel, b"[" * 70 + b"]" * 70) for _ in range(3)]

    assert [r.status_code for r in responses] == [400] * 3
    assert len(kept_for_review(db, channel_id=channel.channel_pk)) == 1


def test_a_signed_shopify_body_nested_100000_deep_is_kept_and_answered_422(
    db: Database, store: Store
) -> None:
    response = store.server.webhooks.send(store.webhook_url, "orders/create", DEEP)

    body = assert_error_shape(response, 422)
    assert "stored for review" in body["detail"]
    [kept] = kept_for_review(db, connection_id=store.connection_id)
    assert "nests deeper" in (kept.last_error or "")


def test_a_signed_shopify_number_out_of_float_range_is_kept_and_answered_422(
    db: Database, store: Store
) -> None:
    response = store.server.webhooks.send(
        store.webhook_url, "orders/create", b'{"id": 1, "total": 1e999}'
    )

    assert_error_shape(response, 422)
    [kept] = kept_for_review(db, connection_id=store.connection_id)
    assert "out of range" in (kept.last_error or "")


def test_a_signed_reservation_body_nested_100000_deep_is_kept_and_answered_422(
    db: Database, generic: Endpoint, sender: WebhookSender
) -> None:
    stamp = int(time.time())
    delivery = sender.post(
        generic.url,
        DEEP,
        {
            "X-Tsunagu-Event-Id": "evt-deep",
            "X-Tsunagu-Timestamp": str(stamp),
            "X-Tsunagu-Signature": v1_signature(generic.secrets[0], stamp, DEEP),
        },
    )

    assert delivery.status == 422
    [kept] = kept_for_review(db, connection_id=generic.connection_id)
    assert "nests deeper" in (kept.last_error or "")


def test_a_signed_calcom_body_nested_100000_deep_is_kept_and_answered_422(
    db: Database, calcom: Endpoint, sender: WebhookSender
) -> None:
    delivery = sender.post(
        calcom.url, DEEP, {"X-Cal-Signature-256": calcom_signature(calcom.secrets[0], DEEP)}
    )

    assert delivery.status == 422
    [kept] = kept_for_review(db, connection_id=calcom.connection_id)
    assert "nests deeper" in (kept.last_error or "")


def test_an_admin_body_nested_100000_deep_is_a_4xx(admin: AdminApi) -> None:
    response = httpx.post(
        f"{admin.base_url}/members",
        content=DEEP,
        headers={**admin.headers, "Content-Type": "application/json"},
        timeout=30,
    )

    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error", "detail"}


# The catch-all


def test_an_unexpected_error_is_json_with_the_request_id_logged_and_counted(
    hub, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    # A hub whose database lost a table: every token check fails in a way no handler knows.
    from api.app import create_app
    from tsunagu import migrate

    database = Database(f"sqlite:///{tmp_path / 'damaged.db'}")
    migrate.upgrade(database.engine)
    with database.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE api_tokens")
    port = free_port("127.0.0.1")
    server = ThreadedServer(create_app(hub.settings, database), port=port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        with caplog.at_level(logging.ERROR, logger="tsunagu.errors"):
            response = httpx.get(
                f"{base}{ADMIN_PREFIX}/members",
                headers={"Authorization": "Bearer tsu_x", "X-Request-ID": "trace-500"},
                timeout=10,
            )
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    finally:
        server.stop()
        database.dispose()

    body = assert_error_shape(response, 500)
    assert response.headers["x-request-id"] == "trace-500"
    assert body["error"] == "InternalError"
    assert "trace-500" in body["detail"]
    assert "api_tokens" not in body["detail"]
    [record] = [r for r in caplog.records if r.name == "tsunagu.errors"]
    assert record.exc_info is not None
    assert 'tsunagu_unhandled_errors_total{error="OperationalError"} 1.0' in metrics


# What the document promises


def test_a_birth_date_sent_as_a_number_is_refused_not_stored_as_1970(
    db: Database, shop: Shop, admin: AdminApi
) -> None:
    member_id = add_member(db, shop.id, "M-0")

    response = admin.patch(f"/members/{member_id}", {"birth_date": 0})

    body = assert_error_shape(response, 422)
    assert body["detail"][0]["field"] == "body.birth_date"
    assert admin.get(f"/members/{member_id}").json()["birth_date"] is None
    assert admin.patch(f"/members/{member_id}", {"birth_date": "1990-04-01"}).status_code == 200


def test_trace_is_405_naming_the_methods_the_path_allows(admin: AdminApi) -> None:
    response = httpx.request("TRACE", f"{admin.base_url}/members", timeout=10)

    body = assert_error_shape(response, 405)
    assert body["error"] == "HTTPError"
    assert response.headers["allow"] == "GET, POST"


def test_text_with_a_nul_character_is_a_4xx_on_every_backend(db: Database, admin: AdminApi) -> None:
    searched = admin.get("/events", source="line\x00", type="follow")
    created = admin.post("/members", {"member_number": "M-\x00", "name": "a\x00b"})

    assert_error_shape(created, 422)
    if db.is_sqlite:
        # SQLite keeps NUL in text: the search simply finds nothing.
        assert searched.status_code == 200
    else:
        body = assert_error_shape(searched, 422)
        assert body["error"] == "ValueNotStorable"
