"""`voice release`: a dated, immutable research release in a folder of its own.

The release is written into a hidden folder beside the others and renamed into
place only when every file and the manifest are written, so a release folder
is either whole or absent; its files are then made read-only.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aggregator import __version__, storage
from aggregator.analysis.similarity import rules_version
from aggregator.errors import ReleaseError
from aggregator.releasing.export import export_table
from aggregator.releasing.manifest import (
    DataFile,
    ReleaseDiff,
    ReleaseFacts,
    changes_text,
    datapackage,
    diff_posts,
    dumps,
)
from aggregator.releasing.snapshot import build_release_db, sqlite_uri
from aggregator.releasing.tables import FEEDS, POSTS, TABLES, TOPICS

MANIFEST = "datapackage.json"
ISSUED = ".issued"  # every id ever given out here, one per line: a pruned id is never reused
LOCK = ".lock"  # held while an id is chosen
ABANDONED_AFTER = 24 * 3600  # seconds: no release takes a day to write
RELEASE_ID = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:-[0-9]{1,4})?$")
_PARTIAL = re.compile(r"^\.[0-9-]+\.partial-([0-9]{1,9})$")


@dataclass(frozen=True)
class ReleaseResult:
    release_id: str
    folder: Path
    counts: dict[str, int]
    diff: ReleaseDiff
    pruned: tuple[str, ...]


def default_folder(db: Path) -> Path:
    return db.parent / "releases"


def database_name(release_id: str) -> str:
    """The release's SQLite file name, which is also its database name in Datasette."""
    return f"voice-{release_id}.db"


def list_releases(folder: Path) -> list[Path]:
    """Complete releases, oldest first (ids sort by date); other folders are not releases."""
    if not folder.is_dir():
        return []
    return sorted(
        (
            p
            for p in folder.iterdir()
            if RELEASE_ID.match(p.name) and p.is_dir() and (p / MANIFEST).is_file()
        ),
        key=lambda p: _sort_key(p.name),
    )


def _sort_key(release_id: str) -> tuple[str, int]:
    return release_id[:10], int(release_id[11:] or 1)


def issued_ids(folder: Path) -> set[str]:
    """Ids given out in `folder`: those on the ledger and those of folders there now."""
    ledger = folder / ISSUED
    listed = set(ledger.read_text(encoding="utf-8").split()) if ledger.is_file() else set()
    present = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    return listed | present


def next_id(folder: Path, now: datetime) -> str:
    """The date, with `-2`, `-3`... for a second and third release on one day.

    An id once given out is never given again, even after its release is
    deleted by `--keep`: a citation names one set of bytes for ever. No dots:
    Datasette names the release's database after it (`voice-<id>`), and a dot
    in a database name would read as a file extension in its URLs.
    """
    date = now.strftime("%Y-%m-%d")
    taken = issued_ids(folder)
    number = 1
    while (f"{date}-{number}" if number > 1 else date) in taken:
        number += 1
    return f"{date}-{number}" if number > 1 else date


def make_release(
    db: Path,
    *,
    out: Path | None = None,
    clock: Callable[[], datetime],
    keep: int | None = None,
    stop: threading.Event | None = None,
) -> ReleaseResult:
    """Write a release of `db`'s public data into `out` (default: releases/ beside it).

    When `stop` is set (voice run is shutting down) the release is abandoned
    at its next step, leaving nothing behind.
    """
    if not db.is_file():
        raise ReleaseError(f"{db}: no database (run voice fetch first, or pass --db PATH)")
    storage.connect(db).close()  # migrated to this version's schema, as a release reads it
    folder = out or default_folder(db)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReleaseError(f"{folder}: cannot create the releases folder ({exc.strerror})") from exc
    now = clock()
    try:
        _clear_abandoned(folder, now)
        release_id = reserve_id(folder, now)
        work = folder / f".{release_id}.partial-{os.getpid()}"
        work.mkdir()
        try:
            result = _write(db, folder, work, release_id, now, stop or threading.Event())
            for path in work.iterdir():
                path.chmod(0o444)
            target = folder / release_id
            work.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)  # gone already when renamed
    except sqlite3.Error as exc:
        raise ReleaseError(f"{db}: cannot read the database for a release ({exc})") from exc
    except OSError as exc:
        raise ReleaseError(f"{folder}: cannot write the release ({exc.strerror or exc})") from exc
    except ValueError as exc:  # a stored value that does not fit its column's type
        raise ReleaseError(f"{db}: cannot export the data for a release ({exc})") from exc
    try:
        pruned = prune(folder, keep) if keep else ()
    except OSError as exc:
        raise ReleaseError(
            f"{target}: written, but old releases could not be deleted ({exc.strerror or exc})"
        ) from exc
    return ReleaseResult(release_id, target, result[0], result[1], pruned)


def reserve_id(folder: Path, now: datetime) -> str:
    """Choose the next id and write it on the ledger at once, under a lock, so that
    `voice run` and a `voice release` at the same moment never choose the same one,
    and an id is never given again even if its release then fails."""
    with open(folder / LOCK, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        release_id = next_id(folder, now)
        with open(folder / ISSUED, "a", encoding="utf-8") as ledger:
            ledger.write(release_id + "\n")
        return release_id


def _clear_abandoned(folder: Path, now: datetime) -> None:
    """Delete half-written releases left by a process that died (a crash, a kill -9):
    its process is gone, or it is a day old (a process id can be reused)."""
    for path in folder.iterdir():
        found = _PARTIAL.match(path.name)
        if found is None:
            continue
        age = now.timestamp() - path.stat().st_mtime
        if age > ABANDONED_AFTER or not _running(int(found.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it runs, as another user
    return True


def _write(
    db: Path, folder: Path, work: Path, release_id: str, now: datetime, stop: threading.Event
) -> tuple[dict[str, int], ReleaseDiff]:
    database = work / database_name(release_id)
    counts, taken_down = build_release_db(db, work / "staging.db", database)
    (work / "staging.db").unlink()
    files: dict[str, DataFile] = {}
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        for table in TABLES:
            if stop.is_set():
                raise ReleaseError(f"{release_id}: stopped before it was finished; not kept")
            parquet, jsonl = work / f"{table.name}.parquet", work / f"{table.name}.jsonl.gz"
            export_table(conn, table, parquet, jsonl)
            files[f"{table.name}.parquet"] = _data_file(parquet)
            files[f"{table.name}.jsonl"] = _data_file(jsonl)
        previous_id, before, current = _hashes(list_releases(folder), conn)
        facts = _facts(conn, release_id, now, counts)
    finally:
        conn.close()
    diff = diff_posts(previous_id, before, current, taken_down)
    (work / "CHANGES").write_text(changes_text(release_id, diff), encoding="utf-8")
    manifest = datapackage(facts, files, _data_file(database), _data_file(work / "CHANGES"))
    (work / MANIFEST).write_text(dumps(manifest), encoding="utf-8")
    return counts, diff


def _data_file(path: Path) -> DataFile:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return DataFile(path.name, path.stat().st_size, digest.hexdigest())


def post_hashes(conn: sqlite3.Connection, columns: list[str]) -> dict[int, str]:
    """Each post's id and a hash of its row, to tell updated posts from unchanged."""
    return {
        row[0]: hashlib.sha256(json.dumps(row, ensure_ascii=False).encode()).hexdigest()
        for row in conn.execute(f"SELECT id, {', '.join(columns)} FROM posts ORDER BY id")
    }


def _hashes(
    previous: list[Path], conn: sqlite3.Connection
) -> tuple[str | None, dict[int, str], dict[int, str]]:
    """The newest readable earlier release's id and post hashes, and this release's,
    over the columns both have, so a column added by a later version of Voice
    does not mark every post updated. An earlier release whose database cannot
    be read (damaged, deleted by hand) is passed over, not a reason to fail."""
    for release in reversed(previous):
        try:
            uri = sqlite_uri(release / database_name(release.name), "ro")
            with closing(sqlite3.connect(uri, uri=True)) as old:
                had = {row[1] for row in old.execute("PRAGMA table_info(posts)")}
                shared = [name for name in POSTS.names if name in had and name != "id"]
                before = post_hashes(old, shared)
        except sqlite3.Error:
            continue
        return release.name, before, post_hashes(conn, shared)
    return None, {}, post_hashes(conn, [name for name in POSTS.names if name != "id"])


def holds_taken_down(release: Path, db: Path, since: str) -> bool:
    """Whether `release`, made at `since`, holds a post or a blog taken down since.

    Datasette then withdraws it (plugins/reader/releases.py asks the same
    question), so `voice run` makes a new release at once rather than leave
    researchers without one until the next is due. Asked after every cycle,
    so the posts are looked at only when `removals` (a few rows) has one
    since the release was made: at a million posts that look costs 0.1 s.
    """
    uri = sqlite_uri(release / database_name(release.name), "ro")
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        conn.execute("ATTACH DATABASE ? AS live", [sqlite_uri(db, "ro")])
        found = conn.execute(
            """
            SELECT CASE WHEN EXISTS (SELECT 1 FROM live.removals WHERE removed_at >= ?)
                THEN EXISTS (SELECT 1 FROM posts WHERE id IN
                                (SELECT id FROM live.posts WHERE removed_at IS NOT NULL))
                  OR EXISTS (SELECT 1 FROM feeds WHERE id IN
                                (SELECT id FROM live.feeds WHERE removed_at IS NOT NULL))
                ELSE 0 END
            """,
            [since],
        ).fetchone()[0]
        return bool(found)


def _facts(
    conn: sqlite3.Connection, release_id: str, now: datetime, counts: dict[str, int]
) -> ReleaseFacts:
    topics = conn.execute(f"SELECT {', '.join(TOPICS.names)} FROM topics ORDER BY slug").fetchall()
    rules = dict(
        conn.execute(
            "SELECT rules_version, count(*) FROM post_topics GROUP BY rules_version ORDER BY 1"
        ).fetchall()
    )
    feeds = [
        {"id": i, "title": t, "url": u, "first_fetch_at": first, "last_fetch_at": last}
        for i, t, u, first, last in conn.execute(
            f"SELECT id, title, url, first_fetch_at, last_fetch_at FROM {FEEDS.name} ORDER BY id"
        )
    ]
    return ReleaseFacts(
        release_id=release_id,
        created=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        voice_version=__version__,
        taxonomy="topics-" + hashlib.sha256(json.dumps(topics).encode()).hexdigest()[:12],
        tagging_rules=rules,
        dedupe_rules=rules_version(),
        counts=counts,
        feeds=feeds,
    )


def prune(folder: Path, keep: int) -> tuple[str, ...]:
    """Delete all but the newest `keep` releases; their ids."""
    old = list_releases(folder)[:-keep] if keep > 0 else []
    for release in old:
        for path in release.iterdir():
            path.chmod(0o644)
        shutil.rmtree(release)
    return tuple(p.name for p in old)
