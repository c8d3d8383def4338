"""bench/scale.py's Datasette step: the topic facet and `?_topic=` filter on the posts table.

In its own module so scale.py stays about building the database and
timing the commands; the settings are the ones `voice serve` uses.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FACET_TOPICS = ("open-data", "user-research", "procurement")


async def _facet(db: Path) -> dict[str, Any]:
    from datasette.app import Datasette
    from ruamel.yaml import YAML

    metadata = YAML(typ="safe").load((ROOT / "metadata.yml").read_text())
    # The same SQL and facet time limits `voice serve` sets.
    ds = Datasette(
        [str(db)],
        metadata=metadata,
        plugins_dir=str(ROOT / "plugins"),
        settings={"sql_time_limit_ms": 3000, "facet_time_limit_ms": 1000, "suggest_facets": False},
    )
    await ds.invoke_startup()
    out: dict[str, Any] = {}
    for key, path in (
        ("facet", "/voice/posts.json?_size=0"),
        ("html", "/voice/posts?_size=0"),
        ("filter", "/voice/posts.json?_topic=open-data&_size=10"),
    ):
        wall, cpu = time.perf_counter(), time.process_time()
        response = await ds.client.get(path)
        out[key] = {
            "path": path,
            "status": response.status_code,
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
            "json": response.json() if key != "html" and response.status_code == 200 else {},
            "text": response.text if key == "html" else "",
        }
    return out


def facet(db: Path) -> dict[str, Any]:
    got = asyncio.run(_facet(db))
    page = got["facet"]["json"]
    results = page.get("facet_results", {})
    if "results" in results:  # Datasette 1.0 nests them
        results = results["results"]
    topic_values = {v["value"]: v["count"] for v in results.get("topics", {}).get("results", [])}
    # Datasette 0.65 names timed-out facets only on the HTML page; in JSON a
    # timed-out facet is just missing from facet_results.
    timed_out = list(page.get("facets_timed_out", []))
    if "topics" not in results:
        timed_out.append("topics (missing from facet_results)")
    if "facets-timed-out" in got["html"]["text"] or got["html"]["status"] != 200:
        timed_out.append(f"HTML page: status {got['html']['status']} or facets timed out")
    conn = sqlite3.connect(db)
    # The posts table shows canonical, visible posts only (plugins/voice_public.py).
    truth = dict(
        conn.execute(
            "SELECT topic, count(*) FROM post_topics WHERE post_id IN"
            " (SELECT id FROM posts WHERE hidden = 0 AND duplicate_of IS NULL) GROUP BY topic"
        ).fetchall()
    )
    conn.close()
    return {
        "facet_wall": got["facet"]["wall"],
        "facet_cpu": got["facet"]["cpu"],
        "facet_status": got["facet"]["status"],
        "facets_timed_out": timed_out,
        "html_wall": got["html"]["wall"],
        "topic_counts": {t: topic_values.get(t) for t in FACET_TOPICS},
        "post_topics_counts": {t: truth.get(t, 0) for t in FACET_TOPICS},
        "filter_wall": got["filter"]["wall"],
        "filter_cpu": got["filter"]["cpu"],
        "filter_status": got["filter"]["status"],
        "filter_rows": len(got["filter"]["json"].get("rows", [])),
        "filter_count": got["filter"]["json"].get("filtered_table_rows_count"),
    }


def facet_failures(fac: dict[str, Any]) -> list[str]:
    """Correctness failures: a timed-out facet, counts unlike post_topics', an empty filter."""
    failures = []
    if fac["facet_status"] != 200 or fac["facets_timed_out"]:
        failures.append(
            f"topic facet: status {fac['facet_status']}, timed out {fac['facets_timed_out']}"
        )
    if fac["topic_counts"] != fac["post_topics_counts"]:
        failures.append(
            f"facet counts {fac['topic_counts']} != post_topics {fac['post_topics_counts']}"
        )
    if fac["filter_status"] != 200 or not fac["filter_rows"]:
        failures.append(
            f"?_topic=open-data: status {fac['filter_status']}, {fac['filter_rows']} rows"
        )
    return failures


def print_facet(fac: dict[str, Any]) -> None:
    print(
        f"Datasette /voice/posts.json?_size=0 (topic facet):"
        f" {fac['facet_wall'] * 1000:.0f} ms wall,"
        f" {fac['facet_cpu'] * 1000:.0f} ms CPU, status {fac['facet_status']},"
        f" facets_timed_out {fac['facets_timed_out']}"
    )
    print(f"Datasette /voice/posts?_size=0 (HTML page): {fac['html_wall'] * 1000:.0f} ms wall")
    print(f"  topic counts {fac['topic_counts']} (post_topics: {fac['post_topics_counts']})")
    print(
        f"Datasette ?_topic=open-data&_size=10: {fac['filter_wall'] * 1000:.0f} ms wall,"
        f" {fac['filter_cpu'] * 1000:.0f} ms CPU, {fac['filter_rows']} rows of"
        f" {fac['filter_count']}"
    )
