"""The Voice benchmark: `voice fetch` against lemon24's `reader` on one served corpus.

    .venv/bin/python bench/run.py [--feeds 500] [--entries 20] [--skip-reader]

Generates a synthetic corpus (bench/corpus.py), serves it on 127.0.0.1 with
tests/support/feedserver.py, and runs three cycles with each tool as a separate
process, as a user runs it: cold (empty database), warm (nothing changed) and
changed (one new entry in every tenth feed). Prints a table and the targets
as PASS/FAIL, and writes bench/output/results.json. Exits 1 if a correctness
check fails (wrong number of stored posts, a tool exiting non-zero); a missed
performance target is only reported. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

from corpus import Corpus
from report import CycleResult, check_targets, explain, print_floor, print_table, typical

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # the test feed server lives in tests/support

from tests.support.feedserver import FeedServer  # noqa: E402

WORK = BENCH / "output"
READER_VENV = BENCH / ".venv-reader"
READER_PYTHON = READER_VENV / "bin" / "python"
READER_VERSIONS = ("3.26", "3.27")
HOUR = 3600.0


def measure(cmd: list[str], log: Path, timeout: float) -> tuple[float, resource.struct_rusage, int]:
    """Run `cmd` to completion; its wall seconds, rusage (with its children) and exit code.

    os.wait4 gives the rusage of this one child, including every descendant it
    waited for (the parse worker processes), so cycles do not blur together as
    RUSAGE_CHILDREN deltas would for ru_maxrss.
    """
    with open(log.with_suffix(".out"), "wb") as out, open(log.with_suffix(".err"), "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, start_new_session=True)
        timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    return wall, usage, proc.returncode


def count_rows(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


SUFFIXES = ("", "-wal", "-shm", "-journal", ".search")  # .search: reader's


def db_files(db: Path) -> list[Path]:
    """Every file of a tool's database: Voice keeps a private one beside (voice-private.db)."""
    private = db.with_name(f"{db.stem}-private{db.suffix}")
    return [path.with_name(path.name + s) for path in (db, private) for s in SUFFIXES]


def remove_db(db: Path) -> None:
    for path in db_files(db):
        path.unlink(missing_ok=True)


def voice_command(config: Path, db: Path) -> list[str]:
    voice = Path(sys.executable).with_name("voice")
    if not voice.exists():
        voice = ROOT / ".venv" / "bin" / "voice"
    return [
        str(voice),
        "fetch",
        "--all",
        "--allow-private-hosts",
        "--config",
        str(config),
        "--db",
        str(db),
    ]


def write_config(config: Path, urls: list[str]) -> None:
    """feeds.yaml for Voice: every feed in one region, default settings but the gap.

    One local server stands for hundreds of member hosts: no politeness gap,
    which would otherwise space 500 requests a second apart (see README).
    """
    entries = "".join(f"  - url: {u}\n    region: National\n" for u in urls)
    config.write_text("settings:\n  host_gap_seconds: 0\nfeeds:\n" + entries)


def reader_command(db: Path, feedlist: Path, cycle: str, workers: int) -> list[str]:
    script = str(BENCH / "reader_cycle.py")
    return [
        str(READER_PYTHON),
        script,
        str(db),
        str(feedlist),
        "--cycle",
        cycle,
        "--workers",
        str(workers),
    ]


def ensure_reader_venv() -> str:
    """Create bench/.venv-reader with reader (and sgmllib3k) if needed; return its version."""
    if not READER_PYTHON.exists():
        print(f"creating {READER_VENV.relative_to(ROOT)} ...", flush=True)
        subprocess.run(["python3", "-m", "venv", str(READER_VENV)], check=True)
    probe = [str(READER_PYTHON), "-c", "import reader; print(reader.__version__)"]
    found = subprocess.run(probe, capture_output=True, text=True)
    if found.returncode == 0:
        return found.stdout.strip()
    pip = [str(READER_PYTHON), "-m", "pip", "install", "--quiet"]
    for version in READER_VERSIONS:
        if subprocess.run([*pip, f"reader=={version}", "sgmllib3k"]).returncode == 0:
            return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
        print(f"reader=={version} could not be installed; trying the next version", flush=True)
    raise SystemExit(f"could not install reader {' or '.join(READER_VERSIONS)}")


def warm_server_cache(urls: list[str]) -> None:
    """GET each feed once, untimed, so the server has gzipped each file's current version
    (every feed at the start, the changed ones after each change to the corpus).

    The feed server gzips each version of a file once, as a host's cache would.
    Without this, the first cycle after a change to the corpus pays for the
    compression on the machine's shared cores: Voice's cold cycle, which runs
    first and keeps both cores busy, lost about 0.6 s of wall to it, while
    reader's, single-threaded, left the server a core of its own.
    """
    for url in urls:
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()


def interleaved(tools: dict[str, object], round_: int) -> list[str]:
    """The tools in turn, the other one first every second round, so a drift of the
    machine's speed during a round does not always fall on the same tool."""
    order = list(tools)
    return order if round_ % 2 else order[::-1]


def snapshot(db: Path) -> Path:
    """A copy of the database's files as warm left them, so every changed round starts
    there. On disk, not in memory: a child's ru_maxrss includes the parent's peak
    at fork, so a big run.py would inflate every tool's peak memory."""
    folder = db.with_name(db.name + ".warm")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for path in db_files(db):
        if path.exists():
            shutil.copy2(path, folder / path.name)
    return folder


def restore_db(db: Path, folder: Path) -> None:
    remove_db(db)
    for path in folder.iterdir():
        shutil.copy2(path, db.with_name(path.name))


def run_tool(
    tool: str,
    cycle: str,
    cmd: list[str],
    db: Path,
    table: str,
    expected: int,
    timeout: float,
    round_: int = 1,
) -> CycleResult:
    before = count_rows(db, table)
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    log = WORK / "logs" / f"{tool}-{cycle}-{round_}"
    wall, usage, code = measure(cmd, log, timeout)
    own = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = own.ru_utime + own.ru_stime - own_before.ru_utime - own_before.ru_stime
    stored = count_rows(db, table)
    out = log.with_suffix(".out").read_text().strip()
    err = log.with_suffix(".err").read_text().strip()
    last = out.splitlines()[-1] if out else ""
    result = CycleResult(
        tool,
        cycle,
        wall,
        usage.ru_utime,
        usage.ru_stime,
        usage.ru_maxrss / 1024,
        code,
        stored,
        expected,
        stored - before,
        last,
        server_cpu,
        round_,
    )
    mark = "ok" if result.correct else f"WRONG (expected {expected} stored, exit 0)"
    print(
        f"  {tool:6} {cycle:7} {round_} {wall:7.2f}s wall  {result.cpu_s:7.2f}s CPU  "
        f"({server_cpu:5.2f}s server)  {stored} stored  {mark}",
        flush=True,
    )
    print(f"         output: {last}", flush=True)
    if code != 0 and err:
        print("         stderr: " + "\n                 ".join(err.splitlines()[-10:]))
    return result


def run_floor(directory: Path) -> dict[str, float] | None:
    """One run of bench/floor.py in its own process; None (and a message) if it fails."""
    done = subprocess.run(
        [sys.executable, str(BENCH / "floor.py"), str(directory)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        print("  floor measurement failed:\n" + done.stderr[-2000:])
        return None
    return json.loads(done.stdout)


def run_http_floor(urls: list[str], timeout: float) -> dict[str, float]:
    """bench/http_floor.py's CPU for fetching every feed with httpx alone: `full` (every
    body, as a cold cycle) and `conditional` (every 304, as warm); the lower of two runs."""
    (WORK / "http").mkdir(exist_ok=True)
    listed, validators = WORK / "http" / "urls.txt", WORK / "http" / "validators.json"
    listed.write_text("".join(u + "\n" for u in urls))
    cpu: dict[str, float] = {}
    for mode in ("full", "conditional") * 2:
        cmd = [sys.executable, str(BENCH / "http_floor.py"), str(listed), str(validators), mode]
        _, usage, code = measure(cmd, WORK / "logs" / f"http-{mode}", timeout)
        if code != 0:
            raise SystemExit(f"bench/http_floor.py {mode} failed: see bench/output/logs/")
        cpu[mode] = min(cpu.get(mode, float("inf")), usage.ru_utime + usage.ru_stime)
    print(f"  httpx alone: {cpu['full']:.2f} s CPU for every body, "
          f"{cpu['conditional']:.2f} s for every 304 (bench/http_floor.py)")  # fmt: skip
    return cpu


def lowest(*runs: dict[str, float] | None) -> dict[str, float] | None:
    """Each part's lowest time over the runs: the machine's speed drifts, a floor must not.

    The runs must have timed the same corpus (the same number of entries).
    """
    done = [run for run in runs if run]
    if not done:
        return None
    if len({run["entries"] for run in done}) > 1:
        raise SystemExit("floor runs timed different corpora; this is a bug in run.py")
    return {key: min(run[key] for run in done) for key in done[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark voice fetch against reader.")
    parser.add_argument("--feeds", type=int, default=500, help="number of feeds (default 500)")
    parser.add_argument("--entries", type=int, default=20, help="entries per feed (default 20)")
    parser.add_argument("--skip-reader", action="store_true", help="run Voice only")
    parser.add_argument(
        "--reader-workers",
        type=int,
        default=1,
        help="update_feeds(workers=...) for reader (its default is 1)",
    )
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="serve the feeds from this many ports (Voice limits connections per host:port)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="cold, warm and changed rounds per tool, interleaved; each counts by its median (3)",
    )
    parser.add_argument("--seed", type=int, default=2025, help="corpus random seed")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per cycle")
    args = parser.parse_args()
    if min(args.feeds, args.entries, args.servers, args.rounds) < 1:
        parser.error("--feeds, --entries, --servers and --rounds must be at least 1")

    reader_version = None if args.skip_reader else ensure_reader_venv()
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    corpus = Corpus(WORK / "feeds", args.feeds, args.entries, seed=args.seed)
    base = len(corpus.feeds) * args.entries
    changed = base + len(corpus.changing)
    t0 = time.time() - 6 * HOUR  # mtimes step forward an hour at each rewrite
    t = time.perf_counter()
    size = corpus.write_base(mtime=t0)
    print(
        f"corpus: {args.feeds} feeds x {args.entries} entries (RSS 2.0, Atom, RSS 1.0 by "
        f"thirds), {size / 1e6:.1f} MB, written in {time.perf_counter() - t:.1f}s; "
        f"changed cycle adds 1 entry to {len(corpus.changing)} feeds"
    )
    if reader_version:
        print(f"reader {reader_version}, update_feeds(workers={args.reader_workers})")

    results: list[CycleResult] = []
    round_floors: dict[int, dict[str, float]] = {}  # the floor timed just before Voice's cold
    with ExitStack() as stack:
        servers = [
            stack.enter_context(FeedServer(corpus.directory, gzip=True))
            for _ in range(min(args.servers, len(corpus.feeds)))
        ]
        urls = [servers[f.index % len(servers)].url(f.filename) for f in corpus.feeds]
        config, feedlist = WORK / "feeds.yaml", WORK / "feedlist.txt"
        write_config(config, urls)
        feedlist.write_text("".join(u + "\n" for u in urls))
        where = ", ".join(s.base_url for s in servers[:3]) + (" ..." if len(servers) > 3 else "")
        print(f"serving {corpus.directory.relative_to(ROOT)} (gzip) at {where}\n")

        changing = [u for f, u in zip(corpus.feeds, urls, strict=True) if f in corpus.changing]
        warm_server_cache(urls)
        tools = {"voice": (WORK / "voice.db", "posts")}
        if reader_version:
            tools["reader"] = (WORK / "reader.db", "entries")

        def cycle(tool: str, name: str, expected: int, round_: int) -> None:
            db, table = tools[tool]
            cmd = (
                voice_command(config, db)
                if tool == "voice"
                else reader_command(db, feedlist, name, args.reader_workers)
            )
            results.append(run_tool(tool, name, cmd, db, table, expected, args.timeout, round_))

        for round_ in range(1, args.rounds + 1):  # each from an empty database
            for tool in interleaved(tools, round_):
                if tool == "voice":  # the same minute of the machine (report.floor_ratios)
                    timed = run_floor(corpus.directory)
                    if timed:
                        round_floors[round_] = timed
                remove_db(tools[tool][0])
                cycle(tool, "cold", base, round_)
        for round_ in range(1, args.rounds + 1):
            for tool in interleaved(tools, round_):
                cycle(tool, "warm", base, round_)
        http = run_http_floor(urls, args.timeout)  # the corpus as cold and warm saw it
        snapshots = {tool: snapshot(db) for tool, (db, _) in tools.items()}
        for round_ in range(1, args.rounds + 1):
            corpus.apply_change(mtime=t0 + (2 * round_ - 1) * HOUR)
            warm_server_cache(changing)
            for tool in interleaved(tools, round_):
                restore_db(tools[tool][0], snapshots[tool])
                cycle(tool, "changed", changed, round_)
            corpus.restore(mtime=t0 + 2 * round_ * HOUR)  # as warm left it, a newer version
            warm_server_cache(changing)

    print_table(results)
    print("\nfloor: everything a cold cycle does per entry, one process, no fetching,")
    print("no workers (bench/floor.py); each part's lowest over the rounds' floors:")
    floor = lowest(*round_floors.values())
    if floor:
        by = typical(results)
        cold = {tool: by.get((tool, "cold")) for tool in ("voice", "reader")}
        print_floor(floor, cold, os.cpu_count() or 1)
    targets = check_targets(results, floor, round_floors)
    new_posts = changed - base
    why = explain(targets, floor, http, new_posts * (args.entries + 1), new_posts,
                  os.cpu_count() or 1)  # fmt: skip
    correct = all(r.correct for r in results)
    report = {
        "feeds": args.feeds,
        "entries_per_feed": args.entries,
        "seed": args.seed,
        "corpus_bytes": size,
        "reader_version": reader_version,
        "reader_workers": None if args.skip_reader else args.reader_workers,
        "servers": args.servers,
        "rounds": args.rounds,
        "cpu_count": os.cpu_count(),
        "cycles": [asdict(r) | {"cpu_s": r.cpu_s, "posts_per_s": r.posts_per_s} for r in results],
        "typical": {f"{tool} {cycle}": r.round for (tool, cycle), r in typical(results).items()},
        "targets": targets,
        "floor": floor,
        "round_floors": {str(n): f for n, f in round_floors.items()},
        "http_floor": http,
        "why": why,
        "correct": correct,
    }
    (WORK / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults written to {(WORK / 'results.json').relative_to(ROOT)}")
    if not correct:
        print("CORRECTNESS CHECK FAILED: see the lines marked WRONG above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
