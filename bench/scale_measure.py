"""bench/scale.py's measuring: a step in-process or a `voice` command as a user runs it.

Also the checks that read the database after the commands (tags assigned,
planted copies found) and issue 13's maintenance target lines.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregator.analysis.tagging import topics_for
from aggregator.analysis.vocabulary import Vocabulary

ROOT = Path(__file__).resolve().parent.parent
VOICE = ROOT / ".venv" / "bin" / "voice"


@dataclass
class Measure:
    name: str
    wall: float
    cpu: float
    posts: int
    peak_mb: float | None = None  # the process's own, for commands run as a user runs them
    exit_code: int = 0

    @property
    def rate(self) -> float:
        return self.posts / self.wall if self.wall else 0.0

    @property
    def ms_per_post(self) -> float:
        return self.wall / self.posts * 1000 if self.posts else 0.0


def timed(name: str, posts: int, fn: Callable[[], Any]) -> tuple[Measure, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return Measure(name, time.perf_counter() - wall, time.process_time() - cpu, posts), result


# Starts the command from a small process and reports its rusage. Linux
# starts a child's ru_maxrss at its parent's resident size (fork copies it,
# exec keeps the high-water mark), so a command started straight from this
# benchmark, which holds hundreds of MB at a million posts, would be
# charged this process's memory instead of its own.
_LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime,
               usage.ru_maxrss], out)
"""


def run_voice(name: str, posts: int, *args: str, check: bool = True) -> tuple[Measure, str]:
    """A voice command in its own process; CPU and peak memory from os.wait4.

    CPU includes the command's children; peak memory is ru_maxrss, the largest
    resident set of the command or any one child, taken by a small launcher
    process (see _LAUNCHER). With check=False a failed command is a Measure
    with its exit code, not the end of the run.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "usage.json"
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), str(VOICE), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wall = time.perf_counter() - start
        code, cpu, maxrss_kb = json.loads(report.read_text())
    if code != 0 and check:
        raise SystemExit(f"voice {' '.join(args)} failed ({code}):\n{proc.stdout}")
    return Measure(name, wall, cpu, posts, maxrss_kb / 1024, code), proc.stdout.strip()


def tag_all(db: Path, vocabulary: Vocabulary) -> int:
    conn = sqlite3.connect(db)
    assigned = 0
    for title, text, cats in conn.execute("SELECT title, text, categories FROM posts"):
        assigned += len(topics_for(title, text, json.loads(cats), (), vocabulary))
    conn.close()
    return assigned


def copies_found(db: Path, planted: list[int]) -> dict[str, int]:
    """Planted pairs linked into one cluster, and links that are not planted pairs."""
    pairs = [(f"guid:copy-{j}", f"guid:post-{k}") for j, k in enumerate(planted)]
    wanted = {key for pair in pairs for key in pair}
    conn = sqlite3.connect(db)
    root = {
        key: dup or pid
        for pid, key, dup in conn.execute("SELECT id, entry_key, duplicate_of FROM posts")
        if key in wanted
    }
    linked = conn.execute("SELECT count(duplicate_of) FROM posts").fetchone()[0]
    conn.close()
    found = sum(1 for a, b in pairs if root[a] == root[b])
    return {"planted": len(pairs), "found": found, "linked": linked, "extra": linked - found}


PEAK_LIMIT_MB = 300


def table_line(m: Measure) -> str:
    peak = f"{m.peak_mb:.0f}" if m.peak_mb is not None else "-"
    return (
        f"| {m.name} | {m.posts:,} | {m.wall:.2f} | {m.cpu:.2f} | {m.rate:,.0f}"
        f" | {m.ms_per_post:.3f} | {peak} |"
    )


def targets(commands: list[Measure]) -> list[dict[str, Any]]:
    """Issue 13's maintenance lines: each command finishes, under PEAK_LIMIT_MB at its peak."""
    lines = []
    for m in commands:
        lines.append({
            "line": f"{m.name} finishes",
            "pass": m.exit_code == 0,
            "value": f"exit {m.exit_code}, {m.wall:.0f} s, {m.ms_per_post:.3f} ms per post",
        })  # fmt: skip
        lines.append({
            "line": f"{m.name} peak memory < {PEAK_LIMIT_MB} MB",
            "pass": m.peak_mb is not None and m.peak_mb < PEAK_LIMIT_MB,
            "value": f"{m.peak_mb:.0f} MB",
        })  # fmt: skip
    return lines


def last_run_lines(path: Path) -> list[str]:
    """The maintenance lines of an earlier run saved at `path` (make bench-1m's), if any.

    `make bench` measures 100,000 posts; this prints the million-post run's
    time per post beside it, labelled with when it ran.
    """
    if not path.exists():
        return [f"no {path.name} yet: `make bench-1m` measures a million posts"]
    saved = json.loads(path.read_text())
    lines = [f"last {path.name} ({saved['posts']:,} posts, run {saved.get('run_at', '?')}):"]
    for m in saved["measures"]:
        lines.append(
            f"  {m['name']}: {m['ms_per_post']:.3f} ms per post, {m['wall']:,.0f} s,"
            f" peak {m['peak_mb']:.0f} MB, exit {m['exit_code']}"
        )
    return lines
