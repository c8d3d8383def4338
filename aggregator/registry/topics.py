"""Load and validate topics.yaml, the controlled vocabulary for topic tagging.

The checks themselves live in `vocabulary.vocabulary_problems` (pure, no YAML);
this module reads the file with ruamel's round-trip loader, which keeps line
numbers, and turns each problem into one line a member editing the file can act
on: "topics.yaml:12: topic 'open-data': phrases: must be a list of text", with
any value of theirs in it cut short.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aggregator.analysis.topic_model import ModelError, TopicModel, model_from_data
from aggregator.analysis.vocabulary import (
    Vocabulary,
    VocabularyError,
    VocabularyProblem,
    vocabulary_from_data,
    vocabulary_problems,
)
from aggregator.registry.feeds import ConfigErrors, read_config_text
from aggregator.registry.site import Site, optional_site
from aggregator.registry.yamlsafe import YAMLProblem, cut, cut_quoted, load_yaml, show

# The trained topic model Voice ships (built by `voice train-topics`).
MODEL_PATH = Path(__file__).resolve().parents[1] / "analysis" / "topic_model.json"


def load_model(path: Path = MODEL_PATH) -> TopicModel | None:
    """The committed topic model, or None when there is none (the rules decide alone)."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return model_from_data(json.loads(blob), hashlib.sha256(blob).hexdigest()[:12])
    except (ValueError, ModelError) as exc:
        raise ConfigErrors(path, [f"{path.name}: {exc}"]) from exc


def _line(node: Any, key: Any = None, item: int | None = None) -> int | None:
    """1-based line of a node, one of its keys or one of its items, when known."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if item is not None:
            return lc.item(item)[0] + 1
        if key is not None:
            return lc.key(key)[0] + 1
        return lc.line + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        return None


def _problem_line(data: Any, problem: VocabularyProblem) -> int | None:
    """The most precise line known for a problem: item, then key, then topic."""
    if problem.topic is None:
        return _line(data, problem.key) if problem.key is not None else None
    topics = data.get("topics")
    topic = topics[problem.topic]
    if problem.key is not None and isinstance(topic, dict) and problem.key in topic:
        if problem.item is not None:
            line = _line(topic[problem.key], item=problem.item)
            if line:
                return line
        return _line(topic, problem.key)
    return _line(topics, item=problem.topic) or _line(topic)


def _shown(problem: VocabularyProblem) -> VocabularyProblem:
    """The problem with the member's values in it cut short, so it stays one line."""
    return dataclasses.replace(
        problem,
        message=cut_quoted(problem.message),
        key=None if problem.key is None else show(problem.key, quotes=False),
        slug=None if problem.slug is None else cut(problem.slug),
    )


def parse_topics(
    text: str, path: Path = Path("topics.yaml"), *, with_model: bool = True
) -> Vocabulary:
    """Validate vocabulary text; raise ConfigErrors listing every problem with its line.

    With `with_model` (always, except in tests of the rules alone) the committed
    topic model decides which topics a post gets.

    A valid file is read with the C safe loader (every `voice run` cycle and
    `voice fetch` reads it); the round-trip loader, several times slower, is
    used only to put line numbers on problems.
    """
    try:
        return vocabulary_from_data(load_yaml(text, "safe"), load_model() if with_model else None)
    except (YAMLProblem, VocabularyError):
        pass
    try:
        data = load_yaml(text, "rt")
    except YAMLProblem as exc:
        where = f"{path.name}:{exc.line}" if exc.line else path.name
        raise ConfigErrors(path, [f"{where}: {exc.reason}"]) from exc
    try:
        return vocabulary_from_data(data)
    except VocabularyError as exc:
        lines = []
        for problem in exc.problems:
            line = _problem_line(data, problem)
            where = f"{path.name}:{line}" if line else path.name
            lines.append(f"{where}: {_shown(problem)}")
        raise ConfigErrors(path, lines) from exc


class LazyVocabulary:
    """A valid topics.yaml whose Vocabulary (tagging indexes, rules version) is built on first use.

    A warm `voice fetch` (every feed 304) tags nothing, yet building the indexes
    cost about 60 ms a start. The file and the model are read and checked now,
    so a bad file still fails before any fetch; the build itself cannot fail.
    """

    def __init__(self, data: Mapping[str, Any], model: TopicModel | None) -> None:
        self._data, self._model = data, model
        self._built: Vocabulary | None = None
        self._lock = threading.Lock()
        # what `topics` stores, as vocabulary_from_data builds each Topic
        self.rows: tuple[tuple[str, str, str], ...] = tuple(
            (raw["slug"].strip(), raw["label"].strip(), raw["description"].strip())
            for raw in data["topics"]
        )

    def get(self) -> Vocabulary:
        with self._lock:
            if self._built is None:
                self._built = vocabulary_from_data(self._data, self._model)
            return self._built


def lazy_topics(path: Path) -> LazyVocabulary:
    """load_topics(path), its Vocabulary built only when first asked for."""
    text = read_config_text(path)
    try:
        data = load_yaml(text, "safe")
    except YAMLProblem:
        data = None
    if not isinstance(data, Mapping) or vocabulary_problems(data):
        parse_topics(text, path)  # raises ConfigErrors with each problem's line
        raise AssertionError(f"{path}: failed the quick check but not parse_topics")
    return LazyVocabulary(data, load_model())


def lazy_topics_for_registry(config: Path, site: Site | None = None) -> LazyVocabulary | None:
    """topics_for_registry, with the Vocabulary built on first use (see LazyVocabulary)."""
    path = _topics_path(config, site)
    return lazy_topics(path) if path else None


def load_topics(path: Path, *, with_model: bool = True) -> Vocabulary:
    """Read and validate a topics.yaml (with the committed topic model, by default)."""
    return parse_topics(read_config_text(path), path, with_model=with_model)


def topics_for_registry(config: Path, site: Site | None = None) -> Vocabulary | None:
    """The vocabulary a registry uses: topics.yaml beside it, else the site's, else none."""
    path = _topics_path(config, site)
    return load_topics(path) if path else None


def _topics_path(config: Path, site: Site | None) -> Path | None:
    site = site or optional_site()
    candidates = [config.parent / "topics.yaml"] + ([site.topics] if site else [])
    return next((c for c in candidates if c.exists()), None)
