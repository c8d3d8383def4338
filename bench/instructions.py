"""A cold cycle against the floor in instructions, which do not drift as seconds do.

    .venv/bin/python bench/instructions.py [--small 12] [--large 42]

bench/run.py compares CPU seconds, and on this machine the same work costs
tens of percent more CPU in one minute than in the next. valgrind's callgrind
counts the instructions a program executes instead: the same count for the
same program and input whatever else the machine is doing. This script runs
the floor's five parts (`bench/floor.py --parts-only`) and a cold `voice fetch`
(the feeds served on 127.0.0.1, an empty database, two parse workers) under
callgrind, on the first SMALL and the first LARGE feeds of the benchmark's
corpus (20 entries each), and divides each one's difference between the two
sizes by the difference in entries. That is what one more entry costs in
each: start-up and imports, the same at both sizes, drop out.

It prints both, their ratio against issue 13's 1.25, and the functions
where a cycle spends most beyond the floor (a profile), and writes
bench/output/instructions.json. Without valgrind (Debian's package
`valgrind`) it says so and exits 0. It takes about four minutes.

What instructions leave out, and what they count against Voice:
- the kernel's work (system calls, page faults) and how fast each
  instruction runs (cache misses, a busy host): seconds include them;
- a forked parse worker starts with its parent's counts, so what the main
  process did before the first fork is counted once more for each worker;
  it is the same start-up at both sizes, except the registry's rows;
- OpenSSL picks its code by the CPU features valgrind reports, which do not
  include SHA instructions, so sha256 costs several times the instructions
  it takes natively, and a cycle hashes each body and its entries' bytes.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from corpus import Corpus
from report import FLOOR_FACTOR
from run import voice_command, warm_server_cache, write_config

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # the test feed server lives in tests/support

from tests.support.feedserver import FeedServer  # noqa: E402

ENTRIES = 20
_COST = re.compile(r"\s*([\d,]+) \([\s\d.]+%\)\s+(.+)$")


def callgrind(cmd: list[str], out: Path) -> list[Path]:
    """Run `cmd` under callgrind; the profile of each process (forked workers included)."""
    out.mkdir(parents=True, exist_ok=True)
    pattern = out / "callgrind.%p"
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={pattern}", *cmd],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"{cmd[1]} failed under valgrind:\n{done.stderr[-2000:]}")
    return sorted(out.glob("callgrind.*"))


def total(profile: Path) -> int:
    """The instruction count callgrind wrote in the profile's header."""
    with profile.open(errors="replace") as lines:
        for line in lines:
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise SystemExit(f"{profile}: no summary line (did callgrind finish?)")


def by_function(profile: Path) -> collections.Counter[str]:
    """Instructions spent in each function itself, from callgrind_annotate."""
    done = subprocess.run(
        ["callgrind_annotate", "--threshold=100", "--auto=no", str(profile)],  # no source lines
        capture_output=True,
        text=True,
        check=True,
    )
    return annotated_costs(done.stdout)


def annotated_costs(text: str) -> collections.Counter[str]:
    """callgrind_annotate's listing as {function: instructions}, one name per function:
    the build's source path and recursion marks ('2) are left out."""
    costs: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        match = _COST.match(line)
        if match and "PROGRAM TOTALS" not in line:
            name = re.sub(r"^\S*/Python-[\d.]+/", "", match.group(2))  # the build's path
            costs[re.sub(r"'\d+", "", name)] += int(match.group(1).replace(",", ""))
    return costs


def marginal(counts: dict[tuple[str, str], int], entries: int) -> dict[str, float]:
    """What one more entry costs the floor and the cycle: the large run less the small
    one, over the entries between them; what both sizes do alike drops out."""
    return {
        what: (counts[(what, "large")] - counts[(what, "small")]) / entries
        for what in ("floor", "cycle")
    }


def run_floor(feeds: Path, out: Path) -> list[Path]:
    return callgrind([sys.executable, str(BENCH / "floor.py"), str(feeds), "--parts-only"], out)


def run_cycle(feeds: Path, out: Path) -> list[Path]:
    """A cold `voice fetch --all` of every file in `feeds`; checks every entry was stored."""
    files = sorted(p for p in feeds.iterdir() if p.is_file())
    with FeedServer(feeds, gzip=True) as server:
        urls = [server.url(p.name) for p in files]
        warm_server_cache(urls)  # each file gzipped once, before the cycle, as in run.py
        config, db = out.parent / f"{out.name}.yaml", out.parent / f"{out.name}.db"
        write_config(config, urls)
        profiles = callgrind(voice_command(config, db), out)
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    if stored != len(files) * ENTRIES:
        raise SystemExit(f"the cycle stored {stored} posts, not {len(files) * ENTRIES}")
    return profiles


def main() -> int:
    parser = argparse.ArgumentParser(description="A cold cycle against the floor, in instructions.")
    parser.add_argument("--small", type=int, default=12, help="feeds in the smaller run")
    parser.add_argument("--large", type=int, default=42, help="feeds in the larger run")
    parser.add_argument("--top", type=int, default=12, help="functions to list")
    args = parser.parse_args()
    if not 0 < args.small < args.large:
        parser.error("need 0 < --small < --large")
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        print("SKIP  instructions: valgrind is not installed (Debian's package valgrind)")
        return 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = Corpus(work / "feeds-large", args.large, ENTRIES)
        corpus.write_base(mtime=time.time() - 3600)
        small = work / "feeds-small"
        small.mkdir()
        for feed in corpus.feeds[: args.small]:
            shutil.copy2(corpus.directory / feed.filename, small / feed.filename)
        jobs = {
            ("floor", "small"): (run_floor, small),
            ("floor", "large"): (run_floor, corpus.directory),
            ("cycle", "small"): (run_cycle, small),
            ("cycle", "large"): (run_cycle, corpus.directory),
        }
        profiles: dict[tuple[str, str], list[Path]] = {}
        for size in ("small", "large"):  # a floor beside a cycle, never two cycles at once
            with ThreadPoolExecutor(2) as pool:
                futures = {
                    key: pool.submit(run, feeds, work / f"{key[0]}-{key[1]}")
                    for key, (run, feeds) in jobs.items()
                    if key[1] == size
                }
                profiles |= {key: future.result() for key, future in futures.items()}
        counts = {key: sum(total(p) for p in found) for key, found in profiles.items()}
        entries = (args.large - args.small) * ENTRIES
        per_entry = marginal(counts, entries)
        functions = {}
        for what in ("floor", "cycle"):
            large, small_ = collections.Counter(), collections.Counter()
            for p in profiles[(what, "large")]:
                large.update(by_function(p))
            for p in profiles[(what, "small")]:
                small_.update(by_function(p))
            functions[what] = {name: large[name] - small_[name] for name in large | small_}
    ratio = per_entry["cycle"] / per_entry["floor"]
    status = "PASS" if ratio <= FLOOR_FACTOR else "FAIL"
    print(
        f"instructions per entry ({args.large} - {args.small} feeds of {ENTRIES} entries, "
        f"callgrind): floor {per_entry['floor'] / 1e6:.2f} M, cold cycle "
        f"{per_entry['cycle'] / 1e6:.2f} M"
    )
    print(f"{status}  cold cycle's instructions per entry <= {FLOOR_FACTOR}x the floor's: "
          f"{ratio:.3f}")  # fmt: skip
    names = set(functions["floor"]) | set(functions["cycle"])
    extra = sorted(
        ((functions["cycle"].get(n, 0) - functions["floor"].get(n, 0)) / entries, n) for n in names
    )[::-1][: args.top]
    print(f"where the cycle spends most beyond the floor (instructions per entry, of "
          f"{(per_entry['cycle'] - per_entry['floor']) / 1e3:.0f} K in all):")  # fmt: skip
    for cost, name in extra:
        print(f"  {cost / 1e3:8.1f} K  {name[:110]}")
    report = {
        "small_feeds": args.small,
        "large_feeds": args.large,
        "entries_per_feed": ENTRIES,
        "counts": {f"{what} {size}": n for (what, size), n in counts.items()},
        "per_entry": per_entry,
        "ratio": ratio,
        "limit": FLOOR_FACTOR,
        "status": status,
        "extra_per_entry": {name: cost for cost, name in extra},
        "minutes": (time.perf_counter() - started) / 60,
    }
    out = BENCH / "output"
    out.mkdir(exist_ok=True)
    (out / "instructions.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to bench/output/instructions.json ({report['minutes']:.1f} minutes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
