"""Evidence of copying: a link above the post's own address names where it lives."""

from __future__ import annotations

import pytest

from aggregator.analysis.evidence import evidence_url, says_it_is_a_copy

POST = "https://medium.com/local-data-guild/addresses-in-the-pub-8c1e4f2a7b90?source=rss---4"
BODY = "<p>" + "We met in the pub to talk about addresses and gazetteers. " * 8 + "</p>"
FOOTER = (
    '<hr><p><a href="https://medium.com/local-data-guild/addresses-in-the-pub-8c1e4f2a7b90">'
    "Addresses in the pub</a> was originally published in "
    '<a href="https://medium.com/local-data-guild">Local Data Guild</a> on Medium, where '
    "people are continuing the conversation by highlighting and responding to this story.</p>"
)


def test_a_medium_publication_footer_is_no_evidence_of_copying() -> None:
    """Every post of a publication carries it: taken as evidence, it folded a
    publication's posts into one (the labelled set's local-data-guild.rss)."""
    assert evidence_url(BODY + FOOTER, POST) is None


def test_a_claim_naming_another_post_on_the_same_host_still_counts() -> None:
    claim = (
        '<p>Originally published at <a href="https://medium.com/@sam/why-we-map-1a2b3c">'
        "Sam's blog</a></p>"
    )
    assert evidence_url(BODY + claim, POST) == "medium.com/@sam/why-we-map-1a2b3c"


@pytest.mark.parametrize(
    ("title", "text", "says"),
    [
        pytest.param("Guest post: blue badges", "Our service.", True, id="guest-post-title"),
        pytest.param("Cross-post: blue badges", "Our service.", True, id="cross-post-title"),
        pytest.param("Blue badges", "This is a guest post by Jo Bloggs.\nOur service.", True,
                     id="intro-guest-post"),
        pytest.param("Blue badges", "Our service.\nThis post first appeared on Jo's blog.", True,
                     id="outro-first-appeared"),
        pytest.param("Blue badges", "Cross-posted from the team blog.\nOur service.", True,
                     id="intro-cross-posted"),
        pytest.param("Blue badges", "Our service. " * 80 + "A guest post follows. " + "More. " * 80,
                     False, id="mentioned-in-the-middle"),
        pytest.param("Why guest posts matter", "We love guests.", False,
                     id="guest-post-later-in-the-title"),
        pytest.param("Blue badges", "Her post struck a chord, so we're republishing it here "
                     "with her permission.\nOur service.", True, id="intro-republishing"),
        pytest.param("Blue badges", "Our service.\nRepublished with the author's permission.",
                     True, id="outro-republished"),
        pytest.param("Blue badges", "Our service. " * 80 + "We republished the data. "
                     + "More. " * 80, False, id="republished-in-the-middle"),
        pytest.param("Blue badges", "Our service.", False, id="nothing-said"),
    ],
)  # fmt: skip
def test_says_it_is_a_copy(title: str, text: str, says: bool) -> None:
    assert says_it_is_a_copy(title, text) is says
