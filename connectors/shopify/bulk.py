"""Bulk-operation backfills: start one, poll it, then stream its JSONL result and stitch each
order's child lines (``__parentId``) back onto it — one order in memory at a time.

Shopify writes a parent's children after the parent. Progress is a line number: the checkpoint
after a page names the first line of the next unprocessed order, so a killed backfill resumes
from that line of the same result file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.errors import FatalError, RetriableError
from connectors.shopify import queries
from connectors.shopify.client import ShopifyClient

log = logging.getLogger(__name__)

FINISHED_BADLY = frozenset({"FAILED", "CANCELED", "CANCELLED", "EXPIRED"})


@dataclass(frozen=True, slots=True)
class BulkProgress:
    """Where a backfill is: its operation, the next line to read, and when it started."""

    operation_id: str
    line: int
    started: str

    def to_cursor(self) -> str:
        return json.dumps({"bulk": self.operation_id, "line": self.line, "started": self.started})

    @classmethod
    def from_cursor(cls, cursor: str | None) -> BulkProgress | None:
        if not cursor or not cursor.startswith("{"):
            return None
        data = json.loads(cursor)
        return cls(operation_id=data["bulk"], line=int(data["line"]), started=data["started"])


@dataclass(frozen=True, slots=True)
class Stitched:
    """One top-level object with its children, and the line after its last child."""

    node: dict[str, Any]
    children: list[dict[str, Any]]
    next_line: int


def stitch(lines: Iterable[str | bytes], *, first_line: int = 0) -> Iterator[Stitched]:
    """Group JSONL lines into parents with their children; ``first_line`` numbers the first."""
    current: dict[str, Any] | None = None
    children: list[dict[str, Any]] = []
    next_line = first_line
    for raw in lines:
        index, next_line = next_line, next_line + 1
        if not raw.strip():
            continue
        obj = json.loads(raw)
        parent = obj.pop("__parentId", None)
        if parent is None:
            if current is not None:
                yield Stitched(current, children, index)
            current, children = obj, []
        elif current is not None and parent == current.get("id"):
            children.append(obj)
        else:
            log.warning("bulk line %d names parent %s, which is not the current one", index, parent)
    if current is not None:
        yield Stitched(current, children, next_line)


def start(client: ShopifyClient, bulk_query: str) -> str:
    """Start a bulk query; the operation's id."""
    data = client.execute(queries.RUN_BULK, {"query": bulk_query}, cost=10)
    result = data.get("bulkOperationRunQuery") or {}
    errors = result.get("userErrors") or []
    if errors or not result.get("bulkOperation"):
        messages = "; ".join(e.get("message", "") for e in errors) or "no operation returned"
        raise RetriableError(f"Shopify did not start the bulk operation: {messages}")
    return str(result["bulkOperation"]["id"])


def wait_for_url(
    client: ShopifyClient,
    operation_id: str,
    *,
    poll_seconds: float,
    timeout_seconds: float,
    sleep: Callable[[float], None],
) -> str | None:
    """Poll until the operation completes; its result URL (None when it found nothing)."""
    waited = 0.0
    while True:
        data = client.execute(queries.BULK_STATUS, {"id": operation_id}, cost=1)
        node = data.get("node") or {}
        status = node.get("status")
        if status == "COMPLETED":
            return node.get("url")
        if status in FINISHED_BADLY or not node:
            raise FatalError(
                f"bulk operation {operation_id} ended {status or 'missing'} "
                f"({node.get('errorCode') or 'no error code'}): start a new backfill with "
                "`tsunagu sync <connection> --full`"
            )
        if waited >= timeout_seconds:
            raise RetriableError(
                f"bulk operation {operation_id} still {status} after {waited:.0f}s; "
                "the next sync resumes waiting for it"
            )
        sleep(poll_seconds)
        waited += poll_seconds


def result_lines(url: str, *, skip: int, timeout: float = 60.0) -> Iterator[bytes]:
    """The result file's lines from line ``skip`` on, streamed."""
    try:
        with httpx.stream("GET", url, timeout=timeout) as response:
            if response.status_code != 200:
                raise RetriableError(
                    f"bulk result download answered {response.status_code}",
                    status=response.status_code,
                )
            for number, line in enumerate(_lines(response.iter_bytes())):
                if number >= skip:
                    yield line
    except httpx.HTTPError as exc:
        raise RetriableError(f"bulk result download failed: {exc}") from exc


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending
