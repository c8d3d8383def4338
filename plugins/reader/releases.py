"""Research releases beside the live database, as the /research page and Datasette see them.

A release is a folder `releases/<id>/` holding `datapackage.json` and the
files it lists (written by `voice release`; docs/schema.md). Only what the
manifest lists is ever served. A release that holds a post since taken down
at its author's request is withdrawn: not served, not downloadable, listed
with that reason, because a takedown must reach every route the site offers.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RELEASE_ID = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:-[0-9]{1,4})?$")
MANIFEST = "datapackage.json"


@dataclass(frozen=True)
class Release:
    release_id: str
    folder: Path
    manifest: dict[str, Any] = field(hash=False, compare=False)
    withdrawn: bool = False

    @property
    def database_name(self) -> str:
        return f"voice-{self.release_id}"

    @property
    def database(self) -> Path:
        return self.folder / f"{self.database_name}.db"

    def resource(self, name: str) -> dict[str, Any] | None:
        """The manifest's entry for the file `name`, or None if it lists no such file."""
        return next((r for r in self.manifest["resources"] if r["path"] == name), None)

    @property
    def tables(self) -> list[dict[str, Any]]:
        """Each table with its row count, description and its two files' resources."""
        by_name = {r["name"]: r for r in self.manifest["resources"]}
        return [
            {**r, "jsonl": r, "parquet": by_name.get(f"{r['name']}-parquet")}
            for r in self.manifest["resources"]
            if "schema" in r
        ]

    def file(self, name: str) -> Path | None:
        """The path of a file the release may serve: its manifest, or one the manifest lists."""
        if name == MANIFEST or self.resource(name) is not None:
            return self.folder / name
        return None

    @property
    def counts(self) -> dict[str, int]:
        return {r["name"]: r["rows"] for r in self.manifest["resources"] if "rows" in r}


def _sort_key(release_id: str) -> tuple[str, int]:
    return release_id[:10], int(release_id[11:] or 1)


def find_releases(folder: Path, taken_down: frozenset[int]) -> list[Release]:
    """The complete releases in `folder`, newest first; unreadable ones are skipped."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if not (RELEASE_ID.match(path.name) and (path / MANIFEST).is_file()):
            continue
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        release = Release(path.name, path, manifest)
        if not release.database.is_file():
            continue
        found.append(Release(path.name, path, manifest, _holds_any(release, taken_down)))
    return sorted(found, key=lambda r: _sort_key(r.release_id), reverse=True)


def _holds_any(release: Release, post_ids: frozenset[int]) -> bool:
    if not post_ids:
        return False
    uri = f"file:{release.database}?mode=ro&immutable=1"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        found = conn.execute(
            "SELECT 1 FROM posts WHERE id IN (SELECT value FROM json_each(?)) LIMIT 1",
            [json.dumps(sorted(post_ids))],
        )
        return found.fetchone() is not None
