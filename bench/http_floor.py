"""The least a cycle's fetching costs: Python, httpx and nothing of Voice (issue 13).

    python bench/http_floor.py URLS VALIDATORS full|conditional

bench/run.py runs this as its own process, measured like the tools (CPU of
the process from os.wait4), against the same server and feeds. `full` GETs
every URL in URLS (one per line) as a cold cycle must, two at a time over
one connection pool as Voice does with one host, reads each body (gzip
undone) and keeps each answer's ETag and Last-Modified in VALIDATORS (JSON);
`conditional` sends those back, as a warm cycle does, and reads the 304s.
Nothing is parsed or stored. What it costs is what any fetcher built on
httpx pays for that cycle's HTTP before doing any work of its own: the
floor for the warm cycle, and the fetching part of the cold one. Prints
how many answers had each status.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

import httpx

AT_ONCE = 2  # Voice's per_host default: every feed here is on one host


async def fetch_all(
    urls: list[str], validators: dict[str, list[str]] | None
) -> tuple[Counter[int], dict[str, list[str]]]:
    """Each status's count, and each URL's ETag and Last-Modified as answered."""
    seen: Counter[int] = Counter()
    kept: dict[str, list[str]] = {}
    limits = httpx.Limits(max_connections=AT_ONCE)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        gate = asyncio.Semaphore(AT_ONCE)

        async def one(url: str) -> None:
            headers = {}
            if validators is not None:
                etag, modified = validators[url]
                headers = {"If-None-Match": etag, "If-Modified-Since": modified}
            async with gate:
                response = await client.get(url, headers=headers)
            seen[response.status_code] += 1
            answered = response.headers
            kept[url] = [answered.get("etag", ""), answered.get("last-modified", "")]

        await asyncio.gather(*(one(url) for url in urls))
    return seen, kept


def main(argv: list[str]) -> int:
    urls_file, validators_file, mode = argv
    urls = Path(urls_file).read_text().split()
    if mode == "full":
        seen, kept = asyncio.run(fetch_all(urls, None))
        Path(validators_file).write_text(json.dumps(kept))
    else:
        seen, _ = asyncio.run(fetch_all(urls, json.loads(Path(validators_file).read_text())))
    print(json.dumps(dict(seen)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
