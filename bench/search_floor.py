"""What a researcher's search costs SQLite alone, per word (issue 13's floor for search).

    .venv/bin/python bench/search_floor.py [--posts 1000000]

`posts_public.json?_search=WORD` answers with how many public posts match,
the newest of them, and their counts by region, organisation and topic.
Whatever serves it, each of those reads every matching post's state (is it
public? which region?), since the full-text index holds only words: a
lookup per match. This times each part as plain SQL in one process, on the
database bench/pages.py serves (bench/load.py's, built once), after one
untimed run so the pages are in memory, by the faster of two plans (PLANS):
the least that answer costs before Datasette, JSON or HTTP add anything. Prints ms per word and the
median over bench/pages.py's words, against the issue's bar for that size;
writes bench/output/search-floor-N.json.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

import load  # noqa: E402
import pages  # noqa: E402

MATCH = "id IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH :word)"
# Two plans for "public and matching": SQLite's own choice, which walks the public
# posts in posts_public_state (~1M entries) and checks each against the matches,
# and one that starts from the matches and looks up each post's row (the `+`
# keeps SQLite off the index). Each part's floor is the faster of the two.
PLANS = (
    f"{MATCH} AND hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL",
    f"{MATCH} AND +hidden = 0 AND +duplicate_of IS NULL AND +removed_at IS NULL",
)
PARTS = {
    "matches": ("SELECT count(*) FROM posts_fts WHERE posts_fts MATCH :word",),
    "count": tuple(f"SELECT count(*) FROM posts WHERE {m}" for m in PLANS),
    "newest": tuple(
        f"SELECT id FROM posts WHERE {m} ORDER BY published DESC LIMIT 101" for m in PLANS
    ),
    "region": tuple(f"SELECT region, count(*) FROM posts WHERE {m} GROUP BY 1" for m in PLANS),
    "organisation": tuple(
        f"SELECT organisation, count(*) FROM posts WHERE {m} GROUP BY 1" for m in PLANS
    ),
    "topic": tuple(
        "SELECT topic, count(*) FROM post_topics WHERE post_id IN"
        f" (SELECT id FROM posts WHERE {m}) GROUP BY topic"
        for m in PLANS
    ),
}


def timed(conn: sqlite3.Connection, plans: tuple[str, ...], word: str) -> tuple[float, list]:
    """The fastest plan's ms (second run of each) and its rows (the same for every plan)."""
    best, answer = float("inf"), []
    for sql in plans:
        conn.execute(sql, {"word": word}).fetchall()  # the pages in memory first
        began = time.perf_counter()
        rows = conn.execute(sql, {"word": word}).fetchall()
        best, answer = min(best, (time.perf_counter() - began) * 1000), rows
    return best, answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    db = load.prepare_base(BENCH / "output", args.posts, False)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.execute("PRAGMA cache_size = -32768")  # 32 MB: voice_facets.CACHE_MB, as Datasette's
    rows, totals = [], []
    print(f"\nSearch in SQL alone at {args.posts:,} posts (ms; second run of each)")
    print(f"{'word':<14} {'matches':>8} " + " ".join(f"{p:>12}" for p in PARTS if p != "matches")
          + f" {'sum':>8}")  # fmt: skip
    for word in pages.WORDS:
        ms = {part: timed(conn, plans, word) for part, plans in PARTS.items()}
        matches = ms.pop("matches")[1][0][0]
        total = sum(t for t, _ in ms.values())
        totals.append(total)
        rows.append({"word": word, "matches": matches, "sum_ms": total}
                    | {f"{p}_ms": t for p, (t, _) in ms.items()})  # fmt: skip
        print(f"{word:<14} {matches:>8} " + " ".join(f"{t:12.1f}" for t, _ in ms.values())
              + f" {total:8.1f}")  # fmt: skip
    median_bar, p95_bar = pages.bars(args.posts)
    median = statistics.median(totals)
    print(f"median over words {median:.1f} ms, highest {max(totals):.1f} ms;"
          f" the bars at this size: median {median_bar:.0f}, p95 {p95_bar:.0f}")  # fmt: skip
    out = BENCH / "output" / f"search-floor-{args.posts}.json"
    out.write_text(json.dumps({"posts": args.posts, "code": load.code_state(), "words": rows,
                               "median_ms": median}, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
