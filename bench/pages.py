"""Reader pages, feeds and researchers' JSON: median and p95 per page type (issues 10, 13).

    .venv/bin/python bench/pages.py [--posts 100000] [--requests 40] [--rebuild]

Uses bench/load.py's database for `--posts` (bench/scale.py's synthetic
posts, retagged so topics are set and spread over the thirteen regions,
built once into bench/output/base-N/), serves it with `voice serve` as users
get it (Voice's plugins, templates and settings, its own process) and asks
each page type `--requests` times in turn, one request at a time, after one
warm-up round. Each request of a type varies what it asks for (another
post, topic, blog, region or search word), so it is not merely repeated
from a cache, except the pages that cannot vary (the front page, lists,
whole feeds, a table's JSON as it opens): their `first` column is the
first answer after the server started, before any was kept. Each type is
then asked again with `Cache-Control: no-cache`, which Voice renders anew
instead of answering from the copy it keeps while the database is unchanged
(plugins/voice_cache.py): the "rendered" columns, what a page costs to make.

Prints a table (ms) with the issue's bars (median 100 ms, p95 300 ms at 100,000
posts; twice those at more, as issue 13 allows at a million) as
PASS/FAIL per line, a finding, never the exit code; writes
bench/output/pages.json (pages-N.json for other sizes). Exits 1 only when a
page does not answer 200.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import load  # noqa: E402

MEDIAN_BAR_MS, P95_BAR_MS = 100.0, 300.0  # at 100,000 posts; issue 13 allows 2x beyond


def bars(posts: int) -> tuple[float, float]:
    """The issue's bars for a database of `posts`: 100/300 ms, twice that above 100,000."""
    factor = 1.0 if posts <= 100_000 else 2.0
    return MEDIAN_BAR_MS * factor, P95_BAR_MS * factor
WORDS = ("data", "open", "procurement", "research", "accessibility", "agile", "cloud", "team")


def page_types(values: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per page type, the paths its requests cycle through."""
    regions = [quote("-".join(r.lower().split())) for r in values["regions"]]
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
        **researcher_json(values),
    }


def researcher_json(values: dict[str, list[str]]) -> dict[str, list[str]]:
    """The researchers' tables as JSON with their configured facets (metadata.yml).

    Per table: as it opens, a topic filter, a search and a region filter. The
    plain request cannot vary without changing what it asks, so after the
    warm-up it measures repeats (the first, uncached answer is `first_ms`).
    """
    topics = values["topics"]
    regions = [quote(r) for r in values["regions"]]
    rows = {}
    for table in ("posts", "river", "posts_public"):
        path = f"/voice/{table}.json"
        rows[f"{table}.json"] = [path]
        rows[f"{table}.json, topic"] = [f"{path}?_topic={t}" for t in topics]
        rows[f"{table}.json, search"] = [f"{path}?_search={w}" for w in WORDS]
        rows[f"{table}.json, region"] = [f"{path}?region={r}" for r in regions]
    return rows


def measure(
    base: str, paths: list[str], requests: int, anew: bool
) -> tuple[list[float], list[str], float]:
    """Each request's ms, the answers that were not 200, and the first request's ms.

    `anew`: every request says Cache-Control: no-cache, so Voice renders it
    instead of answering from its kept copy (plugins/voice_cache.py).
    """
    times, errors = [], []
    headers = {"Cache-Control": "no-cache"} if anew else {}
    with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
        began = time.perf_counter()
        http.get(paths[0])
        first = (time.perf_counter() - began) * 1000
        for path in paths[1 : min(len(paths), 3)]:  # warm-up: templates, statements, caches
            http.get(path)
        for i in range(requests):
            path = paths[i % len(paths)]
            began = time.perf_counter()
            response = http.get(path)
            times.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                errors.append(f"{path}: {response.status_code}")
    return times, errors, first


def figures(times: list[float], posts: int) -> tuple[float, float, bool]:
    median, p95 = statistics.median(times), statistics.quantiles(times, n=20)[18]
    median_bar, p95_bar = bars(posts)
    return median, p95, median <= median_bar and p95 <= p95_bar


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    db = load.prepare_base(BENCH / "output", args.posts, args.rebuild)
    values = load.base_values(db)
    work = BENCH / "output" / "pages"
    work.mkdir(parents=True, exist_ok=True)
    port = load.free_port()
    url = f"http://127.0.0.1:{port}"
    rows, failed = [], []
    # The cached database itself: these requests only read (voice serve migrates it
    # first if the schema has grown), and a copy of a million posts is 10 GB.
    serve = ["serve", "--config", str(ROOT / "feeds.yaml"), "--db", str(db), "--port", str(port)]
    with load.started(serve, work / "serve.log") as proc:
        load.wait_ready(url, proc)
        for name, paths in page_types(values).items():
            times, errors, first = measure(url, paths, args.requests, anew=False)
            median, p95, ok = figures(times, args.posts)
            rendered, more, _ = measure(url, paths, args.requests, anew=True)
            r_median, r_p95, r_ok = figures(rendered, args.posts)
            rows.append({"page": name, "median_ms": median, "p95_ms": p95, "first_ms": first,
                         "pass": ok, "rendered_median_ms": r_median, "rendered_p95_ms": r_p95,
                         "rendered_pass": r_ok, "errors": errors + more,
                         "example": paths[0]})  # fmt: skip
            failed += errors + more
    median_bar, p95_bar = bars(args.posts)
    print(f"\nPages, feeds and JSON at {args.posts:,} posts, {args.requests} requests each (ms);"
          f" bars: median <= {median_bar:.0f}, p95 <= {p95_bar:.0f}")  # fmt: skip
    print("served: as readers get them; rendered: each request says Cache-Control: no-cache")
    print(f"{'page type':<28} {'median':>8} {'p95':>8} {'first':>8}  {'bar':<5}"
          f" {'rendered':>8} {'p95':>8}  bar")  # fmt: skip
    for r in rows:
        bar = "PASS" if r["pass"] else "FAIL"
        r_bar = "PASS" if r["rendered_pass"] else "FAIL"
        errors = f"  {len(r['errors'])} errors" if r["errors"] else ""
        print(f"{r['page']:<28} {r['median_ms']:8.1f} {r['p95_ms']:8.1f} {r['first_ms']:8.1f}"
              f"  {bar:<5} {r['rendered_median_ms']:8.1f} {r['rendered_p95_ms']:8.1f}"
              f"  {r_bar}{errors}")  # fmt: skip
    out = BENCH / "output" / ("pages.json" if args.posts == 100_000 else f"pages-{args.posts}.json")
    out.write_text(json.dumps({"posts": args.posts, "code": load.code_state(), "rows": rows},
                              indent=2) + "\n")  # fmt: skip
    print(f"written {out}")
    for line in failed[:20]:
        print("not 200:", line)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
