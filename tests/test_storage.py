"""The storage stage's schema steps and connection: old steps stay fixed, derived keys follow."""

from __future__ import annotations

import ast
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils
from sqlite_utils.migrations import Migrations

from aggregator import storage
from aggregator.analysis.identity import canonical_url, content_key
from aggregator.models import FeedSource
from aggregator.storage import schema
from aggregator.storage.feeds import select_feeds, sync_feeds

SCHEMA_SOURCES = sorted(Path(schema.__file__).parent.glob("*.py"))


def _imported_modules(source: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_schema_steps_use_no_voice_code() -> None:
    """An old step must give the same schema whatever Voice's rules say today."""
    assert len(SCHEMA_SOURCES) >= 2
    for source in SCHEMA_SOURCES:
        voice = {
            name
            for name in _imported_modules(source)
            if name.startswith("aggregator") and not name.startswith(schema.__name__)
        }
        assert voice == set(), source.name


def test_a_new_database_gets_every_step_in_order(tmp_path: Path) -> None:
    conn = storage.connect(tmp_path / "voice.db")
    applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY rowid")]
    conn.close()
    assert tuple(applied) == schema.MIGRATIONS
    assert schema.MIGRATIONS[0] == "0001_initial" and len(set(schema.MIGRATIONS)) == len(applied)


def _schema_of(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = conn.execute("SELECT type, name, sql FROM main.sqlite_master ORDER BY type, name")
    return [tuple(row) for row in rows]


def test_migrations_split_scripts_as_sqlite_utils_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """migrations.statements tries a split only at semicolons (sqlite-utils tries after
    every character, quadratic in a statement): the same statements, the same schema."""
    from sqlite_utils.db import _iter_complete_sql_statements

    from aggregator.storage import migrations

    tricky = """
        CREATE TABLE t (a TEXT DEFAULT 'x;y', b TEXT); -- a comment; with semicolons
        /* a block; comment */ CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN
            UPDATE t SET b = 'one;' WHERE rowid = new.rowid;
            SELECT 1;
        END;
        INSERT INTO t (a) VALUES ('z')  ;
        SELECT "odd;name" FROM (SELECT 1 AS "odd;name")
    """
    assert list(migrations.statements(tricky)) == list(_iter_complete_sql_statements(tricky))
    assert len(list(migrations.statements(tricky))) == 4
    ours = storage.connect(tmp_path / "ours.db")
    monkeypatch.setattr(migrations, "_Database", sqlite_utils.Database)
    theirs = storage.connect(tmp_path / "theirs.db")
    assert _schema_of(ours) == _schema_of(theirs) and len(_schema_of(ours)) > 40
    ours.close()
    theirs.close()


def test_posts_stored_before_their_keys_existed_get_them_on_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "voice.db"
    first = Migrations(schema.MIGRATION_SET)
    name, step = schema.STEPS[0]
    first(name=name)(step)
    first.apply(sqlite_utils.Database(path))
    url = "https://www.example.gov.uk/blog/post.html?utm_source=feed"
    with sqlite3.connect(path) as old:
        old.execute("INSERT INTO feeds (id, url, added_at) VALUES (1, 'https://f', 'x')")
        old.execute(
            "INSERT INTO posts (feed_id, entry_key, url, title, text, published, first_seen_at,"
            " raw_hash) VALUES (1, 'k', ?, 'A title', 'Some text of the post', 'x', 'x', 'h')",
            [url],
        )
    conn = storage.connect(path)
    keys = conn.execute("SELECT url_key, content_key FROM posts").fetchone()
    conn.close()
    assert tuple(keys) == (canonical_url(url), content_key("A title", "Some text of the post"))


def test_the_private_file_is_written_as_durably_as_the_public_one(tmp_path: Path) -> None:
    """`PRAGMA synchronous` names one schema: the attached private file kept SQLite's
    default (FULL) and waited for the disk at every feed's commit in a cycle."""
    conn = storage.connect(tmp_path / "voice.db")
    modes = {s: conn.execute(f"PRAGMA {s}.synchronous").fetchone()[0] for s in ("main", "private")}
    journals = {s: conn.execute(f"PRAGMA {s}.journal_mode").fetchone()[0] for s in modes}
    conn.close()
    assert modes == {"main": 1, "private": 1}  # NORMAL: in WAL mode, safe from corruption
    assert journals == {"main": "wal", "private": "wal"}


def test_migrations_use_the_semicolon_splitter_only_inside_a_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every script of a new database goes through migrations.statements (connect
    applies them in one transaction); outside one, sqlite-utils' own path stays."""
    from aggregator.storage import migrations

    split: list[str] = []
    original = migrations.statements

    def counting(script: str):
        split.append(script)
        return original(script)

    monkeypatch.setattr(migrations, "statements", counting)
    storage.connect(tmp_path / "voice.db").close()
    assert len(split) >= 6  # one per script of the schema's steps
    conn = sqlite3.connect(tmp_path / "plain.db", isolation_level=None)
    split.clear()
    migrations._Database(conn).executescript("CREATE TABLE a (x); CREATE TABLE b (y);")
    assert split == [] and not conn.in_transaction
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} == {"a", "b"}
    conn.close()


def test_due_feeds_carry_their_twenty_newest_post_dates_newest_first(tmp_path: Path) -> None:
    """The schedule's rhythm reads each checked feed's newest posts, whatever order
    they were stored in, and nothing of a feed that is not checked."""
    conn = storage.connect(tmp_path / "voice.db")
    sources = [FeedSource(url=f"https://blog{i}.example/feed", region="National") for i in (1, 2)]
    sync_feeds(conn, sources, "2026-12-01T00:00:00Z")
    ids = {url: i for i, url in conn.execute("SELECT id, url FROM feeds")}
    days = [3, 27, 11, 1, 19, 30, 8, 22, 14, 5, 25, 2, 17, 29, 9, 21, 12, 6, 24, 15, 28, 4, 18]
    stored = {sources[0].url: days, sources[1].url: [7, 16]}
    with conn:
        for url, dates in stored.items():
            conn.executemany(
                "INSERT INTO posts (feed_id, entry_key, title, text, published, first_seen_at,"
                " raw_hash) VALUES (?, ?, 't', 'x', ?, 'x', 'h')",
                [(ids[url], f"k{d}", f"2026-11-{d:02d}T09:00:00+00:00") for d in dates],
            )
    everything = {f.url: f.recent_published for f in select_feeds(conn, "", due_only=False)}
    only = select_feeds(conn, "", due_only=False, url=sources[1].url)
    conn.close()
    expected = sorted(days, reverse=True)[:20]
    assert [t.day for t in everything[sources[0].url]] == expected
    assert [t.day for t in everything[sources[1].url]] == [16, 7]
    assert everything[sources[0].url][0] == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert [(f.url, len(f.recent_published)) for f in only] == [(sources[1].url, 2)]
