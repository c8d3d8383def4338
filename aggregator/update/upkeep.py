"""Bring posts stored under older content rules up to today's, once.

Posts are sanitised when fetched. When the rules tighten (issue 9: images
only from the blog's own host, bidi controls stripped), posts stored before
would keep what the old rules let through until their blog edited them, so
the first cycle after an upgrade re-cleans the archive and records the rules
version in the private file; later cycles pay one SELECT.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from aggregator.parsing import SANITIZE_RULES_VERSION
from aggregator.storage.known import upkeep_version

if TYPE_CHECKING:
    from aggregator.storage.admin import Content

TASK = "sanitize"


def _clean(content: Content, feed_url: str) -> Content:
    from aggregator.parsing import sanitize  # loaded only when the rules changed

    title, author, summary, body = content
    host = sanitize.url_host(feed_url)
    return (
        sanitize.strip_controls_and_bidi(title),
        sanitize.strip_controls_and_bidi(author) if author is not None else None,
        sanitize.reclean_stored_html(summary, host) if summary else summary,
        sanitize.reclean_stored_html(body, host) if body else body,
    )


def refresh_stored_content(conn: sqlite3.Connection, now: str) -> int:
    """Re-clean every stored post if the sanitiser's rules changed since the last pass."""
    if upkeep_version(conn, TASK) == SANITIZE_RULES_VERSION:
        return 0
    from aggregator.storage import admin  # the archive-wide rewrite: only when rules changed

    return admin.rewrite_content(
        conn, _clean, task=TASK, version=SANITIZE_RULES_VERSION, now=now
    )
