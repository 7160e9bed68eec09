"""JSON bodies from outside the hub, parsed so that no body can crash the request reading it.

A body nested deeper than any real webhook (``MAX_DEPTH``) would exhaust the stack of every
parser and encoder after this one; ``NaN``, ``Infinity`` and numbers too large for a float are
not JSON to PostgreSQL and would fail when stored. Each is refused here, with the reason, as
:class:`UnusableJson` (a ``ValueError``), so intake can keep the body for review and answer 4xx.
"""

from __future__ import annotations

import json
import math
from typing import Any

# LINE, Shopify and reservation webhooks nest fewer than 10 levels.
MAX_DEPTH = 64


class UnusableJson(ValueError):
    """A body that is not JSON the hub can keep: the message says why."""


def parse_json(body: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed body; :class:`UnusableJson` for anything that is not plain, storable JSON."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise UnusableJson(f"body nests deeper than {max_depth} levels") from None
    except UnusableJson:
        raise
    except ValueError as exc:
        # JSONDecodeError, UnicodeDecodeError, and int() refusing a 5,000-digit number.
        raise UnusableJson(f"body is not JSON: {exc}") from exc
    # Depth needs counting only when the body has more brackets than the limit (rare).
    raw = body.encode() if isinstance(body, str) else body
    if raw.count(b"[") + raw.count(b"{") > max_depth and _deeper_than(value, max_depth):
        raise UnusableJson(f"body nests deeper than {max_depth} levels")
    return value


def _refuse_constant(name: str) -> Any:
    raise UnusableJson(f"body is not JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnusableJson(f"body is not JSON the hub can store: {text[:40]} is out of range")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
