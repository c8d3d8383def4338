"""`make eval`: run the whole pipeline over the labelled set and score each part.

Serves tests/data/eval/feeds on 127.0.0.1, fetches them with `update_feeds`
(parse workers, tagging with topics.yaml, deduplication, SQLite), and compares
what was stored with tests/data/eval/gold.json, separately for each part
(each post's `split`, see tests/data/eval/README.md):

- `dev`: the part rules and parameters may be chosen on;
- `held-out`: never used to choose anything; it says how Voice does on posts
  and blogs it was not tuned on. A gap between the two is a finding. Its
  duplicates were examined once, after a run missed a repost (issue 12);
- `held-out-2`: written after that, by authors who saw neither the rules nor
  the other parts, and never examined: the duplicate figures to trust.

The held-out targets are judged on both held-out parts together ("held-out
all"), with each part's figures beside them.

Scores per part:

- deduplication: pairwise precision, recall and F1 over "these two posts are
  one" (posts are one when they share a canonical post), for pairs inside the
  part; look-alike pairs merged; links made across the two parts (always wrong);
- topics: precision, recall, micro and macro F1 over the vocabulary, F1 per topic.

    .venv/bin/python bench/eval.py             # both parts, side by side
    .venv/bin/python bench/eval.py --dev-only  # while choosing rules: the held-out part unseen
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "tests" / "data" / "eval"
MODEL = ROOT / "aggregator" / "analysis" / "topic_model.json"
sys.path.insert(0, str(ROOT))

from aggregator.registry.feeds import parse_registry  # noqa: E402
from aggregator.registry.topics import load_topics  # noqa: E402
from aggregator.update import update_feeds  # noqa: E402
from tests.support.feedserver import FeedServer  # noqa: E402

SPLITS = ("dev", "held-out", "held-out-2")
HELD_OUT = ("held-out", "held-out-2")
ALL_HELD_OUT = "held-out all"  # both held-out parts scored as one
# The held-out targets of issue 12.
TARGETS = {
    "dedupe_precision": 0.99,
    "dedupe_recall": 0.97,
    "topic_macro_f1": 0.80,
    "topic_min_f1": 0.60,
    "topic_precision": 0.80,
}

Key = tuple[str, str]  # (feed file, guid)


@dataclass(frozen=True)
class Scores:
    posts: int
    dedupe_precision: float
    dedupe_recall: float
    dedupe_f1: float
    lookalikes_merged: tuple[tuple[str, str], ...]
    topic_precision: float
    topic_recall: float
    topic_micro_f1: float
    topic_macro_f1: float
    per_topic: dict[str, float]
    false_pairs: tuple[tuple[str, str], ...]
    missed_pairs: tuple[tuple[str, str], ...]

    @property
    def topic_min_f1(self) -> float:
        return min(self.per_topic.values()) if self.per_topic else 0.0


@dataclass(frozen=True)
class Report:
    parts: dict[str, Scores]
    across: tuple[tuple[str, str], ...]  # predicted copies whose posts are in different parts


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def gold() -> dict[str, Any]:
    return json.loads((EVAL / "gold.json").read_text(encoding="utf-8"))


def run_pipeline(db: Path) -> None:
    text = (EVAL / "feeds.yaml").read_text(encoding="utf-8")
    with FeedServer(EVAL / "feeds") as server:
        registry = parse_registry(text.replace("{base}", server.base_url), EVAL / "feeds.yaml")
        update_feeds(
            registry,
            db,
            due_only=False,
            allow_private_hosts=True,
            vocabulary=load_topics(ROOT / "topics.yaml"),
        )


def stored_posts(db: Path) -> dict[Key, tuple[int, int, list[str]]]:
    """(feed file, guid) -> (post id, canonical id, topics) as the pipeline stored them."""
    conn = sqlite3.connect(db)
    try:
        return {
            (url.rsplit("/", 1)[1], guid): (post_id, root, json.loads(topics))
            for post_id, url, guid, root, topics in conn.execute(
                "SELECT posts.id, feeds.url, posts.guid, coalesce(duplicate_of, posts.id),"
                " posts.topics FROM posts JOIN feeds ON feeds.id = posts.feed_id"
            )
        }
    finally:
        conn.close()


def score_part(
    posts: list[dict[str, Any]],
    stored: dict[Key, tuple[int, int, list[str]]],
    lookalikes: list[tuple[Key, Key]],
) -> Scores:
    names = {(p["feed"], p["guid"]): f"{p['feed']}:{p['title']}" for p in posts}
    predicted, expected = set(), set()
    for a, b in combinations(posts, 2):
        ka, kb = (a["feed"], a["guid"]), (b["feed"], b["guid"])
        pair = tuple(sorted((names[ka], names[kb])))
        if stored[ka][1] == stored[kb][1]:
            predicted.add(pair)
        if a["cluster"] and a["cluster"] == b["cluster"]:
            expected.add(pair)
    hits = len(predicted & expected)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(expected) if expected else 1.0
    merged = tuple(
        sorted(
            (names[a], names[b])
            for a, b in lookalikes
            if a in names and b in names and stored[a][1] == stored[b][1]
        )
    )

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    for p in posts:
        got, want = set(stored[(p["feed"], p["guid"])][2]), set(p["topics"])
        for t in got & want:
            counts[t][0] += 1
        for t in got - want:
            counts[t][1] += 1
        for t in want - got:
            counts[t][2] += 1
    per_topic = {
        topic: _f1(_ratio(tp, tp + fp), _ratio(tp, tp + fn))
        for topic, (tp, fp, fn) in sorted(counts.items())
    }
    tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
    topic_precision, topic_recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return Scores(
        posts=len(posts),
        dedupe_precision=precision,
        dedupe_recall=recall,
        dedupe_f1=_f1(precision, recall),
        lookalikes_merged=merged,
        topic_precision=topic_precision,
        topic_recall=topic_recall,
        topic_micro_f1=_f1(topic_precision, topic_recall),
        topic_macro_f1=sum(per_topic.values()) / len(per_topic) if per_topic else 0.0,
        per_topic=per_topic,
        false_pairs=tuple(sorted(predicted - expected)),
        missed_pairs=tuple(sorted(expected - predicted)),
    )


def score(db: Path) -> Report:
    labels = gold()
    stored = stored_posts(db)
    posts = labels["posts"]
    missing = [(p["feed"], p["guid"]) for p in posts if (p["feed"], p["guid"]) not in stored]
    if missing:
        raise SystemExit(f"not stored: {missing[:5]}")
    lookalikes = [((a, b), (c, d)) for a, b, c, d in labels["lookalike_pairs"]]
    parts = {
        split: score_part([p for p in posts if p["split"] == split], stored, lookalikes)
        for split in SPLITS
    }
    held = [p for p in posts if p["split"] in HELD_OUT]
    parts[ALL_HELD_OUT] = score_part(held, stored, lookalikes)
    part_of = {(p["feed"], p["guid"]): p["split"] for p in posts}
    by_root: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in posts:
        by_root[stored[(p["feed"], p["guid"])][1]].append(p)
    across = tuple(
        sorted(
            (f"{a['feed']}:{a['title']}", f"{b['feed']}:{b['title']}")
            for group in by_root.values()
            for a, b in combinations(group, 2)
            if part_of[(a["feed"], a["guid"])] != part_of[(b["feed"], b["guid"])]
        )
    )
    return Report(parts, across)


def evaluate() -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "voice.db"
        run_pipeline(db)
        return score(db)


def _row(label: str, values: list[str], target: str = "") -> str:
    cells = "".join(f"{v:>13}" for v in values)
    return f"  {label:26}{cells}" + (f"   {target}" if target else "")


def main(argv: list[str]) -> int:
    report = evaluate()
    dev_only = "--dev-only" in argv  # while choosing rules
    shown = ["dev"] if dev_only else [*SPLITS, ALL_HELD_OUT]
    parts = [report.parts[s] for s in shown]
    sizes = " + ".join(f"{report.parts[s].posts} {s}" for s in SPLITS if s in shown)
    print(f"labelled set: tests/data/eval, {sizes} posts")
    heading = {"dev": "development", "held-out": "held-out 1", "held-out-2": "held-out 2"}
    print(_row("", [heading.get(s, s) for s in shown], "held-out target"))
    rows: list[tuple[str, str, str]] = [
        ("duplicates precision", "dedupe_precision", ">= 0.99"),
        ("duplicates recall", "dedupe_recall", ">= 0.97"),
        ("duplicates F1", "dedupe_f1", ""),
        ("topics precision", "topic_precision", ">= 0.80"),
        ("topics recall", "topic_recall", ""),
        ("topics micro F1", "topic_micro_f1", ""),
        ("topics macro F1", "topic_macro_f1", ">= 0.80"),
        ("topics lowest F1", "topic_min_f1", ">= 0.60"),
    ]
    for label, name, target in rows:
        print(_row(label, [f"{getattr(s, name):.3f}" for s in parts], target))
    cv = json.loads(MODEL.read_text(encoding="utf-8"))["training"]["cross_validation"]
    print(
        f"  (the topic model learned from the development part: its figures there are"
        f" in-sample; cross-validated by blog they are precision {cv['precision']:.3f},"
        f" macro F1 {cv['macro_f1']:.3f})"
    )
    print(_row("look-alikes merged", [str(len(s.lookalikes_merged)) for s in parts], "0"))
    if not dev_only:
        print(_row("copies linked across parts", [str(len(report.across))], "0"))
    print("  per topic (F1)")
    for topic in sorted(set().union(*(s.per_topic for s in parts))):
        cells = [f"{s.per_topic.get(topic, 0.0):.3f}" for s in parts]
        print(_row(f"  {topic}", cells, f"(dev cross-validated {cv['per_topic'][topic]:.3f})"))
    for split in (s for s in shown if s != ALL_HELD_OUT):
        s = report.parts[split]
        for a, b in s.false_pairs:
            print(f"  {split}: wrongly joined: {a}  ~  {b}")
        for a, b in s.missed_pairs:
            print(f"  {split}: missed copy:    {a}  ~  {b}")
    if not dev_only:
        print(
            "  (held-out 1's duplicates were examined after a run missed a repost;"
            " held-out 2 never was)"
        )
        for a, b in report.across:
            print(f"  linked across parts: {a}  ~  {b}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
