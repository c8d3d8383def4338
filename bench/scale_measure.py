"""bench/scale.py's measuring: a step in-process or a `voice` command as a user runs it.

Also the checks that read the database after the commands (tags assigned,
planted copies found) and issue 13's maintenance target lines.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
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


def run_voice(name: str, posts: int, *args: str, check: bool = True) -> tuple[Measure, str]:
    """A voice command in its own process; CPU and peak memory from os.wait4.

    CPU includes the command's children; peak memory is ru_maxrss, the largest
    resident set of the process or of any one child. With check=False a failed
    command is a Measure with its exit code, not the end of the run.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(VOICE), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 and check:
        raise SystemExit(f"voice {' '.join(args)} failed ({proc.returncode}):\n{out}")
    cpu = usage.ru_utime + usage.ru_stime
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    return Measure(name, wall, cpu, posts, peak, proc.returncode), out.strip()


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
