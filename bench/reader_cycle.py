"""One update cycle of lemon24's `reader`, for the Voice benchmark.

Runs inside bench/.venv-reader (never in the Voice venv), as a subprocess of
bench/run.py, which measures its wall time, CPU time and peak memory:

    bench/.venv-reader/bin/python bench/reader_cycle.py DB FEEDLIST --cycle cold

On `cold` the feeds listed in FEEDLIST (one URL a line) are added first, then
one update runs with reader's defaults, as a user of the library would call
it. `warm` and `changed` pass `scheduled=False`, so every feed is updated
regardless of reader's schedule (like `voice fetch --all`). Prints one JSON
line: the reader version, the workers used and how many feeds failed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import reader
from reader import make_reader


def run_cycle(db: Path, urls: list[str], cycle: str, workers: int) -> dict[str, object]:
    r = make_reader(str(db))
    try:
        if cycle == "cold":
            for url in urls:
                r.add_feed(url, exist_ok=True)
            r.update_feeds(workers=workers)
        else:
            r.update_feeds(scheduled=False, workers=workers)
        failed = sum(1 for _ in r.get_feeds(broken=True))
    finally:
        r.close()
    return {"reader_version": reader.__version__, "workers": workers, "failed_feeds": failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("feedlist", type=Path)
    parser.add_argument("--cycle", choices=("cold", "warm", "changed"), required=True)
    parser.add_argument("--workers", type=int, default=1, help="reader's default is 1")
    args = parser.parse_args()
    urls = [line.strip() for line in args.feedlist.read_text().splitlines() if line.strip()]
    print(json.dumps(run_cycle(args.db, urls, args.cycle, args.workers)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
