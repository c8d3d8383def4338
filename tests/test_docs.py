"""A command, key or column that is not documented is a bug."""

import re
import sqlite3
from pathlib import Path

import pytest

from aggregator import storage as store
from aggregator.cli import cli
from aggregator.registry.feeds import FEED_KEYS, SETTING_KEYS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCHEMA = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_cli_command_is_in_the_readme(command: str) -> None:
    assert f"`voice {command}`" in README


@pytest.mark.parametrize("key", FEED_KEYS + SETTING_KEYS)
def test_every_feeds_yaml_key_is_in_the_readme(key: str) -> None:
    assert re.search(rf"^\| `{key}` \|", README, re.MULTILINE)


def test_every_column_is_in_the_schema_docs(tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "voice.db")
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table') AND name NOT LIKE 'posts_fts%'"
            " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_%' ESCAPE '\\'"
        )
    ]
    assert {"feeds", "posts", "fetches", "redirects", "removals"} <= set(tables)
    views = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")]
    for view in views:
        assert f"| `{view}` |" in SCHEMA.split("## Views", 1)[1], view
    for table in tables:
        section = SCHEMA.split(f"## `{table}`", 1)[1].split("\n## ", 1)[0]
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        missing = [c for c in columns if f"| `{c}` |" not in section]
        assert not missing, f"{table}: undocumented columns {missing}"
    assert isinstance(conn, sqlite3.Connection)


def test_every_migration_is_in_the_schema_docs() -> None:
    from aggregator.storage.schema import MIGRATIONS

    migrations = SCHEMA.split("## Migrations", 1)[1].split("\n## ", 1)[0]
    assert [m for m in MIGRATIONS if f"| `{m}` |" not in migrations] == []
