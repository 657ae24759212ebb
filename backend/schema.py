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
    # 2: staff accounts, their groups and sessions; an audit trail (from -> to) on status history;
    #    when and by whom each ticket was closed; residents' ratings.
    """
    CREATE TABLE staff (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
        display_name  TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'grid_manager')),
        password_hash TEXT NOT NULL,
        disabled      INTEGER NOT NULL DEFAULT 0,
        created_us    INTEGER NOT NULL,
        updated_us    INTEGER NOT NULL
    );
    CREATE TABLE staff_groups (
        staff_id   INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
        group_name TEXT NOT NULL,
        PRIMARY KEY (staff_id, group_name)
    );
    -- The cookie holds a signed random id; only its hash is stored, so the file gives no live session.
    CREATE TABLE sessions (
        id_hash    TEXT PRIMARY KEY,
        staff_id   INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        seen_us    INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_staff ON sessions (staff_id);

    ALTER TABLE status_history ADD COLUMN from_status TEXT;
    ALTER TABLE status_history ADD COLUMN from_agency TEXT;
    ALTER TABLE status_history ADD COLUMN rating TEXT;
    ALTER TABLE status_history ADD COLUMN staff_id INTEGER REFERENCES staff (id);
    ALTER TABLE requests ADD COLUMN closed_us INTEGER;
    ALTER TABLE requests ADD COLUMN closed_by TEXT;
    ALTER TABLE requests ADD COLUMN rating TEXT;

    UPDATE status_history SET (from_status, from_agency) = (
        SELECT prev.status, prev.agency_responsible FROM status_history prev
         WHERE prev.request_id = status_history.request_id
           AND (prev.at_us < status_history.at_us
                OR (prev.at_us = status_history.at_us AND prev.id < status_history.id))
         ORDER BY prev.at_us DESC, prev.id DESC LIMIT 1
    );
    UPDATE status_history SET rating = substr(status_notes, 6)
     WHERE status_notes IN ('居民评价：满意', '居民评价：不满意');
    UPDATE requests SET (closed_us, closed_by) = (
        SELECT h.at_us, h.changed_by FROM status_history h
         WHERE h.request_id = requests.id AND h.status = 'closed' AND h.from_status = 'open'
         ORDER BY h.at_us DESC, h.id DESC LIMIT 1
    ) WHERE status = 'closed';
    UPDATE requests SET rating = (
        SELECT h.rating FROM status_history h WHERE h.request_id = requests.id AND h.rating IS NOT NULL
         ORDER BY h.at_us DESC, h.id DESC LIMIT 1
    );
    CREATE INDEX requests_closed ON requests (closed_us);
    CREATE INDEX status_history_ratings ON status_history (rating) WHERE rating IS NOT NULL;
    """,
    # 3: one rating per reporter per ticket (the last counts), kept apart from the status; ratings
    #    given before keep counting, one each (their reporter was not recorded).
    """
    CREATE TABLE ratings (
        request_id INTEGER NOT NULL REFERENCES requests (id),
        reporter   TEXT NOT NULL,
        rating     TEXT NOT NULL,
        at_us      INTEGER NOT NULL,
        idempotency_key TEXT UNIQUE,
        PRIMARY KEY (request_id, reporter)
    );
    INSERT INTO ratings (request_id, reporter, rating, at_us)
        SELECT request_id, 'legacy-' || id, rating, at_us FROM status_history WHERE rating IS NOT NULL;
    """,
    # 4: the stage of a ticket (common/status.py): received, in_progress, closed, returned. The
    #    Open311 status stays beside it (open for the first two). Older tickets: closed ones are
    #    closed; open ones are in progress when staff have written notes or acted on them, else
    #    received. History rows get their stage from -> to; before this version only open/closed
    #    was kept, and an open row after the first reads as in progress (as the ledger showed it).
    """
    ALTER TABLE requests ADD COLUMN stage TEXT NOT NULL DEFAULT 'received'
        CHECK (stage IN ('received', 'in_progress', 'closed', 'returned'));
    UPDATE requests SET stage = CASE
        WHEN status = 'closed' THEN 'closed'
        WHEN status_notes IS NOT NULL OR EXISTS (
            SELECT 1 FROM status_history h WHERE h.request_id = requests.id AND h.from_status IS NOT NULL
               AND (h.staff_id IS NOT NULL OR h.status <> h.from_status
                    OR h.agency_responsible IS NOT h.from_agency)) THEN 'in_progress'
        ELSE 'received' END;
    ALTER TABLE status_history ADD COLUMN stage TEXT;
    ALTER TABLE status_history ADD COLUMN from_stage TEXT;
    UPDATE status_history SET
        stage = CASE WHEN status = 'closed' THEN 'closed' WHEN from_status IS NULL THEN 'received'
                     ELSE 'in_progress' END,
        from_stage = CASE from_status WHEN 'closed' THEN 'closed' WHEN 'open' THEN 'in_progress' END;
    CREATE INDEX requests_by_stage ON requests (stage, requested_us);
    """,
    # 5: a category change in the history names the category it came from and went to (before, a
    #    note 类别改为：… said only where it went; those notes stay as they are).
    """
    ALTER TABLE status_history ADD COLUMN service_code TEXT;
    ALTER TABLE status_history ADD COLUMN from_service_code TEXT;
    """,
    # 6: notes between staff and the resident, relayed by the bot: a staff note for the resident
    #    (给居民, fetched by the bot from /resident-notes.json) and the resident's reply (居民回复).
    """
    ALTER TABLE status_history ADD COLUMN for_resident INTEGER NOT NULL DEFAULT 0 CHECK (for_resident IN (0, 1));
    ALTER TABLE status_history ADD COLUMN from_resident INTEGER NOT NULL DEFAULT 0 CHECK (from_resident IN (0, 1));
    CREATE INDEX status_history_for_resident ON status_history (id) WHERE for_resident = 1;
    """,
    # 7: where a ticket came from (WeChat group, hotline, the government service platform, the web
    #    form); tickets from elsewhere than WeChat may come without a group, and an admin assigns
    #    one later (group from -> to in the history). Every older ticket came from WeChat.
    """
    ALTER TABLE requests ADD COLUMN source TEXT NOT NULL DEFAULT 'wechat'
        CHECK (source IN ('wechat', 'hotline', 'platform', 'web'));
    ALTER TABLE status_history ADD COLUMN group_name TEXT;
    ALTER TABLE status_history ADD COLUMN from_group TEXT;
    CREATE INDEX requests_by_source ON requests (source, requested_us);
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
