"""The submissions file: join requests and member change requests, and their tokens.

It sits beside the public database (db/voice.db -> db/voice-submissions.db)
and is never given to Datasette: it holds contact emails and the hashes of
members' status-link tokens. One `requests` table holds both kinds of
request, so `voice submissions approve ID` needs no second id space:

    kind 'join'    a blog asks to join; carries the member's token hash and
                   the verification token for their blog
    kind 'change'  a member asks to change their entry (member_id is the
                   join request); carries the wanted `changes` as JSON

A member's token is `secrets.token_urlsafe(32)`, shown once; only its
SHA-256 is stored, so the file alone lets nobody act as a member.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregator.errors import StoreError
from aggregator.joining.fields import JoinForm

STATUSES = ("pending", "approved", "rejected", "withdrawn", "removed")
_VERIFY_ALPHABET = string.ascii_lowercase + string.digits

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('join', 'change')),
    member_id INTEGER REFERENCES requests(id),
    status TEXT NOT NULL DEFAULT 'pending',
    url TEXT NOT NULL,
    feed_url TEXT,
    site_url TEXT,
    title TEXT,
    region TEXT,
    organisation TEXT,
    name TEXT,
    email TEXT,
    topics TEXT NOT NULL DEFAULT '[]',
    display TEXT NOT NULL DEFAULT 'full',
    research INTEGER NOT NULL DEFAULT 1,
    changes TEXT,
    trial TEXT,
    checks TEXT,
    token_hash TEXT UNIQUE,
    verify_token TEXT,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS requests_pending ON requests (status, id);
CREATE INDEX IF NOT EXISTS requests_member ON requests (member_id, id);
"""


@dataclass(frozen=True)
class RequestState:
    """One row of `requests` as read back."""

    id: int
    kind: str
    member_id: int | None
    status: str
    url: str
    feed_url: str | None
    site_url: str | None
    title: str | None
    region: str | None
    organisation: str | None
    name: str | None
    email: str | None
    topics: tuple[str, ...]
    display: str
    research: bool
    changes: dict[str, Any]
    trial: dict[str, Any]
    checks: dict[str, Any]
    verify_token: str | None
    created_at: str
    decided_at: str | None
    decided_by: str | None
    reason: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RequestState:
        values = dict(row)
        values.pop("token_hash", None)
        for key in ("changes", "trial", "checks"):
            values[key] = json.loads(values[key]) if values[key] else {}
        values["topics"] = tuple(json.loads(values["topics"]))
        values["research"] = bool(values["research"])
        return cls(**values)


# --- the file -----------------------------------------------------------------


def submissions_path(db: Path) -> Path:
    """db/voice.db -> db/voice-submissions.db."""
    return db.with_name(f"{db.stem}-submissions.db")


def connect_submissions(db: Path) -> sqlite3.Connection:
    """Open (creating with its tables) the submissions file beside the database `db`."""
    path = submissions_path(db)
    if not path.parent.exists():
        raise StoreError(f"{path.parent}: directory does not exist (pass --db PATH)")
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=15)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA secure_delete = ON")
        conn.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the submissions file: {exc}") from exc
    return conn


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[None]:
    """One BEGIN IMMEDIATE transaction: two moderators never decide the same request twice."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# --- tokens -------------------------------------------------------------------


def new_member_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_verify_token() -> str:
    """Short enough to paste into a page or a post: voice- and 10 letters or digits."""
    return "voice-" + "".join(secrets.choice(_VERIFY_ALPHABET) for _ in range(10))


# --- reading and writing requests -----------------------------------------------


def add_join(
    conn: sqlite3.Connection,
    form: JoinForm,
    *,
    trial: Mapping[str, Any],
    checks: Mapping[str, Any],
    now: str,
    with_token: bool = True,
) -> tuple[int, str | None]:
    """Store a join request; (its id, the member's token, shown once; None if without)."""
    token = new_member_token() if with_token else None
    cursor = conn.execute(
        """
        INSERT INTO requests (kind, url, feed_url, site_url, title, region, organisation,
            name, email, topics, display, research, trial, checks, token_hash,
            verify_token, created_at)
        VALUES ('join', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            form.url,
            trial.get("feed_url"),
            trial.get("site_url"),
            trial.get("title"),
            form.region,
            form.organisation,
            form.name,
            form.email,
            json.dumps(list(form.topics)),
            form.display,
            int(form.research),
            json.dumps(trial),
            json.dumps(checks),
            hash_token(token) if token else None,
            new_verify_token(),
            now,
        ],
    )
    return int(cursor.lastrowid or 0), token


def add_change(
    conn: sqlite3.Connection,
    member: RequestState,
    changes: Mapping[str, Any],
    *,
    now: str,
    decided_by: str | None = None,
) -> int:
    """Store a change request: pending, or already approved when `decided_by` applied it."""
    status = "approved" if decided_by else "pending"
    cursor = conn.execute(
        """
        INSERT INTO requests (kind, member_id, status, url, feed_url, changes, created_at,
            decided_at, decided_by)
        VALUES ('change', ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            member.id,
            status,
            member.url,
            member.feed_url,
            json.dumps(dict(changes)),
            now,
            now if decided_by else None,
            decided_by,
        ],
    )
    return int(cursor.lastrowid or 0)


def get_request(conn: sqlite3.Connection, request_id: int) -> RequestState | None:
    row = conn.execute("SELECT * FROM requests WHERE id = ?", [request_id]).fetchone()
    return RequestState.from_row(row) if row else None


def find_member(conn: sqlite3.Connection, token: Any) -> RequestState | None:
    """The join request whose member holds `token`; None for anything else."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    row = conn.execute(
        "SELECT * FROM requests WHERE kind = 'join' AND token_hash = ?", [hash_token(token)]
    ).fetchone()
    return RequestState.from_row(row) if row else None


def pending_requests(conn: sqlite3.Connection) -> list[RequestState]:
    rows = conn.execute("SELECT * FROM requests WHERE status = 'pending' ORDER BY id")
    return [RequestState.from_row(r) for r in rows]


def changes_of(conn: sqlite3.Connection, member_id: int) -> list[RequestState]:
    rows = conn.execute(
        "SELECT * FROM requests WHERE kind = 'change' AND member_id = ? ORDER BY id", [member_id]
    )
    return [RequestState.from_row(r) for r in rows]


def decide(
    conn: sqlite3.Connection,
    request_id: int,
    status: str,
    *,
    by: str,
    now: str,
    reason: str | None = None,
) -> bool:
    """Record a decision on a pending request; False if it was no longer pending."""
    cursor = conn.execute(
        "UPDATE requests SET status = ?, decided_at = ?, decided_by = ?, reason = ?"
        " WHERE id = ? AND status = 'pending'",
        [status, now, by, reason, request_id],
    )
    return cursor.rowcount == 1


def set_member_status(
    conn: sqlite3.Connection, member_id: int, status: str, *, by: str, now: str, reason: str
) -> None:
    """A member's own decision on their blog (withdrawn, removed), whatever it was before."""
    conn.execute(
        "UPDATE requests SET status = ?, decided_at = ?, decided_by = ?, reason = ? WHERE id = ?",
        [status, now, by, reason, member_id],
    )
    conn.execute(
        "UPDATE requests SET status = 'withdrawn', decided_at = ?, decided_by = ?"
        " WHERE kind = 'change' AND member_id = ? AND status = 'pending'",
        [now, by, member_id],
    )


def update_member(conn: sqlite3.Connection, member_id: int, changes: Mapping[str, Any]) -> None:
    """Keep the join request's copy of the member's choices in step with what applies."""
    columns = {"organisation", "region", "topics", "display", "research"}
    for key, value in changes.items():
        if key not in columns:
            continue
        if key == "topics":
            value = json.dumps(list(value or []))
        elif key == "research":
            value = int(value if value is not None else True)
        elif key == "display":
            value = value or "full"
        conn.execute(f"UPDATE requests SET {key} = ? WHERE id = ?", [value, member_id])
