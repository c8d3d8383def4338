"""The release's manifest (a Frictionless Data Package) and its CHANGES, as pure functions.

Everything here is computed from values the caller read: the same inputs give
the same bytes, so a release can be checked against its manifest by anyone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aggregator.releasing.tables import TABLES, Table

LICENCE = [
    {
        "name": "CC-BY-4.0",
        "path": "https://creativecommons.org/licenses/by/4.0/",
        "title": "Voice's own data: ids, keys, topics and how they were assigned, "
        "duplicate links, dates seen",
    }
]
RIGHTS = (
    "Post titles and texts remain the copyright of their authors, who publish them "
    "in public feeds; they are shared here for research. Cite the release (see citation)."
)


@dataclass(frozen=True)
class DataFile:
    """One written file of a release: where, how big, its SHA-256."""

    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ReleaseDiff:
    """Post ids that differ from the previous release (all posts are added in the first)."""

    previous: str | None
    added: tuple[int, ...]
    updated: tuple[int, ...]
    taken_down: tuple[int, ...]  # removed at their author's request
    left_out: tuple[int, ...]  # no longer included for another reason (see CHANGES)


def diff_posts(
    previous_id: str | None,
    previous: Mapping[int, str],
    current: Mapping[int, str],
    taken_down: frozenset[int],
) -> ReleaseDiff:
    """Compare two releases' posts, each a map of id to a hash of the row."""
    gone = sorted(previous.keys() - current.keys())
    kept = current.keys() & previous.keys()
    return ReleaseDiff(
        previous=previous_id,
        added=tuple(sorted(current.keys() - previous.keys())),
        updated=tuple(sorted(i for i in kept if current[i] != previous[i])),
        taken_down=tuple(i for i in gone if i in taken_down),
        left_out=tuple(i for i in gone if i not in taken_down),
    )


def _ids(ids: Sequence[int]) -> list[str]:
    """Ids as wrapped lines of about 70 characters."""
    lines, line = [], ""
    for text in map(str, ids):
        if line and len(line) + len(text) + 2 > 70:
            lines.append(line + ",")
            line = text
        else:
            line = f"{line}, {text}" if line else text
    return [*lines, line] if line else []


def changes_text(release_id: str, diff: ReleaseDiff) -> str:
    since = f"since {diff.previous}" if diff.previous else "(the first release: every post is new)"
    parts = [f"Voice research release {release_id}: changes {since}", ""]
    for title, ids in (
        ("Posts added", diff.added),
        ("Posts updated (text, title, topics, duplicate links or other columns)", diff.updated),
        ("Posts removed at their author's request (ids only)", diff.taken_down),
        (
            "Posts no longer included (their blog left research releases or Voice, or they "
            "became copies of a post that is not included)",
            diff.left_out,
        ),
    ):
        parts += [f"{title}: {len(ids)}", *("  " + line for line in _ids(ids)), ""]
    return "\n".join(parts)


def field(column: Any) -> dict[str, Any]:
    spec = {"name": column.name, "type": column.type, "description": column.description}
    if column.type == "datetime":
        spec["format"] = "%Y-%m-%dT%H:%M:%SZ"
    if column.required:
        spec["constraints"] = {"required": True}
    return spec


def table_schema(table: Table) -> dict[str, Any]:
    return {"fields": [field(c) for c in table.columns], "primaryKey": list(table.key)}


@dataclass(frozen=True)
class ReleaseFacts:
    """What the manifest says about a release beyond its files."""

    release_id: str
    created: str  # ISO date and time, UTC
    voice_version: str
    taxonomy: str  # a hash of the topics table
    tagging_rules: Mapping[str, int]  # rules_version -> rows of post_topics
    dedupe_rules: str
    counts: Mapping[str, int]
    feeds: Sequence[Mapping[str, Any]]  # id, title, url, first and last fetch


def datapackage(
    facts: ReleaseFacts, files: Mapping[str, DataFile], database: DataFile, changes: DataFile
) -> dict[str, Any]:
    """The manifest: `files` maps "<table>.<format>" to its file."""
    resources: list[dict[str, Any]] = []
    for table in TABLES:
        data = files[f"{table.name}.jsonl"]
        resources.append(
            {
                "name": table.name,
                "path": data.path,
                "format": "jsonl",
                "compression": "gz",
                "mediatype": "application/jsonl",
                "encoding": "utf-8",
                "description": table.description,
                "bytes": data.bytes,
                "hash": f"sha256:{data.sha256}",
                "rows": facts.counts[table.name],
                "schema": table_schema(table),
            }
        )
        parquet = files[f"{table.name}.parquet"]
        resources.append(
            {
                "name": f"{table.name}-parquet",
                # A file to Frictionless (checked by size and hash: reading Parquet as a
                # table would need pandas); its rows and schema are those of `table`,
                # and the file carries its own schema and row count besides.
                "type": "file",
                "path": parquet.path,
                "format": "parquet",
                "mediatype": "application/vnd.apache.parquet",
                "description": f"{table.description} The same rows as Parquet.",
                "bytes": parquet.bytes,
                "hash": f"sha256:{parquet.sha256}",
                "voice": {"table": table.name, "rows": facts.counts[table.name]},
            }
        )
    for extra, name, mediatype, description, voice in (
        (
            database,
            "database",
            "application/vnd.sqlite3",
            "Every table above in one SQLite file.",
            {"tables": {t.name: facts.counts[t.name] for t in TABLES}},
        ),
        (changes, "changes", "text/plain", "What changed since the previous release.", None),
    ):
        resources.append(
            {
                "name": name,
                "path": extra.path,
                "mediatype": mediatype,
                "description": description,
                "bytes": extra.bytes,
                "hash": f"sha256:{extra.sha256}",
                **({"voice": voice} if voice else {}),
            }
        )
    return {
        "name": f"localgov-digital-voice-{facts.release_id}",
        "id": facts.release_id,
        "title": f"LocalGov Digital Voice: research release {facts.release_id}",
        "description": "Public posts of the LocalGov Digital network's member blogs, with "
        "their topics and duplicate links, as gathered by Voice.",
        "created": facts.created,
        "version": facts.release_id,
        "licenses": LICENCE,
        "rights": RIGHTS,
        "citation": citation(facts.release_id, facts.created[:10]),
        "voice": {
            "version": facts.voice_version,
            "taxonomy": facts.taxonomy,
            "tagging_rules": dict(facts.tagging_rules),
            "dedupe_rules": facts.dedupe_rules,
            "feeds": list(facts.feeds),
        },
        "resources": resources,
    }


def citation(release_id: str, date: str) -> str:
    return (
        f"LocalGov Digital Voice ({date[:4]}). Member blog posts of the LocalGov Digital "
        f"network, research release {release_id} [data set]. Released {date}."
    )


def dumps(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
