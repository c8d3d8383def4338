"""The benchmark's measured cycles, its table and its targets (see bench/run.py)."""

from __future__ import annotations

import statistics
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
    round: int = 1  # warm and changed run several rounds (run.py --rounds)

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def posts_per_s(self) -> float:
        return self.new_posts / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def correct(self) -> bool:
        return self.exit_code == 0 and self.stored == self.expected


def typical(results: list[CycleResult]) -> dict[tuple[str, str], CycleResult]:
    """Each tool's and cycle's round of median CPU: a real run, not an average of runs.

    Warm and changed cycles last a second or two, and this machine's speed
    drifts by tens of percent over minutes, so one round of each is a coin
    toss near a line; the median of interleaved rounds is not.
    """
    rounds: dict[tuple[str, str], list[CycleResult]] = {}
    for r in results:
        rounds.setdefault((r.tool, r.cycle), []).append(r)
    return {
        key: sorted(runs, key=lambda r: r.cpu_s)[(len(runs) - 1) // 2]
        for key, runs in rounds.items()
    }


def ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}" if b > 0 else "     -"


def print_table(results: list[CycleResult]) -> None:
    """Each tool's typical round of each cycle, side by side."""
    by = typical(results)
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


# Issue 13's targets: Voice against reader in the same run, and against the floor.
COLD_CPU, COLD_WALL, WARM_CPU, CHANGED_CPU = 0.8, 0.6, 0.8, 0.6
FLOOR_FACTOR = 1.25
# The floor's parts (bench/floor.py), which add up to it, and what is printed beside them.
FLOOR_PARTS = ("feedparser_s", "normalise_s", "sketch_s", "tagging_s", "store_s")
FLOOR_ASIDES = {"nh3_s": "of normalise", "sqlite_fts_s": "bare table, for comparison"}


def floor_cpu(floor: dict[str, float]) -> float:
    return sum(floor[part] for part in FLOOR_PARTS)


FLOOR_LINE = f"cold CPU / the floor timed in the same round <= {FLOOR_FACTOR}x"


def floor_ratios(
    results: list[CycleResult], round_floors: dict[int, dict[str, float]]
) -> dict[int, float]:
    """Voice's cold CPU over the floor timed just before it, round by round.

    The machine's speed drifts by tens of percent over minutes. Timed next to
    each other, the cycle and the floor see the same machine; a floor taken
    as each part's lowest over runs minutes apart, against the cycle's median
    round, counted the drift against Voice.
    """
    return {
        r.round: r.cpu_s / floor_cpu(round_floors[r.round])
        for r in voice_colds(results)
        if round_floors.get(r.round)
    }


def voice_colds(results: list[CycleResult]) -> list[CycleResult]:
    return [r for r in results if r.tool == "voice" and r.cycle == "cold"]


def check_targets(
    results: list[CycleResult],
    floor: dict[str, float] | None = None,
    round_floors: dict[int, dict[str, float]] | None = None,
) -> list[dict[str, object]]:
    """Print the issue's targets as PASS/FAIL (SKIP without reader or floor); return them.

    Each cycle counts by its typical round; peak memory is the highest of any
    round; the floor line by the median of its rounds' ratios (floor_ratios).
    """
    by = typical(results)
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

    def reader(cycle: str, attr: str, factor: float) -> float | None:
        r = by.get(("reader", cycle))
        return getattr(r, attr) * factor if r else None

    print()
    # (cycle, measure, its label, the factor of reader's): the same line each
    for cycle, attr, label, factor in (
        ("cold", "cpu_s", "cold CPU s", COLD_CPU),
        ("cold", "wall_s", "cold wall s", COLD_WALL),
        ("warm", "cpu_s", "warm CPU s", WARM_CPU),
        ("changed", "cpu_s", "changed CPU s", CHANGED_CPU),
    ):
        target(
            f"{label} <= {factor}x reader's",
            getattr(voice[cycle], attr),
            reader(cycle, attr, factor),
        )
    peak = max(r.peak_mb for r in results if r.tool == "voice")
    target(f"Voice peak memory MB < {MEMORY_LIMIT_MB:.0f}", peak, MEMORY_LIMIT_MB, strict=True)
    # Every cold round needs its floor: dropping one would leave the line to the
    # others, and of two the median must not lean either way (statistics.median).
    ratios = floor_ratios(results, round_floors or {})
    colds = voice_colds(results)
    whole = bool(ratios) and len(ratios) == len(colds)
    target(FLOOR_LINE, statistics.median(ratios.values()) if whole else 0.0,
           FLOOR_FACTOR if whole else None)  # fmt: skip
    if ratios:
        rounds = ", ".join(f"{ratios[n]:.2f}" for n in sorted(ratios))
        missing = "" if whole else f"; {len(colds) - len(ratios)} round(s) without a floor"
        print(f"      (the median of the rounds' ratios: {rounds}{missing})")
    if floor:
        print(
            f"      (against each part's lowest time over all the rounds' floors instead:"
            f" {voice['cold'].cpu_s / floor_cpu(floor):.2f}x)"
        )
    return targets


def wall_floor(parse_s: float, writer_s: float, cores: int) -> float:
    """The least wall time for `parse_s` of work split over two parse processes and
    `writer_s` in the one SQLite writer, on `cores` cores.

    Three processes can keep at most three cores busy; the writer's work is
    serial, and each parse process takes half the parsing.
    """
    return max((parse_s + writer_s) / min(cores, 3), writer_s, parse_s / 2)


def print_floor(floor: dict[str, float], cold: dict[str, CycleResult | None], cores: int) -> None:
    """The floor's parts in ms per entry, their sum, and the cold cycles against it.

    `cold` holds Voice's and reader's cold cycles (either may be None).
    """
    entries = max(int(floor["entries"]), 1)
    for key in (*FLOOR_PARTS, *FLOOR_ASIDES):
        aside = f"  ({FLOOR_ASIDES[key]})" if key in FLOOR_ASIDES else ""
        print(
            f"  {key[:-2]:12} {floor[key]:6.2f} s CPU  "
            f"{floor[key] / entries * 1000:6.3f} ms/entry{aside}"
        )
    total = floor_cpu(floor)
    wall = wall_floor(total - floor["store_s"], floor["store_s"], cores)
    print(
        f"  floor: {total:.2f} s CPU ({total / entries * 1000:.3f} ms/entry); on {cores} cores "
        f"with two parse processes and the writer, at best {wall:.2f} s wall"
    )
    for tool in ("voice", "reader"):
        r = cold.get(tool)
        if r is not None:
            print(
                f"  {tool} cold: CPU {r.cpu_s / total:.2f}x the floor, wall {r.wall_s / wall:.2f}x"
                " its best wall"
            )


def explain(
    targets: list[dict[str, object]],
    floor: dict[str, float] | None,
    http: dict[str, float] | None,
    changed_entries: int,
    new_posts: int,
    cores: int,
) -> list[dict[str, object]]:
    """For each target that failed, the least its cycle can cost with these parts.

    The floor (bench/floor.py) is every entry's work; `http` is bench/http_floor.py's
    CPU for the cycle's fetching with httpx alone (`full`: every body, as cold;
    `conditional`: every 304, as warm). Their sum bounds what any cycle built
    on these parts costs; a bound over the limit means the line cannot pass,
    one under it means Voice's own work (the rest) is what keeps it from passing.
    The floor line (FLOOR_LINE, a ratio) is bounded like cold CPU: fetching is
    not in the floor, so httpx alone over a quarter of it would fail that line.
    `changed_entries` is how many entries the changed cycle's documents hold
    (each is parsed again); `new_posts` how many of them are new.
    """
    if not floor or not http:
        return []
    cpu, entries = floor_cpu(floor), max(floor["entries"], 1)
    per_entry, feedparser = cpu / entries, floor["feedparser_s"] / entries
    total = cpu + http["full"]
    least = {
        FLOOR_LINE: total / cpu,  # fetching is not in the floor
        "cold CPU s": total,
        # the main process fetches and writes; the parse processes do the rest
        "cold wall s": max(
            total / cores,
            wall_floor(cpu - floor["store_s"], floor["store_s"] + http["full"], cores),
        ),
        "warm CPU s": http["conditional"],
        "changed CPU s": http["conditional"]
        + feedparser * changed_entries
        + (per_entry - feedparser) * new_posts,
    }
    why = []
    for target in targets:
        name = str(target["target"])
        label = next((key for key in least if name.startswith(key)), None)
        if target["status"] != "FAIL" or label is None:
            continue
        bound, limit = least[label], float(target["limit"])  # type: ignore[arg-type]
        verdict = "cannot pass" if bound > limit else "reachable"
        if not why:
            print()
        why.append({"target": name, "least": bound, "limit": limit, "verdict": verdict})
        rest = float(target["value"]) - bound  # type: ignore[arg-type]
        print(
            f"why  {name}: the least any cycle with these parts costs is {bound:.2f}"
            f" (limit {limit:.2f}): {verdict}"
            + ("" if bound > limit else f"; Voice spends {rest:.2f} beyond it")
        )
    return why
