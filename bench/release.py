"""`voice release` at 100,000 posts, alone and beside a fetch cycle (issue 14).

    .venv/bin/python bench/release.py [--posts 100000] [--feeds 100]

Uses bench/load.py's database (built once into bench/output/base-N/). Three
measured runs, each a separate process on a fresh copy of the database:

1. `voice release` alone: wall and CPU seconds, peak memory (os.wait4), the
   release's size, against issue 14's targets (under 60 s, under 300 MB);
2. a fetch cycle alone: `voice fetch --all` of a synthetic corpus (bench/
   corpus.py, `--feeds` new blogs of 20 posts) served on 127.0.0.1;
3. the same fetch cycle started while a release runs, with both timed.

The ratios say what a release costs a fetch cycle that runs beside it (as
`voice run` does) on this 2-core machine. Results go to
bench/output/release.json as well as the table. Exits 1 if a command fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import load  # noqa: E402
from corpus import Corpus  # noqa: E402
from run import measure, voice_command, warm_server_cache  # noqa: E402

from aggregator.releasing import list_releases  # noqa: E402
from tests.support.feedserver import FeedServer  # noqa: E402

OUT = BENCH / "output"
WORK = OUT / "release"
SECONDS_LIMIT, MEMORY_LIMIT_MB = 60.0, 300.0
HOUR = 3600.0


def fresh_copy(base: Path, name: str) -> Path:
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in base.parent.glob("voice*.db"):
        shutil.copy(path, folder / path.name)
    return folder / "voice.db"


def run(cmd: list[str], log: Path) -> dict[str, float]:
    wall, usage, code = measure(cmd, log, timeout=1800)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd[:2])} failed (exit {code}): see {log}.err")
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "peak_mb": usage.ru_maxrss / 1024}


def release_cmd(db: Path) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "voice"), "release", "--db", str(db)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--feeds", type=int, default=100, help="blogs in the fetch cycle")
    args = parser.parse_args()
    base = load.prepare_base(OUT, args.posts, rebuild=False)
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    logs = WORK / "logs"

    db = fresh_copy(base, "alone")
    alone = run(release_cmd(db), logs / "release-alone")
    (folder,) = list_releases(db.parent / "releases")
    size = sum(p.stat().st_size for p in folder.iterdir())
    manifest = json.loads((folder / "datapackage.json").read_text())
    posts = next(r["rows"] for r in manifest["resources"] if r["name"] == "posts")

    corpus = Corpus(WORK / "feeds", args.feeds, 20, seed=2025)
    corpus.write_base(mtime=time.time() - HOUR)
    with FeedServer(corpus.directory, gzip=True) as server:
        urls = [server.url(f.filename) for f in corpus.feeds]
        warm_server_cache(urls)
        config = WORK / "feeds.yaml"
        entries = "".join(f"  - url: {u}\n    region: National\n" for u in urls)
        config.write_text("settings:\n  host_gap_seconds: 0\nfeeds:\n" + entries)

        db = fresh_copy(base, "fetch-alone")
        fetch_alone = run(voice_command(config, db), logs / "fetch-alone")

        db = fresh_copy(base, "together")
        beside: dict[str, dict[str, float]] = {}
        releasing = threading.Thread(
            target=lambda: beside.setdefault(
                "release", run(release_cmd(db), logs / "release-beside")
            )
        )
        releasing.start()
        time.sleep(2.0)  # the release is reading and writing before the cycle starts
        beside["fetch"] = run(voice_command(config, db), logs / "fetch-beside")
        releasing.join()

    fetched = {k: v["wall_s"] for k, v in (("alone", fetch_alone), ("beside", beside["fetch"]))}
    result = {
        "posts": args.posts,
        "released_posts": posts,
        "release_bytes": size,
        "release_alone": alone,
        "fetch_alone": fetch_alone,
        "fetch_beside_release": beside["fetch"],
        "release_beside_fetch": beside["release"],
        "fetch_feeds": args.feeds,
        "targets": {
            "seconds": {"value": alone["wall_s"], "limit": SECONDS_LIMIT},
            "peak_mb": {"value": alone["peak_mb"], "limit": MEMORY_LIMIT_MB},
        },
    }
    (OUT / "release.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nvoice release at {args.posts:,} posts ({posts:,} released, {size / 1e9:.2f} GB):")
    rows = (
        ("release alone", alone),
        ("release beside a fetch", beside["release"]),
        ("fetch alone", fetch_alone),
        ("fetch beside a release", beside["fetch"]),
    )
    for name, r in rows:
        print(
            f"  {name:24} {r['wall_s']:7.2f} s wall {r['cpu_s']:7.2f} s CPU {r['peak_mb']:6.0f} MB"
        )
    print(f"  a fetch cycle of {args.feeds} new blogs beside a release: "
          f"{fetched['beside'] / fetched['alone']:.2f}x its wall alone")  # fmt: skip
    for label, key, limit, unit in (("time", "seconds", SECONDS_LIMIT, "s"),
                                    ("peak memory", "peak_mb", MEMORY_LIMIT_MB, "MB")):  # fmt: skip
        value = result["targets"][key]["value"]
        print(f"{'PASS' if value < limit else 'FAIL'}  voice release {label}: "
              f"{value:.1f} {unit} (limit {limit:.0f} {unit})")  # fmt: skip
    print("results written to bench/output/release.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
