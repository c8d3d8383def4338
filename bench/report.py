"""The benchmark's measured cycles, its table and its targets (see bench/run.py)."""

from __future__ import annotations

from dataclasses import dataclass

CYCLES = ("cold", "warm", "changed")
MEMORY_LIMIT_MB = 300.0


@dataclass
class CycleResult:
    """One measured run of one tool; CPU and memory include the tool's own children."""

    tool: str
    cycle: str
    wall_s: float
    user_s: float
    sys_s: float
    peak_mb: float
    exit_code: int
    stored: int
    expected: int
    new_posts: int
    output: str
    server_cpu_s: float  # the feed server's CPU (in run.py's own process) meanwhile

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def posts_per_s(self) -> float:
        return self.new_posts / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def correct(self) -> bool:
        return self.exit_code == 0 and self.stored == self.expected


def ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}" if b > 0 else "     -"


def print_table(results: list[CycleResult]) -> None:
    by = {(r.tool, r.cycle): r for r in results}
    head = f"{'wall s':>8} {'CPU s':>8} {'posts/s':>8} {'peak MB':>8}"
    print()
    print(f"{'':8} | {'Voice':^35} | {'reader':^35} | {'Voice/reader':^13}")
    print(f"{'cycle':8} | {head} | {head} | {'wall':>6} {'CPU':>6}")
    print("-" * 110)
    for cycle in CYCLES:
        cells = []
        for tool in ("voice", "reader"):
            r = by.get((tool, cycle))
            cells.append(
                f"{r.wall_s:8.2f} {r.cpu_s:8.2f} {r.posts_per_s:8.0f} {r.peak_mb:8.1f}"
                if r
                else f"{'-':>8} {'-':>8} {'-':>8} {'-':>8}"
            )
        v, r = by.get(("voice", cycle)), by.get(("reader", cycle))
        ratios = f"{ratio(v.wall_s, r.wall_s)} {ratio(v.cpu_s, r.cpu_s)}" if v and r else ""
        print(f"{cycle:8} | {cells[0]} | {cells[1]} | {ratios}")
    print("(peak MB is ru_maxrss: the largest single process, the tool or one of its workers)")


def check_targets(results: list[CycleResult]) -> list[dict[str, object]]:
    """Print the issue's targets as PASS/FAIL (SKIP without reader); return them for JSON."""
    by = {(r.tool, r.cycle): r for r in results}
    voice = {c: by[("voice", c)] for c in CYCLES}
    targets: list[dict[str, object]] = []

    def target(name: str, value: float, limit: float | None, strict: bool = False) -> None:
        if limit is None:
            status = "SKIP"
        else:
            status = "PASS" if (value < limit if strict else value <= limit) else "FAIL"
        limit_text = "-" if limit is None else f"{limit:.2f}"
        targets.append({"target": name, "status": status, "value": value, "limit": limit})
        print(f"{status}  {name}: {value:.2f} (limit {limit_text})")

    def reader(cycle: str, attr: str, factor: float = 1.0) -> float | None:
        r = by.get(("reader", cycle))
        return getattr(r, attr) * factor if r else None

    print()
    target("cold CPU s <= 1/3 of reader's", voice["cold"].cpu_s, reader("cold", "cpu_s", 1 / 3))
    target("cold wall s <= 1/5 of reader's", voice["cold"].wall_s, reader("cold", "wall_s", 1 / 5))
    for cycle in ("warm", "changed"):
        target(f"{cycle} CPU s < reader's", voice[cycle].cpu_s, reader(cycle, "cpu_s"), strict=True)
    peak = max(r.peak_mb for r in voice.values())
    target(f"Voice peak memory MB < {MEMORY_LIMIT_MB:.0f}", peak, MEMORY_LIMIT_MB, strict=True)
    return targets


def wall_floor(parse_s: float, writer_s: float, cores: int) -> float:
    """The least wall time for `parse_s` of work split over two parse processes and
    `writer_s` in the one SQLite writer, on `cores` cores.

    Three processes can keep at most three cores busy; the writer's work is
    serial, and each parse process takes half the parsing.
    """
    return max((parse_s + writer_s) / min(cores, 3), writer_s, parse_s / 2)


def print_floor(floor: dict[str, float], reader_cold: CycleResult | None, cores: int) -> None:
    """The floor's parts in ms per entry, and their sums as fractions of reader's cold cycle."""
    entries = max(int(floor["entries"]), 1)
    required = ("feedparser_s", "nh3_s", "sqlite_fts_s")
    later = ("tagging_s", "sketch_s")
    for key in (*required, *later):
        print(
            f"  {key[:-2]:12} {floor[key]:6.2f} s CPU  {floor[key] / entries * 1000:6.3f} ms/entry"
        )
    base = sum(floor[k] for k in required)
    full = base + sum(floor[k] for k in later)
    if reader_cold is None:
        print(f"  required parts {base:.2f} s CPU; with tagging and sketches {full:.2f} s")
        return
    writer = floor["sqlite_fts_s"]
    base_wall = wall_floor(base - writer, writer, cores)
    full_wall = wall_floor(full - writer, writer, cores)
    cpu, wall = reader_cold.cpu_s, reader_cold.wall_s
    print(
        f"  feedparser + nh3 + SQLite/FTS5: {base:5.2f} s CPU = {base / cpu:.2f} of reader's cold "
        f"CPU (target 0.33); on {cores} cores at best {base_wall:.2f} s wall = "
        f"{base_wall / wall:.2f} of its wall (target 0.20)"
    )
    print(
        f"  ... + tagging and sketches:     {full:5.2f} s CPU = {full / cpu:.2f} of reader's cold "
        f"CPU; at best {full_wall:.2f} s wall = {full_wall / wall:.2f} of its wall"
    )
