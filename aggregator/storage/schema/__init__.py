"""The schema's numbered steps: the public contract, as it grew (docs/schema.md).

Each step only adds, and uses nothing but SQL and sqlite-utils' table helpers:
an old step must give the same schema whatever Voice's code says today, so
nothing here imports Voice code outside this package.
Columns derived by Voice's rules (entry keys) are filled by `keys`, not here.
`STEPS` is the one list of names: `connection` checks it without importing
sqlite-utils, and `migrations` registers it with sqlite-utils.
Add a new step to a module here (a new one past ~400 lines) and at the end of STEPS.

    early   steps 0001-0005
    later   steps 0006-0013, 0015
    counts  step 0014 (topic_facets and its triggers)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aggregator.storage.schema.counts import _m0014_topic_facets
from aggregator.storage.schema.early import (
    _m0001_initial,
    _m0002_feed_lifecycle,
    _m0003_topics_and_duplicates,
    _m0004_fts_on_text_changes,
    _m0005_public_by_construction,
)
from aggregator.storage.schema.later import (
    _m0006_takedown_notices,
    _m0007_reader_pages,
    _m0008_member_choices,
    _m0009_editor_topics,
    _m0010_topic_evidence,
    _m0011_reading_speed,
    _m0012_integer_lsh_keys,
    _m0013_blog_counts,
    _m0015_public_key,
)

if TYPE_CHECKING:
    import sqlite_utils

MIGRATION_SET = "voice"

STEPS: tuple[tuple[str, Callable[[sqlite_utils.Database], None]], ...] = (
    ("0001_initial", _m0001_initial),
    ("0002_feed_lifecycle", _m0002_feed_lifecycle),
    ("0003_topics_and_duplicates", _m0003_topics_and_duplicates),
    ("0004_fts_on_text_changes", _m0004_fts_on_text_changes),
    ("0005_public_by_construction", _m0005_public_by_construction),
    ("0006_takedown_notices", _m0006_takedown_notices),
    ("0007_reader_pages", _m0007_reader_pages),
    ("0008_member_choices", _m0008_member_choices),
    ("0009_editor_topics", _m0009_editor_topics),
    ("0010_topic_evidence", _m0010_topic_evidence),
    ("0011_reading_speed", _m0011_reading_speed),
    ("0012_integer_lsh_keys", _m0012_integer_lsh_keys),
    ("0013_blog_counts", _m0013_blog_counts),
    ("0014_topic_facets", _m0014_topic_facets),
    ("0015_public_key", _m0015_public_key),
)
MIGRATIONS = tuple(name for name, _ in STEPS)
