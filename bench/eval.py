"""`make eval`: run the whole pipeline over the labelled set and score it.

Serves tests/data/eval/feeds on 127.0.0.1, fetches them with `update_feeds`
(parse workers, tagging with topics.yaml, deduplication, SQLite), and compares
what was stored with tests/data/eval/gold.json:

- deduplication: pairwise precision, recall and F1 over "these two posts are
  one" (posts are one when they share a canonical post);
- topics: micro and macro F1 over the vocabulary, and F1 per topic.

    .venv/bin/python bench/eval.py
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

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "tests" / "data" / "eval"
sys.path.insert(0, str(ROOT))

from aggregator.registry.feeds import parse_registry  # noqa: E402
from aggregator.registry.topics import load_topics  # noqa: E402
from aggregator.update import update_feeds  # noqa: E402
from tests.support.feedserver import FeedServer  # noqa: E402


@dataclass(frozen=True)
class Scores:
    dedupe_precision: float
    dedupe_recall: float
    dedupe_f1: float
    topic_micro_f1: float
    topic_macro_f1: float
    per_topic: dict[str, float]
    posts: int
    false_pairs: tuple[tuple[str, str], ...]
    missed_pairs: tuple[tuple[str, str], ...]


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


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


def score(db: Path) -> Scores:
    gold = json.loads((EVAL / "gold.json").read_text(encoding="utf-8"))
    conn = sqlite3.connect(db)
    stored = {
        (url.rsplit("/", 1)[1], guid): (post_id, root, json.loads(topics))
        for post_id, url, guid, root, topics in conn.execute(
            "SELECT posts.id, feeds.url, posts.guid, coalesce(duplicate_of, posts.id), posts.topics"
            " FROM posts JOIN feeds ON feeds.id = posts.feed_id"
        )
    }
    conn.close()
    posts = gold["posts"]
    missing = [(p["feed"], p["guid"]) for p in posts if (p["feed"], p["guid"]) not in stored]
    if missing:
        raise SystemExit(f"not stored: {missing[:5]}")
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

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    for p in posts:
        got, want = set(stored[(p["feed"], p["guid"])][2]), set(p["topics"])
        for t in got & want:
            counts[t][0] += 1
        for t in got - want:
            counts[t][1] += 1
        for t in want - got:
            counts[t][2] += 1
    per_topic = {}
    for topic, (tp, fp, fn) in sorted(counts.items()):
        per_topic[topic] = _f1(
            tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0
        )
    tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
    micro = _f1(tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0)
    macro = sum(per_topic.values()) / len(per_topic) if per_topic else 0.0
    return Scores(
        precision,
        recall,
        _f1(precision, recall),
        micro,
        macro,
        per_topic,
        len(posts),
        tuple(sorted(predicted - expected)),
        tuple(sorted(expected - predicted)),
    )


def evaluate() -> Scores:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "voice.db"
        run_pipeline(db)
        return score(db)


def main() -> int:
    s = evaluate()
    print(f"labelled set: {s.posts} posts, tests/data/eval")
    print(
        f"deduplication  precision {s.dedupe_precision:.3f}  recall {s.dedupe_recall:.3f}"
        f"  F1 {s.dedupe_f1:.3f}   (targets: precision >= 0.98, recall >= 0.90)"
    )
    print(
        f"topics         micro F1 {s.topic_micro_f1:.3f}  macro F1 {s.topic_macro_f1:.3f}"
        "   (target: macro F1 >= 0.75)"
    )
    for topic, f1 in s.per_topic.items():
        print(f"  {topic:24} F1 {f1:.3f}")
    for a, b in s.false_pairs:
        print(f"  wrongly joined: {a}  ~  {b}")
    for a, b in s.missed_pairs:
        print(f"  missed copy:    {a}  ~  {b}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
