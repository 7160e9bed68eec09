"""The JWKS cache against the sandbox's real certs endpoint, with the clock in the test's hands."""

from __future__ import annotations

import secrets

import pytest

from idlink.tokens import CERTS_PATH, JwksCache
from sandbox.line.server import SandboxServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_known_keys_are_served_from_the_cache(line_sandbox: SandboxServer, clock: Clock) -> None:
    cache = JwksCache(line_sandbox.url + CERTS_PATH, clock=clock)
    kid = line_sandbox.state.published_keys()[-1].kid

    assert cache.key(kid) is not None
    assert cache.key(kid) is not None

    assert cache.fetches == 1


def test_an_unknown_key_id_refetches_and_finds_a_rotated_key(
    line_sandbox: SandboxServer, clock: Clock
) -> None:
    cache = JwksCache(line_sandbox.url + CERTS_PATH, clock=clock)
    cache.key(line_sandbox.state.published_keys()[-1].kid)

    new_kid = line_sandbox.state.rotate_signing_key()

    assert cache.key(new_kid) is not None
    assert cache.fetches == 2


def test_unknown_key_ids_cannot_make_the_hub_hammer_line(
    line_sandbox: SandboxServer, clock: Clock
) -> None:
    cache = JwksCache(
        line_sandbox.url + CERTS_PATH, max_refetches=3, refetch_window=60.0, clock=clock
    )
    cache.key(line_sandbox.state.published_keys()[-1].kid)

    for _ in range(10):
        assert cache.key(secrets.token_hex(8)) is None

    assert cache.fetches == 1 + 3
    clock.now += 61
    assert cache.key(secrets.token_hex(8)) is None
    assert cache.fetches == 1 + 3 + 1


def test_keys_older_than_max_age_are_fetched_again(
    line_sandbox: SandboxServer, clock: Clock
) -> None:
    cache = JwksCache(line_sandbox.url + CERTS_PATH, max_age=3600, clock=clock)
    kid = line_sandbox.state.published_keys()[-1].kid
    cache.key(kid)

    clock.now += 3601

    assert cache.key(kid) is not None
    assert cache.fetches == 2
