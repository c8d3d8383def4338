"""The labelled set through the whole pipeline: the floors a regression must not cross."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_eval():  # bench/eval.py is a script, not a package module
    spec = importlib.util.spec_from_file_location("voice_eval", ROOT / "bench" / "eval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_labelled_set_meets_the_targets() -> None:
    scores = load_eval().evaluate()
    assert scores.posts >= 80
    assert scores.dedupe_precision >= 0.98, scores.false_pairs
    assert scores.dedupe_recall >= 0.90, scores.missed_pairs
    assert scores.topic_macro_f1 >= 0.75, scores.per_topic
    assert len(scores.per_topic) == 17  # every topic is both labelled and predicted somewhere


def test_rebuild_gives_the_same_clusters_as_incremental(tmp_path: Path) -> None:
    import sqlite3

    from click.testing import CliRunner

    from aggregator.cli import cli

    module = load_eval()
    db = tmp_path / "voice.db"
    module.run_pipeline(db)

    def clusters() -> list[tuple[int, int, str | None]]:
        conn = sqlite3.connect(db)
        try:
            return conn.execute(
                "SELECT id, coalesce(duplicate_of, id), duplicate_reason FROM posts ORDER BY id"
            ).fetchall()
        finally:
            conn.close()

    incremental = clusters()
    assert sum(1 for i, root, _ in incremental if i != root) >= 15
    result = CliRunner().invoke(
        cli, ["dedupe", "--rebuild", "--config", str(tmp_path / "none.yaml"), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "97 posts checked, 19 are copies of another post"
    assert clusters() == incremental
