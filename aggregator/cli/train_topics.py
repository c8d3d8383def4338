"""`voice train-topics`: rebuild the topic model from the labelled set's development part.

Reads tests/data/eval (gold.json, feeds.yaml and the feed files, parsed with
Voice's own parser), keeps only the posts whose `split` is `dev` (the
held-out part is never read), and writes aggregator/analysis/topic_model.json.
The same data gives the same file, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from aggregator.analysis.tagging import model_features, post_words
from aggregator.analysis.topic_training import FOLDS, Example, train
from aggregator.analysis.vocabulary import vocabulary_from_data
from aggregator.cli.options import one_line_errors
from aggregator.errors import ConfigError
from aggregator.models import EntryData, ParseJob
from aggregator.registry.feeds import parse_registry
from aggregator.registry.topics import MODEL_PATH
from aggregator.registry.yamlsafe import load_yaml

TRAINING_PART = "dev"


def development_posts(data: Path) -> list[tuple[EntryData, tuple[str, ...], dict[str, Any]]]:
    """The development part's posts: (entry as parsed, the blog's defaults, gold record)."""
    return labelled_posts(data, TRAINING_PART)


def labelled_posts(
    data: Path, part: str | None
) -> list[tuple[EntryData, tuple[str, ...], dict[str, Any]]]:
    """One part's posts (every post when `part` is None), in gold.json's order."""
    from aggregator.parsing.parse import parse_feed

    gold = json.loads((data / "gold.json").read_text("utf-8"))
    posts = [p for p in gold["posts"] if part is None or p["split"] == part]
    registry_text = (data / "feeds.yaml").read_text("utf-8").replace("{base}", "http://eval")
    registry = parse_registry(registry_text, data / "feeds.yaml")
    defaults = {s.url.rsplit("/", 1)[1]: tuple(s.topics) for s in registry.feeds}
    entries = {}
    for feed in sorted({p["feed"] for p in posts}):
        job = ParseJob(
            body=(data / "feeds" / feed).read_bytes(),
            url=f"http://eval/{feed}",
            content_type=None,
            fetched_at="2025-01-01T00:00:00Z",
            max_entries=10_000,
        )
        for entry in parse_feed(job).entries:
            entries[(feed, entry.guid)] = entry
    return [(entries[(p["feed"], p["guid"])], defaults.get(p["feed"], ()), p) for p in posts]


def development_examples(data: Path, vocabulary_path: Path) -> tuple[list[Example], list[str]]:
    """The development part's posts as training examples, and the vocabulary's slugs."""
    vocabulary = vocabulary_from_data(load_yaml(vocabulary_path.read_text("utf-8"), "safe"))
    posts = development_posts(data)
    # A copy's fold is its original's blog: the model never sees a post's twin.
    home = {p["cluster"]: p["feed"] for _, _, p in posts if p["cluster"] and p.get("canonical")}
    index = {slug: i for i, slug in enumerate(vocabulary.slugs)}
    examples = []
    for entry, defaults, p in posts:
        unknown = [t for t in p["topics"] if t not in index]
        if unknown:
            raise ConfigError(f"gold.json: {p['feed']} {p['guid']}: unknown topics {unknown}")
        rows = model_features(entry.title, entry.text, entry.categories, defaults, vocabulary)
        examples.append(
            Example(
                rows=tuple(rows),
                labels=frozenset(index[t] for t in p["topics"]),
                group=home.get(p["cluster"], p["feed"]) if p["cluster"] else p["feed"],
                defaults=frozenset(index[t] for t in defaults if t in index),
                words=post_words(entry.title, entry.text),
            )
        )
    return examples, list(vocabulary.slugs)


@click.command("train-topics")
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("tests/data/eval"),
    show_default=True,
    help="The labelled set; only its development part is read.",
)
@click.option(
    "--topics",
    "topics_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=Path("topics.yaml"),
    show_default=True,
    help="The vocabulary the labels use.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=MODEL_PATH,
    help="Where to write the model  [default: aggregator/analysis/topic_model.json]",
)
@one_line_errors
def train_topics(data: Path, topics_path: Path, out: Path) -> None:
    """Rebuild the topic model from the labelled set's development part."""
    examples, slugs = development_examples(data, topics_path)
    model, cv = train(examples, slugs)
    out.write_text(json.dumps(model, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    click.echo(
        f"{out}: trained on {len(examples)} development posts;"
        f" {FOLDS}-fold cross-validation by blog: macro-F1 {cv.macro_f1:.3f},"
        f" precision {cv.precision:.3f}, recall {cv.recall:.3f}"
    )
