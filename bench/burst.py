"""A bounded burst (issue 13): many requests at once, how many a second and the slowest.

bench/load.py runs it on a freshly started Datasette: `--burst` requests in
all from `--clients` clients (20), each sending its next request as soon as
its last is answered, until the burst's requests are used up. The bursts:

- reader, just started: the front page and the feeds (river, topic and
  region Atom, river JSON Feed) as soon as Datasette answers, so templates,
  navigation counts and the file's pages are read for the first time;
- reader, after a write: the same after one commit to the database, as a
  fetch that stored a post, so every answer Voice keeps is out of date and
  the first request for each is rendered again while the others wait;
- reader, unchanged: the same again;
- researchers: bench/load.py's mix (pages, JSON with facets, search, CSV,
  SQL), for comparison; the issue's bar is for the readers' bursts.

The issue's bar: at least 100 requests a second and no request slower than
1 s, for the front page and feeds. A finding, never the exit code.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from load_report import Sample, percentile

BAR_PER_SECOND, BAR_SLOWEST_MS = 100.0, 1000.0


def reader_paths(values: dict[str, list[str]]) -> list[str]:
    """The front page and feeds, in turn: what readers and feed readers ask for most."""
    regions = [quote("-".join(r.lower().split())) for r in values["regions"]]
    topics = values["topics"]
    paths = []
    for i in range(max(len(topics), len(regions))):
        paths += ["/", "/feed.atom", "/feed.json", f"/topics/{topics[i % len(topics)]}.atom"]
        paths += ["/", f"/regions/{regions[i % len(regions)]}.atom"]
    return paths


async def _burst(base: str, paths: list[str], clients: int, total: int) -> tuple[float, list]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    samples: list[Sample] = []
    turn = iter(range(total))

    async def client(http: httpx.AsyncClient) -> None:
        for i in turn:
            path = paths[i % len(paths)]
            kind = path.split("?")[0].rsplit(".", 1)[-1] if "." in path else "page"
            start = time.perf_counter()
            try:
                outcome = str((await http.get(path)).status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            samples.append(Sample(kind, (time.perf_counter() - start) * 1000, outcome))

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        began = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return time.perf_counter() - began, samples


def touch(db: Path) -> None:
    """One commit that changes nothing a reader sees (a blog's title set to itself)."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE feeds SET title = title WHERE id = (SELECT min(id) FROM feeds)")
        conn.commit()


def burst(
    base: str, paths: list[str], clients: int, total: int, bar: bool = True
) -> dict[str, Any]:
    """One burst's figures; `bar`: whether the issue's bar applies to it."""
    seconds, samples = asyncio.run(_burst(base, paths, clients, total))
    ms = [s.ms for s in samples]
    row: dict[str, Any] = {
        "requests": len(samples),
        "seconds": round(seconds, 2),
        "per_second": round(len(samples) / seconds, 1),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "slowest_ms": round(max(ms, default=0.0), 1),
        "errors": sum(not s.ok for s in samples),
    }
    if bar:
        ok = row["per_second"] >= BAR_PER_SECOND and row["slowest_ms"] <= BAR_SLOWEST_MS
        row["result"] = "PASS" if ok and not row["errors"] else "FAIL"
    return row


def print_bursts(rows: dict[str, dict[str, Any]], clients: int) -> None:
    print(f"\nBursts of {clients} concurrent clients (bar for readers: >= 100/s, slowest <= 1 s)")
    print("| burst | requests | per second | p50 ms | p95 ms | slowest ms | errors | bar |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['requests']:,} | {r['per_second']:,.1f} | {r['p50_ms']:,.0f}"
            f" | {r['p95_ms']:,.0f} | {r['slowest_ms']:,.0f} | {r['errors']}"
            f" | {r.get('result', '-')} |"
        )
