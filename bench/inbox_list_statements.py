"""Where an inbox page's time goes: for each page ``bench.inbox_list`` times, the SQL statements
the page issues (how many, and the time of each as the driver waits for it) and the rest of the
page's time in the hub (routing, session, loading rows, the template).

``.venv/bin/python -m bench.inbox_list_statements`` runs against the database ``bench.inbox_list``
left loaded (the same ``--database-url``; nothing is loaded or emptied here), with the hub in
this process (as ``tsunagu serve`` builds it, served over real HTTP on a thread) so that every
statement is seen. ``--explain`` adds ``EXPLAIN (ANALYZE, BUFFERS)`` of each statement that took
over 2 ms (PostgreSQL). The figures are medians of ``--repeat`` requests after one warm-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from bench import inbox_seed
from bench.fanout import SECRET_KEY
from bench.inbox_list import pages, signed_in

SLOW_MS = 2.0


def _hub(database_url: str) -> Any:
    from config import Settings
    from tsunagu.hub import build_hub

    settings = Settings(
        _env_file=None,
        database_url=database_url,
        secret_key=SECRET_KEY,
        data_dir=Path(tempfile.mkdtemp(prefix="tsunagu-bench-inbox-statements-")),
        log_level="WARNING",
    )
    return build_hub(settings).start()


def _loaded(database: Any) -> inbox_seed.Inbox:
    from inbox.models import Conversation, InboxMark

    with database.session_scope() as session:
        marks = dict(session.execute(select(InboxMark.name, InboxMark.id)).all())
        conversations = len(session.scalars(select(Conversation.id)).all())
    return inbox_seed.Inbox(database, 0, 0, {}, marks, conversations, 0.0)


def _explain(engine: Any, statement: str, parameters: Any) -> list[str]:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        return [line for (line,) in cursor.fetchall()]
    finally:
        raw.close()


def run(args: argparse.Namespace) -> None:
    from core.serving import ThreadedServer, free_port

    hub = _hub(args.database_url)
    engine = hub.database.engine
    seen: list[tuple[str, Any, float]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _started(conn: Any, _cursor: Any, _sql: str, _params: Any, _ctx: Any, _many: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _ended(conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: Any) -> None:
        seen.append((sql, params, time.perf_counter() - conn.info["bench_started"]))

    port = free_port("127.0.0.1")
    server = ThreadedServer(hub.app, port=port).start()
    try:
        browser = signed_in(f"http://127.0.0.1:{port}", inbox_seed.STAFF[0])
        print(f"load average {os.getloadavg()[0]:.2f}")
        for name, params in pages(_loaded(hub.database)).items():
            browser.get("/console/inbox", params=params)
            walls: list[float] = []
            sqls: list[float] = []
            by_statement: dict[int, tuple[str, Any, list[float]]] = {}
            for _ in range(args.repeat):
                seen.clear()
                started = time.perf_counter()
                answer = browser.get("/console/inbox", params=params)
                walls.append(1000 * (time.perf_counter() - started))
                if answer.status_code != 200:
                    raise RuntimeError(f"/console/inbox {params} answered {answer.status_code}")
                sqls.append(1000 * sum(seconds for _, _, seconds in seen))
                for number, (statement, parameters, seconds) in enumerate(seen):
                    by_statement.setdefault(number, (statement, parameters, []))[2].append(
                        1000 * seconds
                    )
            wall, in_sql = statistics.median(walls), statistics.median(sqls)
            print(
                f"== {name}: {len(by_statement)} statements, page {wall:.1f} ms,"
                f" SQL {in_sql:.1f} ms, the rest {wall - in_sql:.1f} ms (medians)"
            )
            for sql_text, parameters, times in by_statement.values():
                median = statistics.median(times)
                print(f"   {median:7.1f} ms  {' '.join(sql_text.split())[:110]}")
                if args.explain and median > SLOW_MS and engine.dialect.name == "postgresql":
                    for line in _explain(engine, sql_text, parameters):
                        print(f"              {line}")
    finally:
        server.stop()
        hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed requests per page")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN the slow statements")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_inbox_list",
        ),
        help="the database bench.inbox_list loaded (read only here)",
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
