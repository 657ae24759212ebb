"""The backend's SQLite schema and its migrations, versioned with PRAGMA user_version.

A migration is appended, never edited: MIGRATIONS[n] takes a database from version n to n + 1.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: requests, their status history, and the per-day counter behind ticket numbers.
    """
    CREATE TABLE requests (
        id                 INTEGER PRIMARY KEY,
        ticket             TEXT NOT NULL UNIQUE,
        service_code       TEXT NOT NULL,
        description        TEXT NOT NULL,
        address_string     TEXT,
        lat                REAL,
        long               REAL,
        media_url          TEXT,
        group_name         TEXT,
        reporter           TEXT,
        message_id         TEXT,
        status             TEXT NOT NULL CHECK (status IN ('open', 'closed')),
        status_notes       TEXT,
        agency_responsible TEXT NOT NULL,
        requested_us       INTEGER NOT NULL,
        updated_us         INTEGER NOT NULL,
        expected_us        INTEGER,
        -- UNIQUE makes "one ticket per key" hold across threads, processes and restarts.
        idempotency_key    TEXT UNIQUE,
        fingerprint        TEXT NOT NULL
    );
    CREATE INDEX requests_by_time ON requests (requested_us);
    CREATE INDEX requests_by_group ON requests (group_name, status, requested_us);
    CREATE INDEX requests_by_code ON requests (service_code, status, requested_us);
    CREATE INDEX requests_open_by_deadline ON requests (status, expected_us);

    CREATE TABLE status_history (
        id                 INTEGER PRIMARY KEY,
        request_id         INTEGER NOT NULL REFERENCES requests (id),
        at_us              INTEGER NOT NULL,
        status             TEXT NOT NULL,
        status_notes       TEXT,
        agency_responsible TEXT,
        changed_by         TEXT NOT NULL,
        idempotency_key    TEXT UNIQUE
    );
    CREATE INDEX status_history_by_request ON status_history (request_id, at_us);

    CREATE TABLE daily_counters (
        day  TEXT PRIMARY KEY,
        last INTEGER NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to SCHEMA_VERSION; returns the version it found."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {found} is newer than this backend's {SCHEMA_VERSION}; "
            "upgrade the backend instead of opening the file with an old one"
        )
    for version in range(found, SCHEMA_VERSION):
        # executescript() would COMMIT on its own; run statements one by one inside our transaction.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1:d}")  # PRAGMA takes no parameters
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return found


def _statements(script: str) -> list[str]:
    """Split a migration at semicolons that end a complete statement."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete statement in migration: {current.strip()[:60]}")
    return statements
