"""Scratch PostgreSQL databases for the tests and the benchmarks (``bench/`` imports them from
here; they are not installed with the hub): created when missing and emptied, or dropped and
created. Point them only at databases whose data does not matter."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def _admin_execute(url: str, *statements: str) -> None:
    """Run statements on the server's `postgres` database, outside any transaction."""
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        admin.dispose()


def empty_database(url: str) -> None:
    """Create the database if it is missing, and drop everything in it."""
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def recreate_database(url: str) -> None:
    """Drop the database (disconnecting its sessions) and create it anew."""
    name = make_url(url).database
    _admin_execute(
        url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
    )
