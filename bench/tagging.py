"""CPU per post of topic tagging: the old rules against today's tagger, in one run.

    .venv/bin/python bench/tagging.py [--rounds 20]

Tags two sets of posts, parsed with Voice's parser, as the parse workers do:
the development part of the labelled set (tests/data/eval, the held-out
part is not read: short posts, about 200 words) and the posts of the cycle
benchmark (bench/corpus.py: longer, 2-6 KB of HTML, the posts on which the
issue measured "about 0.2 ms in the workers"). Each set is tagged three ways,
interleaved round by round so all see the same machine:

- old rules: topics.yaml's rules as Voice ran them when issue 12 was filed
  (bench/old_rules.py, a frozen copy of commit 70c9029): the issue's budget;
- rules alone: today's `tagging.topics_for` without the model (it shares the
  tokeniser, so it gets faster with it);
- rules + model: today's `tagging.topics_for` with the committed model.

Prints, per set, the best round's time per post for each, the model's ratio
to the old rules (the budget) and to today's rules alone (what the model
itself costs on top of the shared, faster tokeniser). The model adds a
nearly fixed cost per post (its logits and learned words), the tokeniser's
saving grows with the text, so short posts are where the budget is tightest.

The budget (issue 12): no more than the old rules (about 0.2 ms a post in
the workers), aim 0.1 ms.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.analysis.tagging import topics_for  # noqa: E402
from aggregator.analysis.vocabulary import Vocabulary  # noqa: E402
from aggregator.cli.train_topics import development_posts  # noqa: E402
from aggregator.models import ParseJob  # noqa: E402
from aggregator.parsing.parse import parse_feed  # noqa: E402
from aggregator.registry.topics import load_topics  # noqa: E402
from bench import old_rules  # noqa: E402
from bench.corpus import Corpus  # noqa: E402

Post = tuple[str, str, tuple[str, ...], tuple[str, ...]]


def best_per_post(posts: list[Post], vocabulary: Vocabulary, tag=topics_for) -> float:
    """Seconds per post of one pass over `posts`."""
    start = time.perf_counter()
    for title, text, categories, defaults in posts:
        tag(title, text, categories, defaults, vocabulary)
    return (time.perf_counter() - start) / len(posts)


def benchmark_posts(feeds: int = 20, entries: int = 20) -> list[Post]:
    """The cycle benchmark's first feeds as the parse workers read them."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Corpus(Path(tmp), feeds=feeds, entries=entries)
        posts: list[Post] = []
        for feed in corpus.feeds:
            job = ParseJob(
                body=corpus.render(feed, extra=False),
                url=f"http://bench/{feed.filename}",
                content_type=None,
                fetched_at="2025-01-01T00:00:00Z",
                max_entries=10_000,
            )
            posts.extend((e.title, e.text, e.categories, ()) for e in parse_feed(job).entries)
    return posts


def compare(label: str, posts: list[Post], rounds: int) -> dict[str, float]:
    """Best seconds per post of the three taggers on `posts`, printed as a table."""
    rules = load_topics(ROOT / "topics.yaml", with_model=False)
    model = load_topics(ROOT / "topics.yaml")
    runs = {
        "old": lambda: best_per_post(posts, rules, old_rules.topics_for),
        "rules": lambda: best_per_post(posts, rules),
        "model": lambda: best_per_post(posts, model),
    }
    for run in runs.values():  # warm the stemmers' caches, as a worker's are
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(run())
    best = {name: min(values) for name, values in times.items()}
    words = sum(len(text.split()) for _, text, _, _ in posts) / len(posts)
    print(f"tagging {len(posts)} {label} (mean {words:.0f} words), best of {rounds}")
    for name, text in (("old", "old rules"), ("rules", "rules alone"), ("model", "rules + model")):
        print(f"  {text:16}{best[name] * 1e3:8.3f} ms a post")
    print(f"  model / old rules {best['model'] / best['old']:6.2f}   (budget: at most 1.00)")
    print(f"  model / rules alone {best['model'] / best['rules']:4.2f}")
    return best


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    labelled = [
        (entry.title, entry.text, entry.categories, defaults)
        for entry, defaults, _ in development_posts(ROOT / "tests" / "data" / "eval")
    ]
    compare("development posts", labelled, args.rounds)
    compare("benchmark posts", benchmark_posts(), args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
