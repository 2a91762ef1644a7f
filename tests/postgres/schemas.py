"""Fresh PostgreSQL schemas for tests, on the server CI runs (127.0.0.1:5432, database ``test``).

Each test that runs on PostgreSQL gets schemas of its own, created here and dropped when it ends.
A server that cannot be reached fails the test with what to do: nothing is skipped silently.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import quote

import psycopg
import pytest

# Where the tests' schemas live; FIELDSYNC_TEST_POSTGRES points elsewhere (a libpq URL, no options).
SERVER = os.environ.get("FIELDSYNC_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
START_HINT = ("start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start "
              "(.ci/run does), or point FIELDSYNC_TEST_POSTGRES at a server")


def url_for(schema: str) -> str:
    """A libpq URL whose connections work in ``schema`` (first on their search_path)."""
    separator = "&" if "?" in SERVER else "?"
    return f"{SERVER}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


def connect() -> psycopg.Connection:
    try:
        return psycopg.connect(SERVER, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {SERVER} cannot be reached ({str(exc).strip()}): {START_HINT}", pytrace=False)


class Schemas:
    """Schemas made for one test; :meth:`drop` removes them all."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self._conn: psycopg.Connection | None = None

    def new(self) -> str:
        """A fresh, empty schema; returns the URL to reach it."""
        if self._conn is None:
            self._conn = connect()
            # A connection a failed test left inside a transaction must not hang the drop.
            self._conn.execute("SET lock_timeout = '10s'")
        name = f"t_{secrets.token_hex(6)}"
        self._conn.execute(f"CREATE SCHEMA {name}")
        self.made.append(name)
        return url_for(name)

    def drop(self) -> None:
        if self._conn is None:
            return
        try:
            for name in self.made:
                self._conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        finally:
            self.made.clear()
            self._conn.close()
            self._conn = None
