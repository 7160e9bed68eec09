"""The LIFF member card: ID tokens verified (ES256 by JWKS, HS256, or by LINE), then linking."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey

from api.app import create_app
from config import Settings
from core.db import Database
from core.serving import ThreadedServer, free_port
from core.tenancy import Channel, SecondFactor
from idlink import tokens
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup, make_channel, make_shop
from tests.idlink.support import (
    Person,
    active_links,
    add_member,
    audit_actions,
    befriend,
    id_token,
    liff_call,
    liff_link,
    tags_of,
)
from tsunagu.hub import Hub

BIRTH = {"birth_date": "1990-04-01"}


@pytest.fixture
def person(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> Person:
    return befriend(db, line_sandbox, channel, "佐藤 花子")


@pytest.fixture
def member_id(db: Database, channel: ChannelSetup) -> int:
    return add_member(db, channel.shop_id, "M-1001", **BIRTH)


def test_member_links_with_an_es256_id_token_and_birth_date(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
    member_id: int,
) -> None:
    token = id_token(line_sandbox, channel, person)

    response = liff_link(
        hub_url, channel, token, member_number="M-1001", second_factor="1990-04-01"
    )

    assert response.status_code == 200, response.text
    assert response.json()["linked"] is True
    assert response.json()["member_number"] == "M-1001"
    assert active_links(db, channel.shop_id) == [(person.friend_id, member_id)]
    assert "linked" in tags_of(db, person.friend_id)
    assert audit_actions(db, channel.shop_id) == ["idlink.linked"]
    status = liff_call(hub_url, "status", channel, token)
    assert status.json()["linked"] is True


def test_hs256_id_token_signed_with_the_login_channel_secret_links_too(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
    member_id: int,
) -> None:
    token = id_token(line_sandbox, channel, person, alg="HS256")

    response = liff_link(hub_url, channel, token, member_number="M-1001", second_factor="1990/4/1")

    assert response.status_code == 200, response.text
    assert active_links(db, channel.shop_id) == [(person.friend_id, member_id)]


def _forged(line_sandbox: SandboxServer, channel: ChannelSetup, person: Person) -> str:
    """Claims LINE would issue, signed by an attacker's key under LINE's current key id."""
    kid = line_sandbox.state.signing_keys[-1].kid
    genuine = jwt.decode(
        id_token(line_sandbox, channel, person), line_sandbox.state.signing_keys[-1].key
    )
    attacker = ECKey.generate_key("P-256", parameters={"kid": kid})
    return jwt.encode({"alg": "ES256", "kid": kid, "typ": "JWT"}, genuine.claims, attacker)


@pytest.mark.parametrize(
    ("make_token", "error"),
    [
        (_forged, "IdTokenRejected"),
        (lambda s, c, p: id_token(s, c, p, expires_in=-60), "IdTokenExpired"),
        (
            lambda s, c, p: s.state.issue_id_token(p.user_id, "1999999999"),
            "IdTokenWrongAudience",
        ),
        (lambda s, c, p: "not.a.token", "IdTokenRejected"),
    ],
    ids=["forged-signature", "expired", "wrong-audience", "garbage"],
)
def test_a_bad_id_token_is_refused_and_links_nothing(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
    member_id: int,
    make_token: Callable[[SandboxServer, ChannelSetup, Person], str],
    error: str,
) -> None:
    token = make_token(line_sandbox, channel, person)

    response = liff_link(
        hub_url, channel, token, member_number="M-1001", second_factor="1990-04-01"
    )

    assert response.status_code == 401
    assert response.json()["error"] == error
    assert response.json()["detail"]
    assert active_links(db, channel.shop_id) == []


def test_an_id_token_whose_nonce_was_used_is_refused_when_replayed(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
    member_id: int,
) -> None:
    nonce = httpx.post(
        f"{hub_url}/api/idlink/nonce", json={"channel_id": channel.channel_id}, timeout=10
    ).json()["nonce"]
    assert len(nonce) >= 22
    token = id_token(line_sandbox, channel, person, nonce=nonce)
    proof = {"member_number": "M-1001", "second_factor": "1990-04-01", "nonce": nonce}
    assert liff_link(hub_url, channel, token, **proof).status_code == 200
    assert liff_call(hub_url, "unlink", channel, token).status_code == 401

    replayed = liff_link(hub_url, channel, token, **proof)

    assert replayed.status_code == 401
    assert replayed.json()["error"] == "IdTokenReplayed"
    assert len(active_links(db, channel.shop_id)) == 1


def test_an_id_token_with_a_nonce_the_hub_never_issued_is_refused(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
    member_id: int,
) -> None:
    token = id_token(line_sandbox, channel, person, nonce="made-up-by-someone-else")

    response = liff_link(
        hub_url, channel, token, member_number="M-1001", second_factor="1990-04-01"
    )

    assert response.status_code == 401
    assert response.json()["error"] == "IdTokenReplayed"
    assert active_links(db, channel.shop_id) == []


def test_after_line_rotates_its_key_a_new_token_verifies_by_refetching_the_keys(
    db: Database,
    hub: Hub,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
    member_id: int,
) -> None:
    assert liff_call(hub_url, "status", channel, id_token(line_sandbox, channel, person)).is_success
    cache = tokens.jwks_cache(hub.settings.line_api_url)
    fetched = cache.fetches
    new_kid = line_sandbox.state.rotate_signing_key()
    token = id_token(line_sandbox, channel, person)
    assert token_header_kid(token) == new_kid

    response = liff_link(
        hub_url, channel, token, member_number="M-1001", second_factor="1990-04-01"
    )

    assert response.status_code == 200, response.text
    assert cache.fetches == fetched + 1


def token_header_kid(token: str) -> str:
    return str(jws.extract_compact(token.encode()).protected["kid"])


@pytest.fixture
def remote_hub_url(hub: Hub, settings: Settings) -> Iterator[str]:
    """The same hub configured to ask LINE's verify endpoint, served on its own port."""
    port = free_port("127.0.0.1")
    remote = settings.model_copy(update={"id_token_verification": "remote"})
    server = ThreadedServer(create_app(remote, hub.database), port=port).start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_remote_verification_links_with_a_token_line_accepts_and_refuses_an_expired_one(
    db: Database,
    remote_hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
    member_id: int,
) -> None:
    proof = {"member_number": "M-1001", "second_factor": "1990-04-01"}
    expired = id_token(line_sandbox, channel, person, expires_in=-60)
    refused = liff_link(remote_hub_url, channel, expired, **proof)
    assert refused.status_code == 401
    assert refused.json()["error"] == "IdTokenExpired"

    response = liff_link(remote_hub_url, channel, id_token(line_sandbox, channel, person), **proof)

    assert response.status_code == 200, response.text
    assert active_links(db, channel.shop_id) == [(person.friend_id, member_id)]


@pytest.mark.parametrize(
    ("factor", "fields", "right", "wrong"),
    [
        (SecondFactor.BIRTH_DATE, {"birth_date": "1985-12-24"}, "1985-12-24", "1985-12-25"),
        (SecondFactor.PIN, {"pin": "4321"}, "\uff14\uff13\uff12\uff11", "1234"),
        (SecondFactor.PHONE_LAST4, {"phone": "090-1234-5678"}, "5678", "8765"),
    ],
)
def test_each_second_factor_links_when_right_and_is_refused_when_wrong(
    db: Database,
    hub: Hub,
    hub_url: str,
    line_sandbox: SandboxServer,
    factor: SecondFactor,
    fields: dict[str, str],
    right: str,
    wrong: str,
) -> None:
    shop = make_shop(db, second_factor=factor)
    channel = make_channel(db, line_sandbox, hub_url, shop)
    person = befriend(db, line_sandbox, channel)
    member_id = add_member(db, shop.id, "A-77", **fields)
    token = id_token(line_sandbox, channel, person)

    refused = liff_link(hub_url, channel, token, member_number="A-77", second_factor=wrong)
    assert refused.status_code == 401
    assert refused.json()["error"] == "VerificationFailed"
    assert active_links(db, shop.id) == []

    linked = liff_link(hub_url, channel, token, member_number="A-77", second_factor=right)
    assert linked.status_code == 200, linked.text
    assert active_links(db, shop.id) == [(person.friend_id, member_id)]


def test_an_unknown_member_number_fails_exactly_like_a_wrong_second_factor(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
    member_id: int,
) -> None:
    token = id_token(line_sandbox, channel, person)

    wrong_factor = liff_link(
        hub_url, channel, token, member_number="M-1001", second_factor="2000-01-01"
    )
    unknown = liff_link(hub_url, channel, token, member_number="M-9999", second_factor="1990-04-01")

    assert (unknown.status_code, unknown.json()) == (wrong_factor.status_code, wrong_factor.json())


def test_repeated_failures_lock_the_member_number_with_a_time_to_retry(
    db: Database,
    hub: Hub,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    member_id: int,
) -> None:
    limit = hub.settings.link_max_failures
    for attempt in range(limit):
        person = befriend(db, line_sandbox, channel, f"guesser {attempt}")
        token = id_token(line_sandbox, channel, person)
        response = liff_link(
            hub_url, channel, token, member_number="M-1001", second_factor="2001-01-01"
        )
        expected = 429 if attempt == limit - 1 else 401
        assert response.status_code == expected, (attempt, response.text)
    owner = befriend(db, line_sandbox, channel, "the real member")

    locked = liff_link(
        hub_url,
        channel,
        id_token(line_sandbox, channel, owner),
        member_number="M-1001",
        second_factor="1990-04-01",
    )

    assert locked.status_code == 429
    assert locked.json()["error"] == "VerificationLocked"
    assert "UTC" in locked.json()["detail"] and "try again after" in locked.json()["detail"]
    assert active_links(db, channel.shop_id) == []


def test_repeated_failures_lock_the_line_user_across_member_numbers(
    db: Database,
    hub: Hub,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
    member_id: int,
) -> None:
    token = id_token(line_sandbox, channel, person)
    for attempt in range(hub.settings.link_max_failures):
        liff_link(hub_url, channel, token, member_number=f"X-{attempt}", second_factor="1990-04-01")

    locked = liff_link(hub_url, channel, token, member_number="M-1001", second_factor="1990-04-01")

    assert locked.status_code == 429
    assert active_links(db, channel.shop_id) == []


def test_a_line_user_who_is_not_a_friend_is_asked_to_add_the_account_first(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, member_id: int
) -> None:
    stranger = line_sandbox.state.add_user()
    token = line_sandbox.state.issue_id_token(stranger.user_id, channel.login_channel_id)

    response = liff_link(
        hub_url, channel, token, member_number="M-1001", second_factor="1990-04-01"
    )

    assert response.status_code == 403
    assert "friend" in response.json()["detail"]


def test_member_unlinks_from_the_member_card(
    db: Database,
    hub_url: str,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    person: Person,
    member_id: int,
) -> None:
    token = id_token(line_sandbox, channel, person)
    liff_link(hub_url, channel, token, member_number="M-1001", second_factor="1990-04-01")

    response = liff_call(hub_url, "unlink", channel, token)

    assert response.status_code == 200
    assert response.json()["linked"] is False
    assert active_links(db, channel.shop_id) == []
    assert "linked" not in tags_of(db, person.friend_id)
    assert audit_actions(db, channel.shop_id) == ["idlink.linked", "idlink.unlinked"]
    again = liff_call(hub_url, "unlink", channel, token)
    assert again.status_code == 404


def test_member_card_page_loads_the_liff_sdk_with_the_channels_liff_id(
    db: Database, hub: Hub, hub_url: str, channel: ChannelSetup
) -> None:
    missing = httpx.get(f"{hub_url}/idlink/liff/{channel.channel_id}", timeout=10)
    assert missing.status_code == 409
    assert missing.json()["error"] == "NotSetUp"
    with db.session_scope() as session:
        session.get_one(Channel, channel.channel_pk).liff_id = f"{channel.login_channel_id}-card"

    page = httpx.get(f"{hub_url}/idlink/liff/{channel.channel_id}", timeout=10)

    assert page.status_code == 200
    assert f'<script src="{hub.settings.liff_sdk_url}"></script>' in page.text
    assert f'"liffId": "{channel.login_channel_id}-card"' in page.text
    assert "生年月日 / Birth date" in page.text
    sdk = httpx.get(hub.settings.liff_sdk_url, timeout=10)
    assert "getIDToken" in sdk.text
