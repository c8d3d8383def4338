"""Research releases beside the live database, as the /research page and Datasette see them.

A release is a folder `releases/<id>/` holding `datapackage.json` and the
files it lists (written by `voice release`; docs/schema.md). Only what the
manifest lists is ever served. A release that holds a post or a blog since
taken down at its author's request is withdrawn: not served, not
downloadable, listed with that reason, because a takedown must reach every
route the site offers. A release that cannot be read (a damaged manifest or
database) is withdrawn too, rather than break the pages around it. A member
who opts out of research releases later is left out of the next release;
releases already made keep their blog (docs/schema.md, "Research releases").
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
TAKEN_DOWN = "it holds posts or blogs since removed at their authors' request"
DAMAGED = "its database can no longer be read"
RETIRED = "it was out of service for a while and is served again after the site restarts"


@dataclass(frozen=True)
class Release:
    release_id: str
    folder: Path
    manifest: dict[str, Any] = field(hash=False, compare=False)
    withdrawn_because: str = ""  # why it is no longer served, in words for the page

    @property
    def withdrawn(self) -> bool:
        return bool(self.withdrawn_because)

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


@dataclass(frozen=True)
class TakenDown:
    """What has been taken down at its authors' request, read from the live database."""

    posts: frozenset[int] = frozenset()
    blogs: frozenset[int] = frozenset()


def find_releases(folder: Path, taken_down: TakenDown) -> list[Release]:
    """The complete releases in `folder`, newest first; unreadable ones are withdrawn."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if not (RELEASE_ID.match(path.name) and (path / MANIFEST).is_file()):
            continue
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = None
        if not _well_formed(manifest):
            continue
        release = Release(path.name, path, manifest)
        if not release.database.is_file() or release.resource(release.database.name) is None:
            continue
        try:
            why = TAKEN_DOWN if _holds_any(release, taken_down) else ""
        except sqlite3.Error:
            why = DAMAGED
        found.append(Release(path.name, path, manifest, why))
    return sorted(found, key=lambda r: _sort_key(r.release_id), reverse=True)


def _well_formed(manifest: Any) -> bool:
    """A manifest the page can show: when it was made, and each file with its size."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("created"), str):
        return False
    resources = manifest.get("resources")
    return isinstance(resources, list) and all(
        isinstance(r, dict)
        and isinstance(r.get("path"), str)
        and isinstance(r.get("name"), str)
        and isinstance(r.get("bytes"), int)
        and isinstance(r.get("hash"), str)
        and ("rows" in r or "schema" not in r)
        and isinstance(r.get("rows", 0), int)
        for r in resources
    )


def _holds_any(release: Release, taken_down: TakenDown) -> bool:
    """Whether the release holds any of `taken_down`; asked even when there is
    nothing taken down, so that a damaged database is found (sqlite3.Error)."""
    uri = f"file:{release.database}?mode=ro&immutable=1"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        found = conn.execute(
            """
            SELECT EXISTS (SELECT 1 FROM posts WHERE id IN (SELECT value FROM json_each(?)))
                OR EXISTS (SELECT 1 FROM feeds WHERE id IN (SELECT value FROM json_each(?)))
            """,
            [json.dumps(sorted(taken_down.posts)), json.dumps(sorted(taken_down.blogs))],
        )
        return bool(found.fetchone()[0])
