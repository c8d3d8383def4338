"""How the post page says why a post has a topic (plugins/voice_pages.topic_reason)."""

from __future__ import annotations

import pytest

from plugins import voice_pages


@pytest.mark.parametrize(
    ("source", "evidence", "said"),
    [
        ("rules", ["peer review"],
         "from words and phrases in its title and text: \u201cpeer review\u201d"),
        ("category", ["co operative"],
         "from the post's own category, and its words \u201cco operative\u201d"),
        ("category", [], "from the post's own category"),
        ("feed", ["ignored"], "from the blog's usual topics"),
        ("editor", [], "set by an editor"),
    ],
)  # fmt: skip
def test_the_reason_names_its_source_and_the_words_that_counted(
    source: str, evidence: list[str], said: str
) -> None:
    """A topic from a category is not said to come from words of the category."""
    assert voice_pages.topic_reason(source, 1.0, evidence) == said
