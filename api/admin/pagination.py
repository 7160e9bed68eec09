"""Paging parameters of the admin API; the cursors themselves are ``core.pagination``'s."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (at most {MAX_LIMIT}).")
]
Cursor = Annotated[
    str | None, Query(description="`next_cursor` of the previous page; omit for the first page.")
]
