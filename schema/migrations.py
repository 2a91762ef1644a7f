"""Ordered, named migrations of the hub's own tables, recorded in ``schema_migrations``.

The replicated data needs no DDL (it lives in the replica's generic registers); these are the
tables around it: devices and their tokens, enrolment codes, office users, blobs, the ``links`` read
model and the sync log. A migration runs once, inside the caller's transaction, and is recorded with
its name; adding one is appending to ``MIGRATIONS``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple


class Migration(NamedTuple):
    version: int
    name: str
    statements: Sequence[str]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "devices, enrolment codes and office users", (
        """CREATE TABLE devices (
            node TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('technician', 'van')),
            technician_id TEXT,
            van_id TEXT,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT,
            last_seen_at TEXT,
            last_sync_at TEXT,
            clock_offset_ms INTEGER,
            skewed INTEGER NOT NULL DEFAULT 0,
            agent_version TEXT,
            acked_cursor INTEGER NOT NULL DEFAULT 0,
            acked_scope TEXT,
            offered_cursor INTEGER,
            offered_scope TEXT,
            pushed INTEGER NOT NULL DEFAULT 0,
            pulled INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE enrolment_codes (
            code_hash TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            technician_id TEXT,
            van_id TEXT,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            used_by TEXT
        )""",
        """CREATE TABLE users (
            name TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            permissions TEXT NOT NULL,
            customer_id TEXT,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
    )),
    Migration(2, "links read model for scope and traversal", (
        """CREATE TABLE links (
            entity TEXT NOT NULL,
            eid TEXT NOT NULL,
            ref_field TEXT NOT NULL,
            ref_eid TEXT NOT NULL,
            PRIMARY KEY (entity, eid, ref_field)
        ) WITHOUT ROWID""",
        "CREATE INDEX links_by_ref ON links (ref_eid, ref_field, entity)",
    )),
    Migration(3, "content-addressed blobs", (
        """CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            received INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL CHECK (status IN ('partial', 'verified')),
            uploaded_by TEXT,
            created_at TEXT NOT NULL,
            verified_at TEXT
        )""",
    )),
    Migration(4, "sync log: one row per push or pull, with the device clock offset measured", (
        """CREATE TABLE sync_log (
            id INTEGER PRIMARY KEY,
            node TEXT NOT NULL,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            ops INTEGER NOT NULL,
            accepted INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            clock_offset_ms INTEGER
        )""",
        "CREATE INDEX sync_log_by_node ON sync_log (node, id)",
    )),
    Migration(5, "links hold several targets per field (sets of ids such as a job's crew)", (
        """CREATE TABLE links_new (
            entity TEXT NOT NULL,
            eid TEXT NOT NULL,
            ref_field TEXT NOT NULL,
            ref_eid TEXT NOT NULL,
            PRIMARY KEY (entity, eid, ref_field, ref_eid)
        ) WITHOUT ROWID""",
        "INSERT INTO links_new SELECT entity, eid, ref_field, ref_eid FROM links",
        "DROP TABLE links",
        "ALTER TABLE links_new RENAME TO links",
        "CREATE INDEX links_by_ref ON links (ref_eid, ref_field, entity)",
    )),
)


def applied(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at TEXT NOT NULL)"
    )
    return conn.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """Apply the migrations not applied yet, in order; returns them. Call inside a transaction."""
    done = {version for version, _, _ in applied(conn)}
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError("migrations must have unique, increasing versions")
    ran = []
    for migration in migrations:
        if migration.version in done:
            continue
        for statement in migration.statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            (migration.version, migration.name, datetime.now(UTC).isoformat()),
        )
        ran.append(migration)
    return ran
