"""The test tiers: a test marked ``fast`` runs in a rolled-back transaction with no hub."""

from __future__ import annotations

import pytest

FAST = "fast"


def is_fast(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test is in the fast tier (tests/transactional.py)."""
    return request.node.get_closest_marker(FAST) is not None
