"""A small real archive for release and research tests: three blogs fetched from 127.0.0.1.

`Archive(server, folder)` writes feeds.yaml (one blog opted out of research
releases unless `opted_out=False`), and runs the real `voice` commands on it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from aggregator.cli import cli
from tests.support.feedserver import FeedServer

SECRET_AUTHOR = "Zebedee Quartermain"


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


class Archive:
    def __init__(self, server: FeedServer, folder: Path, *, opted_out: bool = True) -> None:
        self.server, self.folder = server, folder
        self.config, self.db = folder / "feeds.yaml", folder / "voice.db"
        self.releases = folder / "releases"
        self.team, self.opted_out = server.url("blog.rss"), server.url("localgov-digital.rss")
        self.config.write_text(
            "settings:\n  host_gap_seconds: 0\nfeeds:\n"
            f"  - url: {server.url('philrumens.atom')}\n    region: South East\n"
            f"    author: {SECRET_AUTHOR}\n"
            f"  - url: {self.team}\n    region: London\n    topics: [open-data]\n"
            f"  - url: {self.opted_out}\n    region: National\n"
            + ("    research: false\n" if opted_out else ""),
            encoding="utf-8",
        )

    def voice(self, *args: str) -> str:
        return invoke(*args, "--db", str(self.db))

    def fetch(self) -> None:
        self.voice("fetch", "--all", "--allow-private-hosts", "--config", str(self.config))

    def rows(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql, params).fetchall()

    def post_id(self, guid_end: str) -> int:
        (found,) = self.rows("SELECT id FROM posts WHERE guid LIKE ?", f"%{guid_end}")
        return found[0]

    def release(self) -> Path:
        self.voice("release", "--out", str(self.releases))
        made = (p for p in self.releases.iterdir() if not p.name.startswith("."))
        return max(made, key=lambda p: p.stat().st_mtime_ns)
