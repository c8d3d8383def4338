"""Datasette under load: mixed reader and researcher requests, p50/p95 and errors (issue 9).

    .venv/bin/python bench/load.py [--posts 100000] [--seconds 60] [--clients 20]

Builds a database of N synthetic posts with bench/scale.py's builder (then
`voice retag`, so topics are set), and measures Datasette as users get it:
`voice serve` in its own process group, on a free port, with Voice's plugins
and settings. Four scenarios, each on a fresh copy of that database and a
freshly started Datasette, so nothing left running by one (a hostile query
Datasette cannot cancel) slows the next:

1. idle: only the clients;
2. fetch: a cold `voice fetch --all` of a served synthetic corpus writes to
   the same database meanwhile (the window ends early if the fetch does);
3. hostile: one more client sends one expensive SQL query after another;
4. fetch + hostile: both.

Prints a table and the issue's target as PASS/FAIL (a finding, never the
exit code) and writes bench/output/load.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]  # bench's scripts; the test feed server

import burst  # noqa: E402
import scale  # noqa: E402
from corpus import Corpus  # noqa: E402
from load_report import (  # noqa: E402
    Sample,
    ScenarioResult,
    report,
    summarise,
)

from aggregator.registry.topics import load_topics  # noqa: E402
from aggregator.storage.connection import private_path  # noqa: E402
from tests.support.feedserver import FeedServer  # noqa: E402

VOICE = ROOT / ".venv" / "bin" / "voice"
# docs/api.md's join: a small query a researcher would paste.
DOCS_SQL = (
    "select posts.title, posts.url, posts.published, feeds.title as blog"
    " from posts join feeds on feeds.id = posts.feed_id"
    " order by posts.published desc limit 50"
)
# What readers and researchers ask for, in turn; {id} is a random post.
MIX = {
    "river": "/voice/river",
    "posts": "/voice/posts",
    "facets": "/voice/posts.json?_facet=region&_facet_topic=topics&_size=20",
    "search": "/voice/posts.json?_search=housing+benefits&_shape=array",
    "topic": "/voice/posts.json?_topic=open-data&_shape=array",
    "row": "/voice/posts/{id}",
    "csv": "/voice/posts.csv?_size=100",
    "sql": "/voice.json?_shape=array&sql=" + quote(DOCS_SQL),
}
# One client sends these in turn, the next as soon as one ends. Neither is
# interrupted by Datasette's time limit, a progress handler between SQLite
# steps: the first is one allocation of 1 GB (about 10 s), the second one LIKE
# that compares for minutes. The short one goes first so both run in 60 s.
HOSTILE_SQL = (
    "select length(printf('%.*c',999999999,'x'))",
    "select printf('%.*c',1000000,'a') like '%'||printf('%.*c',45000,'a')||'b'",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    fetch: bool
    hostile: bool


SCENARIOS = (
    Scenario("idle", fetch=False, hostile=False),
    Scenario("fetch", fetch=True, hostile=False),
    Scenario("hostile", fetch=False, hostile=True),
    Scenario("fetch + hostile", fetch=True, hostile=True),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """End a process started with start_new_session=True and its children, by its group."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
        os.killpg(proc.pid, signal.SIGKILL)  # Datasette can outlive `voice serve`
    proc.wait()


@contextmanager
def started(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `voice` command in its own process group, output to `log`, stopped on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(VOICE), *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_group(proc)


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        with suppress(httpx.HTTPError):
            if httpx.get(base + "/-/versions.json", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"Datasette did not start on {base} (voice serve: {proc.poll()})")


async def reader(
    http: httpx.AsyncClient,
    order: list[str],
    posts: int,
    rnd: random.Random,
    stop: asyncio.Event,
    samples: list[Sample],
) -> None:
    """One client: the mix in turn, the next request as soon as one ends, until `stop`."""
    turn = 0
    while not stop.is_set():
        kind = order[turn % len(order)]
        turn += 1
        path = MIX[kind].format(id=rnd.randint(1, posts))
        start = time.perf_counter()
        try:
            response = await http.get(path)
            outcome = str(response.status_code)
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        samples.append(Sample(kind, (time.perf_counter() - start) * 1000, outcome))


async def hostile(http: httpx.AsyncClient, log: list[dict[str, Any]]) -> None:
    """One client with one expensive query in flight at a time, until cancelled."""
    turn = 0
    while True:
        sql = HOSTILE_SQL[turn % len(HOSTILE_SQL)]
        turn += 1
        entry: dict[str, Any] = {"sql": sql, "outcome": "in flight at the end", "ms": None}
        log.append(entry)
        start = time.perf_counter()
        try:
            response = await http.get("/voice.json", params={"sql": sql})
            entry["outcome"] = str(response.status_code)
        except httpx.HTTPError as exc:
            entry["outcome"] = type(exc).__name__
        entry["ms"] = round((time.perf_counter() - start) * 1000, 1)


async def drive(
    base: str,
    scenario: Scenario,
    args: argparse.Namespace,
    groups: dict[str, int],
    fetch: subprocess.Popen[bytes] | None,
) -> tuple[float, list[Sample], list[dict[str, Any]], dict[str, float]]:
    """Run the clients for the window (shorter if the fetch ends first).

    Returns the window's seconds, the samples, the hostile client's log, and the
    cores each part used during the window ("others": the machine's other tenants).
    """
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    kinds = list(MIX)
    samples: list[Sample] = []
    hostile_log: list[dict[str, Any]] = []
    stop = asyncio.Event()
    async with (
        httpx.AsyncClient(base_url=base, timeout=args.timeout, limits=limits) as http,
        httpx.AsyncClient(base_url=base, timeout=None) as bad,
    ):
        before, start = cpu_now(groups), time.perf_counter()
        extra = [asyncio.create_task(hostile(bad, hostile_log))] if scenario.hostile else []
        clients = [
            asyncio.create_task(
                reader(
                    http,
                    kinds[i % len(kinds) :] + kinds[: i % len(kinds)],
                    args.posts,
                    random.Random(f"{args.seed}:{scenario.name}:{i}"),
                    stop,
                    samples,
                )
            )
            for i in range(args.clients)
        ]
        fetch_cpu = await watch(fetch, start + args.seconds)
        stop.set()
        for task in extra:  # the hostile client's request in flight is abandoned
            task.cancel()
        window, after = time.perf_counter() - start, cpu_now(groups)
        if fetch_cpu is not None:
            after["fetch"] = fetch_cpu
        await asyncio.gather(*extra, return_exceptions=True)
        await asyncio.gather(*clients)  # each finishes the request it has in flight
    cores = {k: (after[k] - before[k]) / window for k in after}
    ours = sum(v for k, v in cores.items() if k != "machine")
    cores["others"] = max(0.0, cores["machine"] - ours)
    return window, samples, hostile_log, {k: round(v, 2) for k, v in cores.items()}


def alone(base: str, timeout: float) -> dict[str, Sample]:
    """Each request of the mix twice, one at a time: the first warms up, the second is timed.

    What a request costs with nobody else asking: under load, the rest is queueing.
    """
    found = {}
    with httpx.Client(base_url=base, timeout=timeout) as http:
        for kind, path in [*MIX.items(), *MIX.items()]:
            start = time.perf_counter()
            try:
                outcome = str(http.get(path.format(id=1)).status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            found[kind] = Sample(kind, (time.perf_counter() - start) * 1000, outcome)
    return found


def cpu_now(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far: of each named process group (with the children it waited
    for), of this process, and of the whole machine. Linux /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    found = dict.fromkeys(groups, 0.0)
    names = {pgid: name for name, pgid in groups.items()}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (name)"
            if (name := names.get(int(fields[2]))) is not None:
                found[name] += sum(map(int, fields[11:15])) / tick  # u, s, cu, cs time
    cpu = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    found["machine"] = (sum(cpu) - cpu[3] - cpu[4]) / tick  # all but idle and iowait
    found["bench"] = time.process_time()  # the clients and the feed server
    return found


async def watch(fetch: subprocess.Popen[bytes] | None, deadline: float) -> float | None:
    """Wait for the deadline or the fetch's end; then the fetch's CPU seconds, from os.wait4."""
    while time.perf_counter() < deadline:
        if fetch is not None:
            pid, status, usage = os.wait4(fetch.pid, os.WNOHANG)
            if pid:
                fetch.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait
                return usage.ru_utime + usage.ru_stime
        await asyncio.sleep(0.1)
    return None


def code_state() -> str:
    """HEAD and a digest of uncommitted changes to what serves and fetches.

    Others may edit the working tree during a run: equal states say every
    scenario measured the same code.
    """
    paths = ["aggregator", "plugins", "metadata.yml"]
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    diff = subprocess.run([*git, "diff", "HEAD", "--", *paths], capture_output=True).stdout
    new = subprocess.run(
        [*git, "ls-files", "--others", "--exclude-standard", "--", *paths],
        capture_output=True,
        text=True,
    ).stdout.split()
    digest = hashlib.sha256(diff)
    for name in new:
        with suppress(OSError):
            digest.update(name.encode() + (ROOT / name).read_bytes())
    dirty = f"+{digest.hexdigest()[:8]} ({len(diff.splitlines())} diff lines, {len(new)} new files)"
    return head.stdout.strip() + (dirty if diff or new else "")


DB_SEED = 1  # bench/pages.py and this script share one database per size
REGIONS = (
    "East Midlands", "East of England", "London", "North East", "North West", "Northern Ireland",
    "Scotland", "South East", "South West", "Wales", "West Midlands", "Yorkshire and the Humber",
    "National",
)  # fmt: skip


SPREAD = 2  # what spread() does; a cached database spread otherwise is spread again


def spread(db: Path) -> None:
    """Give feeds (and their posts) the thirteen regions in turn and one of 61
    organisations, as members would, so filters and facets by them have work to do."""
    with closing(sqlite3.connect(db)) as conn:
        for i, region in enumerate(REGIONS):
            conn.execute(
                "UPDATE feeds SET region = ?, organisation = 'Council ' || (id % 61)"
                " WHERE id % ? = ?",
                [region, len(REGIONS), i],
            )
        conn.execute(
            "UPDATE posts SET (region, organisation) ="
            " (SELECT region, organisation FROM feeds WHERE feeds.id = posts.feed_id)"
        )
        conn.commit()


def base_values(db: Path) -> dict[str, list[str]]:
    """What requests ask for: topics, blogs, regions, recent posts and older pages' `before`."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        last = conn.execute("SELECT max(id) FROM posts").fetchone()[0]
        return {
            "topics": [r[0] for r in conn.execute("SELECT slug FROM topics ORDER BY position")],
            "blogs": [r[0] for r in conn.execute("SELECT slug FROM feeds ORDER BY id LIMIT 200")],
            "regions": list(REGIONS),
            "posts": [str(i) for i in range(last, last - 4000, -97)],
            "befores": [str(i) for i in range(last - 50, last - 90_000, -2203)],
        }


def prepare_base(out: Path, posts: int, rebuild: bool) -> Path:
    """bench/scale.py's posts, retagged and spread over the regions: one database per size.

    Built once into out/base-N/voice.db (the file's stem is the database's name
    in every URL) and reused while N matches: a million posts take long to
    build, so an edit to scale.py does not rebuild it by itself (the stamp
    keeps the digest it was built with, and a mismatch is printed; --rebuild).
    """
    folder = out / f"base-{posts}"
    base, stamp = folder / "voice.db", folder / "build.json"
    digest = hashlib.sha256((BENCH / "scale.py").read_bytes()).hexdigest()
    saved = json.loads(stamp.read_text()) if stamp.exists() and not rebuild else {}
    if base.exists() and saved.get("posts") == posts and saved.get("seed") == DB_SEED:
        took = saved.get("build_seconds")
        print(f"reusing {base} ({posts:,} posts; built on {saved.get('built_at', '?')} in"
              f" {f'{took:.0f} s' if took else 'an unrecorded time'})", flush=True)  # fmt: skip
        if saved.get("scale_py") != digest:
            print("  (bench/scale.py has changed since it was built: --rebuild to use it)")
        if saved.get("spread") != SPREAD:
            spread(base)
            stamp.write_text(json.dumps(saved | {"spread": SPREAD}) + "\n")
        return base
    folder.mkdir(parents=True, exist_ok=True)
    for done in (base, private_path(base), stamp):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{done}{suffix}").unlink(missing_ok=True)
    began, now = time.perf_counter(), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    topics = load_topics(ROOT / "topics.yaml")
    scale.build_streamed(base, posts, DB_SEED, topics, now)  # a million do not fit in memory
    written = time.perf_counter()
    print(f"wrote {posts:,} posts in {written - began:.0f} s; voice retag", flush=True)
    scale.run_voice(
        "voice retag", posts, "retag", "--config", str(ROOT / "feeds.yaml"), "--db", str(base)
    )
    tagged = time.perf_counter()
    spread(base)
    for done in (base, private_path(base)):  # self-contained files to copy
        with closing(sqlite3.connect(done)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    seconds = time.perf_counter() - began
    parts = {"write_seconds": round(written - began), "retag_seconds": round(tagged - written)}
    key = {"posts": posts, "seed": DB_SEED, "scale_py": digest, "built_at": now, "spread": SPREAD}
    stamp.write_text(json.dumps(key | parts | {"build_seconds": round(seconds)}) + "\n")
    print(f"built {base} in {seconds:.0f} s (writing {parts['write_seconds']} s, voice retag"
          f" {parts['retag_seconds']} s)", flush=True)  # fmt: skip
    return base


def run_scenario(
    scenario: Scenario, base: Path, folder: Path, config: Path, args: argparse.Namespace
) -> tuple[ScenarioResult, dict[str, Any]]:
    """A fresh copy of the database, a fresh Datasette, the window, then everything stopped."""
    db = folder / "voice.db"  # the file's stem is the database's name in every URL
    for source, target in ((base, db), (private_path(base), private_path(db))):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        if source.exists():
            shutil.copyfile(source, target)
    slug, code = scenario.name.replace(" + ", "-"), code_state()
    with ExitStack() as stack:
        port = free_port()
        serve = ["serve", "--db", str(db), "--port", str(port)]
        datasette = stack.enter_context(started(serve, folder / f"datasette-{slug}.log"))
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, datasette)
        timed_alone = alone(url, args.timeout)
        plugins = sorted(p["name"] for p in httpx.get(url + "/-/plugins.json").json())
        versions = httpx.get(url + "/-/versions.json").json()
        fetch, fetch_log = None, folder / f"fetch-{slug}.log"
        if scenario.fetch:
            fetch_args = ["fetch", "--all", "--allow-private-hosts", "--config", str(config)]
            fetch = stack.enter_context(started([*fetch_args, "--db", str(db)], fetch_log))
        groups = {"datasette": datasette.pid} | ({"fetch": fetch.pid} if fetch else {})
        window, samples, hostile_log, cores = asyncio.run(drive(url, scenario, args, groups, fetch))
        result = ScenarioResult(
            scenario.name,
            window,
            samples,
            hostile_log,
            alone=timed_alone,
            plugins=plugins,
            code=code,
        )
        result.cores = cores
        if fetch is not None:
            lines = fetch_log.read_text(errors="replace").splitlines()
            code = fetch.poll()
            result.fetch = {
                "finished": code is not None,
                "exit_code": code,
                "output": lines[-1] if lines else "",
            }
    return result, {k: versions[k]["version"] for k in ("datasette", "sqlite")}


def run_bursts(base: Path, folder: Path, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """bench/burst.py's bursts on a fresh Datasette serving the database itself (reads only)."""
    values = base_values(base)
    rnd = random.Random(args.seed)
    mix = [MIX[k].format(id=rnd.randint(1, args.posts)) for _ in range(50) for k in MIX]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with started(["serve", "--db", str(base), "--port", str(port)], folder / "burst.log") as proc:
        wait_ready(url, proc)
        paths = burst.reader_paths(values)
        rows = {"reader, just started": burst.burst(url, paths, args.clients, args.burst)}
        burst.touch(base)  # as a fetch that stored a post: every kept answer is out of date
        rows["reader, after a write"] = burst.burst(url, paths, args.clients, args.burst)
        rows["reader, unchanged"] = burst.burst(url, paths, args.clients, args.burst)
        rows["researchers"] = burst.burst(url, mix, args.clients, args.burst // 4, bar=False)
    burst.print_bursts(rows, args.clients)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000, help="posts in the database")
    parser.add_argument("--seconds", type=float, default=60, help="window per scenario, at most")
    parser.add_argument("--clients", type=int, default=20, help="concurrent reader clients")
    parser.add_argument("--timeout", type=float, default=30, help="seconds per request")
    parser.add_argument("--feeds", type=int, default=500, help="feeds in the fetched corpus")
    parser.add_argument("--entries", type=int, default=20, help="entries per corpus feed")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the database anyway")
    parser.add_argument("--out", type=Path, default=BENCH / "output", help="output folder")
    parser.add_argument("--burst", type=int, default=2000, help="requests in each burst (0: none)")
    parser.add_argument(
        "--only-bursts", action="store_true", help="no scenarios (writes bursts-N.json)"
    )
    args = parser.parse_args(argv)
    if min(args.posts, args.clients, args.feeds, args.entries) < 1 or args.seconds <= 0:
        parser.error("--posts, --clients, --feeds, --entries and --seconds must be positive")
    folder = args.out / "load"
    folder.mkdir(parents=True, exist_ok=True)
    base = prepare_base(args.out, args.posts, args.rebuild)
    if args.only_bursts:
        out = {"settings": {"posts": args.posts, "clients": args.clients, "code": code_state()}}
        out["bursts"] = run_bursts(base, folder, args)
        (args.out / f"bursts-{args.posts}.json").write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {args.out / f'bursts-{args.posts}.json'}")
        return 0
    corpus = Corpus(folder / "feeds", args.feeds, args.entries, seed=args.seed)
    corpus.write_base(mtime=time.time() - 3600)
    results: list[ScenarioResult] = []
    with FeedServer(corpus.directory, gzip=True) as server:
        config = folder / "feeds.yaml"
        # As bench/run.py: one local server stands for many hosts, so no politeness gap.
        config.write_text(
            "settings:\n  host_gap_seconds: 0\nfeeds:\n"
            + "".join(
                f"  - url: {server.url(f.filename)}\n    region: National\n" for f in corpus.feeds
            )
        )
        for scenario in SCENARIOS:
            print(f"[{time.strftime('%H:%M:%S')}] {scenario.name}", flush=True)
            result, versions = run_scenario(scenario, base, folder, config, args)
            results.append(result)
    # Others may change the code or add a plugin while this runs: say so rather than guess.
    code = results[0].code
    if any(r.code != code for r in results):
        code = "changed during the run: " + "; ".join(f"{r.name} {r.code}" for r in results)
    print(f"\ncode measured: {code}")
    seen = {", ".join(r.plugins) for r in results}
    plugins = (
        seen.pop()
        if len(seen) == 1
        else "; ".join(f"{r.name}: {', '.join(r.plugins)}" for r in results)
    )
    print(
        f"\n{args.posts:,} posts, {args.clients} clients, at most {args.seconds:g} s a scenario,"
        f" corpus {args.feeds} x {args.entries}, {os.cpu_count()} cores; Datasette"
        f" {versions['datasette']}, SQLite {versions['sqlite']}; plugins: {plugins}"
    )
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "rebuild")}
    settings |= {
        "cores": os.cpu_count(),
        "plugins": plugins,
        "code": code,
        "versions": versions,
        "mix": MIX,
        "hostile_sql": HOSTILE_SQL,
    }
    runs = [
        {
            "name": r.name,
            "seconds": round(r.seconds, 2),
            "cores": r.cores,
            "plugins": r.plugins,
            "code": r.code,
            "alone": {k: {"ms": round(v.ms, 1), "outcome": v.outcome} for k, v in r.alone.items()},
            "fetch": r.fetch,
            "hostile": r.hostile,
            "by_request": {k: summarise([s for s in r.samples if s.kind == k]) for k in MIX},
        }
        for r in results
    ]
    out = {"settings": settings, **report(results, MIX), "runs": runs}
    if args.burst:
        out["bursts"] = run_bursts(base, folder, args)
    (args.out / "load.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {args.out / 'load.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
