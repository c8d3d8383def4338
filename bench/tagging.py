"""CPU per post of topic tagging: the rules alone against the trained model, in one run.

    .venv/bin/python bench/tagging.py [--rounds 20]

Tags the development part of the labelled set (tests/data/eval, parsed with
Voice's parser; the held-out part is not read) with `tagging.topics_for`, as
the parse workers do, first with topics.yaml's rules alone, then with the
committed topic model, interleaved round by round so both see the same
machine. Prints the best round's time per post for each and their ratio. The
budget (issue 12): no more than the rules (about 0.2 ms a post), aim 0.1 ms.
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

Post = tuple[str, str, tuple[str, ...], tuple[str, ...]]


def best_per_post(posts: list[Post], vocabulary: Vocabulary) -> float:
    """Seconds per post of one pass over `posts`."""
    start = time.perf_counter()
    for title, text, categories, defaults in posts:
        topics_for(title, text, categories, defaults, vocabulary)
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
    for vocabulary in (rules, model):  # warm the stemmer's cache, as a worker's is
        best_per_post(posts, vocabulary)
    times: dict[str, list[float]] = {"rules": [], "model": []}
    for _ in range(args.rounds):
        times["rules"].append(best_per_post(posts, rules))
        times["model"].append(best_per_post(posts, model))
    best = {name: min(values) for name, values in times.items()}
    words = sum(len(text.split()) for _, text, _, _ in posts) / len(posts)
    print(f"tagging {len(posts)} development posts (mean {words:.0f} words), best of {args.rounds}")
    for name, label in (("rules", "rules alone"), ("model", "rules + model")):
        print(f"  {label:16}{best[name] * 1e3:8.3f} ms a post")
    print(f"  model / rules   {best['model'] / best['rules']:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
