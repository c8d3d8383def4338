"""Reader pages and feeds at 100,000 posts: median and p95 per page type (issue 10).

    .venv/bin/python bench/pages.py [--posts 100000] [--requests 40] [--rebuild]

Uses bench/load.py's database (bench/scale.py's synthetic posts, retagged so
topics are set, cached in bench/output/load/), spread over the thirteen
regions, then serves a copy with `voice serve` as users get it (Voice's
plugins, templates and settings, its own process) and asks each page type
`--requests` times in turn, one request at a time, after one warm-up round.
Each request of a type varies what it asks for (another post, topic, blog
or search word), so no answer is merely repeated from a cache, except the
front page's navigation counts, which the pages cache for a minute by design.

Prints a table (ms) with the issue's bars (median < 100 ms, p95 < 300 ms) as
PASS/FAIL per line, a finding, never the exit code; writes
bench/output/pages.json. Exits 1 only when a page does not answer 200.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import load  # noqa: E402

from aggregator.storage.connection import private_path  # noqa: E402

MEDIAN_BAR_MS, P95_BAR_MS = 100.0, 300.0
REGIONS = (
    "East Midlands", "East of England", "London", "North East", "North West", "Northern Ireland",
    "Scotland", "South East", "South West", "Wales", "West Midlands", "Yorkshire and the Humber",
    "National",
)  # fmt: skip
WORDS = ("data", "open", "procurement", "research", "accessibility", "agile", "cloud", "team")


def spread(db: Path) -> dict[str, list[str]]:
    """Give feeds (and their posts) regions and titles as members would; the values to ask for."""
    with closing(sqlite3.connect(db)) as conn:
        for i, region in enumerate(REGIONS):
            conn.execute("UPDATE feeds SET region = ? WHERE id % ? = ?", [region, len(REGIONS), i])
        conn.execute(
            "UPDATE posts SET region = (SELECT region FROM feeds WHERE feeds.id = posts.feed_id)"
        )
        conn.commit()
        last = conn.execute("SELECT max(id) FROM posts").fetchone()[0]
        return {
            "topics": [r[0] for r in conn.execute("SELECT slug FROM topics ORDER BY position")],
            "blogs": [r[0] for r in conn.execute("SELECT slug FROM feeds ORDER BY id LIMIT 200")],
            "posts": [str(i) for i in range(last, last - 4000, -97)],
            "befores": [str(i) for i in range(last - 50, last - 90_000, -2203)],
        }


def page_types(values: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per page type, the paths its requests cycle through."""
    regions = [quote("-".join(r.lower().split())) for r in REGIONS]
    topics, blogs, posts = values["topics"], values["blogs"], values["posts"]
    return {
        "river (front page)": ["/"],
        "river, older page": [f"/?before={b}" for b in values["befores"]],
        "topics list": ["/topics"],
        "topic": [f"/topics/{t}" for t in topics],
        "regions list": ["/regions"],
        "region": [f"/regions/{r}" for r in regions],
        "blogs list": ["/blogs"],
        "blog": [f"/blogs/{b}" for b in blogs],
        "post": [f"/posts/{p}" for p in posts],
        "search (relevance)": [f"/search?q={w}" for w in WORDS],
        "search (recent)": [f"/search?q={w}&order=recent" for w in WORDS],
        "search + region + topic": [
            f"/search?q={w}&region={r}&topic={t}"
            for w, r, t in zip(WORDS, regions, topics, strict=False)
        ],
        "Atom, river": ["/feed.atom"],
        "JSON Feed, river": ["/feed.json"],
        "Atom, topic": [f"/topics/{t}.atom" for t in topics],
        "Atom, region + topic": [
            f"/regions/{r}.atom?topic={t}" for r, t in zip(regions, topics, strict=False)
        ],
        "JSON Feed, blog": [f"/blogs/{b}.json" for b in blogs],
        "Atom, search": [f"/search.atom?q={w}" for w in WORDS],
        "OPML, all blogs": ["/blogs.opml"],
    }


def measure(base: str, paths: list[str], requests: int) -> tuple[list[float], list[str]]:
    times, errors = [], []
    with httpx.Client(base_url=base, timeout=60) as http:
        for path in paths[: min(len(paths), 3)]:  # warm-up: templates, statements, caches
            http.get(path)
        for i in range(requests):
            path = paths[i % len(paths)]
            began = time.perf_counter()
            response = http.get(path)
            times.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                errors.append(f"{path}: {response.status_code}")
    return times, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    folder = BENCH / "output" / "load"
    folder.mkdir(parents=True, exist_ok=True)
    base_db = load.prepare_base(folder, args.posts, args.seed, args.rebuild)
    work = BENCH / "output" / "pages"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "voice.db"
    shutil.copy(base_db, db)
    shutil.copy(private_path(base_db), private_path(db))
    values = spread(db)
    port = load.free_port()
    url = f"http://127.0.0.1:{port}"
    rows, failed = [], []
    serve = ["serve", "--config", str(ROOT / "feeds.yaml"), "--db", str(db), "--port", str(port)]
    with load.started(serve, work / "serve.log") as proc:
        load.wait_ready(url, proc)
        for name, paths in page_types(values).items():
            times, errors = measure(url, paths, args.requests)
            cuts = statistics.quantiles(times, n=20)
            median, p95 = statistics.median(times), cuts[18]
            ok = median < MEDIAN_BAR_MS and p95 < P95_BAR_MS
            rows.append({"page": name, "median_ms": median, "p95_ms": p95, "pass": ok,
                         "errors": errors, "example": paths[0]})  # fmt: skip
            failed += errors
    print(f"\nReader pages at {args.posts:,} posts, {args.requests} requests each (ms)")
    print(f"{'page type':<26} {'median':>8} {'p95':>8}  bars: median < 100, p95 < 300")
    for r in rows:
        verdict = "PASS" if r["pass"] else "FAIL"
        errors = f"  {len(r['errors'])} errors" if r["errors"] else ""
        print(f"{r['page']:<26} {r['median_ms']:8.1f} {r['p95_ms']:8.1f}  {verdict}{errors}")
    out = BENCH / "output" / "pages.json"
    out.write_text(json.dumps({"posts": args.posts, "code": load.code_state(), "rows": rows},
                              indent=2) + "\n")  # fmt: skip
    print(f"written {out}")
    for line in failed[:20]:
        print("not 200:", line)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
