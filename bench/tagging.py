"""CPU per post of topic tagging: the old rules against today's tagger, in one run.

    .venv/bin/python bench/tagging.py [--rounds 20]

Tags the development part of the labelled set (tests/data/eval, parsed with
Voice's parser; the held-out part is not read), as the parse workers do,
three ways interleaved round by round so all see the same machine:

- old rules: topics.yaml's rules alone as Voice ran them before the model
  (bench/old_rules.py, a frozen copy): issue 12's budget;
- rules alone: today's `tagging.topics_for` without the model (it shares the
  tokeniser, so it gets faster with it);
- rules + model: today's `tagging.topics_for` with the committed model.

Prints the best round's time per post for each and the model's ratio to the
old rules. The budget (issue 12): no more than the old rules (about 0.2 ms a
post in the workers), aim 0.1 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregator.analysis.tagging import topics_for  # noqa: E402
from aggregator.analysis.vocabulary import Vocabulary  # noqa: E402
from aggregator.cli.train_topics import development_posts  # noqa: E402
from aggregator.registry.topics import load_topics  # noqa: E402
from bench import old_rules  # noqa: E402

Post = tuple[str, str, tuple[str, ...], tuple[str, ...]]


def best_per_post(posts: list[Post], vocabulary: Vocabulary, tag=topics_for) -> float:
    """Seconds per post of one pass over `posts`."""
    start = time.perf_counter()
    for title, text, categories, defaults in posts:
        tag(title, text, categories, defaults, vocabulary)
    return (time.perf_counter() - start) / len(posts)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    posts = [
        (entry.title, entry.text, entry.categories, defaults)
        for entry, defaults, _ in development_posts(ROOT / "tests" / "data" / "eval")
    ]
    rules = load_topics(ROOT / "topics.yaml", with_model=False)
    model = load_topics(ROOT / "topics.yaml")
    runs = {
        "old": lambda: best_per_post(posts, rules, old_rules.topics_for),
        "rules": lambda: best_per_post(posts, rules),
        "model": lambda: best_per_post(posts, model),
    }
    for run in runs.values():  # warm the stemmer's cache, as a worker's is
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            times[name].append(run())
    best = {name: min(values) for name, values in times.items()}
    words = sum(len(text.split()) for _, text, _, _ in posts) / len(posts)
    print(f"tagging {len(posts)} development posts (mean {words:.0f} words), best of {args.rounds}")
    for name, label in (("old", "old rules"), ("rules", "rules alone"), ("model", "rules + model")):
        print(f"  {label:16}{best[name] * 1e3:8.3f} ms a post")
    print(f"  model / old rules {best['model'] / best['old']:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
