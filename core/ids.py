"""Row ids as callers send them (paths, queries, bodies): only what a primary key can hold.

The tables a caller names by id have ``integer`` keys (32-bit on PostgreSQL; the outbox's own
are 64-bit but never taken as input). An id past that range can name no row: refused at the
edge with 422, it never reaches a database driver that would fail on it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ROW_ID = 2**31 - 1
MAX_BIG_ROW_ID = 2**63 - 1

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
