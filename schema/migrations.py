"""Ordered, named migrations of the hub's own tables, recorded in ``schema_migrations``.

The replicated data needs no DDL (it lives in the replica's generic registers); these are the
tables around it: devices and their tokens, enrolment codes, office users, blobs, the ``links`` read
model and the sync log. A migration runs once, inside the caller's transaction, and is recorded with
its name; adding one is appending to ``MIGRATIONS``.

The hub runs on SQLite or PostgreSQL. ``statements`` are SQLite's; ``postgresql`` holds the same
change where the two differ (table options, identity columns, 64-bit integers, byte-order text).
A migration whose statements both accept leaves ``postgresql`` empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol


class Connection(Protocol):
    """What migrations need of a connection: ``?`` placeholders, and the dialect's name."""

    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...


class Migration(NamedTuple):
    version: int
    name: str
    statements: Sequence[str]
    postgresql: Sequence[str] = ()

    def for_dialect(self, dialect: str) -> Sequence[str]:
        """The statements to run on ``dialect`` (``sqlite`` or ``postgresql``)."""
        return self.postgresql if dialect == "postgresql" and self.postgresql else self.statements


# PostgreSQL column types: every integer is 64-bit as in SQLite (cursors and clock offsets
# outgrow 32 bits), and text that is ordered or compared compares by bytes as SQLite does.
_T = 'TEXT COLLATE "C"'
_I = "BIGINT"


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
    ), postgresql=(
        f"""CREATE TABLE devices (
            node {_T} PRIMARY KEY,
            name {_T} NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('technician', 'van')),
            technician_id {_T},
            van_id {_T},
            token_hash TEXT NOT NULL UNIQUE,
            created_at {_T} NOT NULL,
            revoked_at {_T},
            last_seen_at {_T},
            last_sync_at {_T},
            clock_offset_ms {_I},
            skewed {_I} NOT NULL DEFAULT 0,
            agent_version TEXT,
            acked_cursor {_I} NOT NULL DEFAULT 0,
            acked_scope TEXT,
            offered_cursor {_I},
            offered_scope TEXT,
            pushed {_I} NOT NULL DEFAULT 0,
            pulled {_I} NOT NULL DEFAULT 0,
            rejected {_I} NOT NULL DEFAULT 0
        )""",
        f"""CREATE TABLE enrolment_codes (
            code_hash TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            technician_id {_T},
            van_id {_T},
            name {_T} NOT NULL,
            created_at {_T} NOT NULL,
            expires_at {_T} NOT NULL,
            used_at {_T},
            used_by {_T}
        )""",
        f"""CREATE TABLE users (
            name {_T} PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            permissions TEXT NOT NULL,
            customer_id {_T},
            created_at {_T} NOT NULL,
            revoked_at {_T}
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
    ), postgresql=(
        f"""CREATE TABLE links (
            entity {_T} NOT NULL,
            eid {_T} NOT NULL,
            ref_field {_T} NOT NULL,
            ref_eid {_T} NOT NULL,
            PRIMARY KEY (entity, eid, ref_field)
        )""",
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
    ), postgresql=(
        f"""CREATE TABLE blobs (
            sha256 {_T} PRIMARY KEY,
            size {_I} NOT NULL,
            received {_I} NOT NULL DEFAULT 0,
            status TEXT NOT NULL CHECK (status IN ('partial', 'verified')),
            uploaded_by {_T},
            created_at {_T} NOT NULL,
            verified_at {_T}
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
    ), postgresql=(
        f"""CREATE TABLE sync_log (
            id {_I} GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            node {_T} NOT NULL,
            at {_T} NOT NULL,
            kind TEXT NOT NULL,
            ops {_I} NOT NULL,
            accepted {_I} NOT NULL DEFAULT 0,
            rejected {_I} NOT NULL DEFAULT 0,
            clock_offset_ms {_I}
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
    ), postgresql=(
        "ALTER TABLE links DROP CONSTRAINT links_pkey",
        "ALTER TABLE links ADD PRIMARY KEY (entity, eid, ref_field, ref_eid)",
    )),
    # A pull reply is acknowledged by the device echoing its id in its next pull: a history page
    # leaves the cursor where it was, so the cursor alone cannot tell a retry from an ack.
    Migration(6, "devices: the id of the last pull reply offered", (
        "ALTER TABLE devices ADD COLUMN offer_id INTEGER NOT NULL DEFAULT 0",
    ), postgresql=(
        f"ALTER TABLE devices ADD COLUMN offer_id {_I} NOT NULL DEFAULT 0",
    )),
)


def applied(conn: Connection) -> list[tuple[int, str, str]]:
    """The migrations recorded as applied: (version, name, when)."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS schema_migrations (version {_I if conn.dialect == 'postgresql' else 'INTEGER'} "
        "PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    return conn.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()


def migrate(conn: Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """Apply the migrations not applied yet, in order; returns them. Call inside a transaction."""
    done = {version for version, _, _ in applied(conn)}
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError("migrations must have unique, increasing versions")
    ran = []
    for migration in migrations:
        if migration.version in done:
            continue
        for statement in migration.for_dialect(conn.dialect):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            (migration.version, migration.name, datetime.now(UTC).isoformat()),
        )
        ran.append(migration)
    return ran
