"""Posts about one topic, per region per month: from Voice's live API or from a release.

Standard library only, as a researcher might write it:

    python examples/posts_by_region.py --topic open-data --api http://127.0.0.1:8001
    python examples/posts_by_region.py --topic open-data --release db/releases/2026-12-07

The live API is paged with `next_url` until it is null; a release is read from
its `posts.jsonl.gz`. Both count each post once (copies are left out) and
print the same table: month, region, posts. A release leaves out blogs whose
members opted out of research releases, which the live site still shows.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path


def from_api(base: str, topic: str, size: int = 1000) -> Iterator[tuple[str, str]]:
    """(published, region) of every post with the topic, a page of `size` at a time."""
    query = urllib.parse.urlencode(
        {
            "_topic": topic,
            "_col": ["published", "region"],
            "_size": size,
            "_sort": "id",
            "_shape": "objects",
        },
        doseq=True,
    )
    url: str | None = f"{base.rstrip('/')}/voice/posts.json?{query}"
    while url:
        with urllib.request.urlopen(url, timeout=60) as answer:
            page = json.load(answer)
        for row in page["rows"]:
            yield row["published"], row["region"]
        url = page["next_url"]


def from_release(folder: Path, topic: str) -> Iterator[tuple[str, str]]:
    """The same pairs from a release: canonical posts (no `duplicate_of`) with the topic."""
    with gzip.open(folder / "posts.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            post = json.loads(line)
            if post["duplicate_of"] is None and topic in post["topics"]:
                yield post["published"], post["region"]


def table(pairs: Iterator[tuple[str, str]]) -> list[tuple[str, str, int]]:
    counts = Counter((published[:7], region or "(none)") for published, region in pairs)
    return sorted((month, region, n) for (month, region), n in counts.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True, help="a topic slug, e.g. open-data")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--api", help="the Voice site, e.g. http://127.0.0.1:8001")
    source.add_argument("--release", type=Path, help="a release folder")
    parser.add_argument("--page-size", type=int, default=1000, help="posts per API page")
    args = parser.parse_args()
    if args.api:
        pairs = from_api(args.api, args.topic, args.page_size)
    else:
        pairs = from_release(args.release, args.topic)
    rows = table(pairs)
    print("month\tregion\tposts")
    for month, region, n in rows:
        print(f"{month}\t{region}\t{n}")
    print(f"# {sum(n for *_, n in rows)} posts about {args.topic}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
