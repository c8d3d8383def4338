"""Cross-feed duplicates: copies that must fold, look-alikes that must not.

Texts are from the seed posts (Phil Rumens' blog, 2016; the LocalGov Digital
blog, 2014) or written in their voice.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pytest

from aggregator.analysis import hashing, sketch
from aggregator.analysis.evidence import evidence_url
from aggregator.analysis.similarity import (
    MIN_SHINGLES,
    Fingerprint,
    Match,
    choose_canonical,
    duplicate_match,
    fingerprint,
    title_numbers,
)
from aggregator.analysis.sketch import band_keys, estimated_jaccard, shingles, signature

REBOOTED = """\
LocalGov Digital has come a long way in four years. From an idea at LocalGovCamp, to a meeting of council officers at the Local Government Association, to an established group to seeking to improve council web provision, to a network of people creating better, cheaper, local public services, it's been quite a journey.

With next to nothing LocalGov Digital has led the creation of innovations that far better funded organisations have come nowhere near. LocalGov Digital created the Local Government Digital Service Standard (LGDSS) with the help of the Government Digital Service which is being adopted by a growing number of councils. Unmentoring is joining up people across the country and Pipeline is helping councils collaborate and that's just three of many.

But more needs to be done, and faster.

You can only get so far on good will and limited capital through sponsorship, so we're proposing LocalGov Digital becomes a community co-operative that everyone with an interest in thinking, doing and sharing to improve local public service provision can be a part of.

A more formal organisation means you can become part of something real; something tangible. It means the co-operative could bid for funding and it means that whether you work for a council, central government, the private sector, or yourself, you can get involved.

LocalGovCamp could become the co-operative's Annual General Meeting and the network’s regional peer groups would become local membership meetings. The co-operative would ask for a donation of £1 form each individual who wants to be part of the co-operative.

It seems in four years no formal organisation can or will be the change that's needed, so we're proposing LocalGov Digital will.

There are more details here and we need to hear your views, so please do tweet or blog about what you think or let us know through emailing feedback@localgovdigital.info."""  # noqa: E501

PUSHING_BACK = """\
Sometimes you have to push back. It won't make you popular, but when business requirements and user needs clash you have to stand up for the user.

Let me give you two examples of this.

A service delivery team wanted a new digital service so that users could register for a permit. Most of the proposed questions were simple and straightforward, but two weren't. They were: upload a copy of a recent utility bill; upload a copy of your vehicle's V5 certificate.

Asking these questions assumes that the user has access to the technology to scan or take a picture of the documents required, and also the skills required to use the technology. We asked the team to research their service users' skills and their access to technology. At present the service is being created without these two questions.

The second example is where a new law and statutory requirement meant the creation of a new digital service. The service delivery team wanted the digital service to ask around 20 questions but when we researched the legislation it turned out only 10 were actually statutory.

Whilst the 10 additional questions were there to help the service delivery team deliver a better service to the user, we suggested to the team that making users answer them wasn't really fair, given by law people had to use the service to register something. They agreed and we made the non-statutory questions optional."""  # noqa: E501

FRANCHISES = """\
Yesterday I was at the Midlands Peer Group, set up to support councils in the region use the Local Government Digital Service Standard.

The event was expertly facilitated by Julia McGinley and Kurtis Johnson, and built on the success of the London Peer Group and the Summit at City Hall the week before. I don't work in the Midlands, but there isn't a group for the South (yet) and we're starting to use the Standard at my place, so I wanted to hear from, and talk to other councils who are in the same situation.

It's exciting to see councils start to use the Standard, and I've been amazed by the speed of progress. This time last year ago it didn't exist and has come so far already in a short space of time, thanks in part to support from people in organisations like the Government Digital Service.

I think a collaborative franchise model would work well, and this is kind of how the Midlands and London groups have operated together already, with the Midlands Group taking what the London Group produced, revising it, and using it in their group.

Together we can think, do and share to create better, cheaper, public services"""  # noqa: E501

PLEDGE = (
    "We have adopted a Think, Do, Share approach to work and this focuses us on making sure "
    "that we actually deliver value on the ground, no matter how small, our approach "
    "encourages us all to think differently, do differently and share that widely across "
    "the network to help and support others."
)

WEEKNOTES_INTRO = (
    "Weeknotes are my way of working in the open: what the digital team at Northshire "
    "County Council did this week, what we learnt and what is coming next. If you want to "
    "know more about any of it, drop me a line or come and find us on the third floor. "
    "Usual disclaimer: these are my notes, not the council's official position, and they "
    "are written on a Friday afternoon with a cold cup of tea."
)
WEEKNOTES_OUTRO = (
    "That's it for this week. Thanks to everyone who came to show and tell, and to the "
    "service teams who let us sit in on their stand-ups. If you work in another council "
    "and are doing something similar, we'd love to compare notes: think, do, share."
)
WEEK_12 = (
    "This week we finished the discovery for the garden waste renewals and played back what "
    "we found to the waste team. Residents mostly want to know when their bin will be "
    "collected, not how to pay."
)
WEEK_13 = (
    "This week we started the alpha for garden waste renewals, sketching a single page that "
    "tells residents when their bin will be collected and sends them to payment last."
)

EVENT_TEMPLATE = """\
Join us for the {place} meetup of the LocalGov Digital network. It is free, informal and open to anyone working on digital public services in councils, whether you are a developer, a content designer, a service manager or just curious.

When: {when}. Where: {venue}. Hosted by {host}.

We will start with two short talks from local councils about a service they have redesigned, followed by an unconference: you pitch the sessions, we find the rooms. Bring your problems, your half-finished prototypes and your questions about the Local Government Digital Service Standard.

Tea, coffee and biscuits are provided. Let us know about any access needs when you book and we will make sure the venue works for you. Places are limited, so please book through the link below and cancel if you can no longer come so someone else can have your place."""  # noqa: E501

REFLECTIONS_2014 = """\
LocalGovCamp in Birmingham was my first, and I came away with a notebook full of ideas and a head full of names. The best session for me was on open data: a room of people from councils who had published their spending data and wanted to know whether anyone was using it.

What struck me most was how generous people were. Nobody was selling anything; people shared what had gone wrong as readily as what had worked. I have already borrowed a user research plan from a council three hundred miles away.

Next year I want to pitch a session rather than just attend them. Thanks to the organisers and the sponsors who kept us fed."""  # noqa: E501

REFLECTIONS_2016 = """\
This was my third LocalGovCamp and the first one since the network started talking about becoming a co-operative, which gave the day a different feel. The sessions I went to were less about websites and more about how councils buy things, and how we stop buying the same case management system three hundred times.

I ran a session on accessibility testing with real users. Eight people came, which felt like a lot for a Saturday, and two of them have since offered to share their testing scripts.

My one criticism is that we still mostly talk to ourselves. Next year we should bring the people who sign the contracts. Thanks to everyone who made it happen."""  # noqa: E501

PART_ONE = """\
Moving our council website to a new content management system is the biggest piece of work the web team has taken on in years, so I am going to write about it as we go. This first post is about why we decided to move at all and how we chose what to move to. The old system was fine when it was bought but every change now needs a supplier and a purchase order, and our content designers cannot fix a typo without raising a ticket.

We started with user needs rather than features. We spent two weeks with the content designers, the contact centre and a handful of residents finding out what the website is for and where it lets them down. The answer was mostly search, forms and out of date pages, none of which are solved by a new system on their own."""  # noqa: E501

PART_TWO = """\
Moving our council website to a new content management system is the biggest piece of work the web team has taken on in years, so I am going to write about it as we go. This second post is about the content audit, which turned out to be most of the work. We had four thousand pages, and nobody could say who owned half of them.

We put every page in a spreadsheet with its owner, its last update and how many people visited it last year. Eleven hundred pages had fewer than ten visits. We archived them, asked owners to review the rest, and agreed that a page without an owner does not move."""  # noqa: E501


@dataclass(frozen=True)
class Post:
    id: int
    feed_id: int
    title: str
    text: str
    url: str | None = None
    author: str | None = "Phil Rumens"
    published: str = "2016-11-21T09:00:00+00:00"
    content_html: str | None = None
    own_blog: bool = False


def fp(post: Post) -> Fingerprint:
    return fingerprint(
        post_id=post.id,
        feed_id=post.feed_id,
        author=post.author,
        published=post.published,
        url=post.url,
        title=post.title,
        text=post.text,
        evidence_key=evidence_url(post.content_html, post.url),
        own_blog=post.own_blog,
    )


def html_of(text: str) -> str:
    return "".join(f"<p>{para}</p>" for para in text.split("\n\n"))


ORIGINAL = Post(
    1, 10, "LocalGov Digital rebooted", REBOOTED,
    url="https://philrumens.blogspot.com/2016/11/localgov-digital-rebooted.html",
    content_html=html_of(REBOOTED), own_blog=True,
)  # fmt: skip
MEDIUM_FOOTER = (
    '<p><em>Originally published at <a href="https://philrumens.blogspot.com/2016/11/'
    'localgov-digital-rebooted.html" rel="noopener noreferrer nofollow">'
    "philrumens.blogspot.com</a> on November 21, 2016.</em></p>"
)
MEDIUM_COPY = Post(
    2, 20, "LocalGov Digital rebooted", REBOOTED + "\n\nOriginally published at "
    "philrumens.blogspot.com on November 21, 2016.",
    url="https://medium.com/@philrumens/localgov-digital-rebooted-8c1f2a9d3e4b"
    "?source=rss-5f3c2a1b9e8d------2",
    published="2016-11-22T18:30:00+00:00",
    content_html=html_of(REBOOTED) + MEDIUM_FOOTER,
)  # fmt: skip
TEAM_INTRO = (
    "This is a guest post from Phil Rumens, Vice-Chair of LocalGov Digital, which first went "
    "out on his own blog last week. We are sharing it here because we think every council "
    "digital team should have a view on it."
)
ONE_SENTENCE_EDITED = REBOOTED.replace("donation of £1 form each", "donation of £1 from each")
EXTRA_PARAGRAPH = ONE_SENTENCE_EDITED.replace(
    "But more needs to be done, and faster.",
    "But more needs to be done, and faster. Councils still build the same things separately, "
    "still buy the same systems separately and still struggle to find the skills they need. "
    "A network run on goodwill alone cannot fix that.",
)


def weeknotes(post_id: int, feed_id: int, number: int, body: str) -> Post:
    return Post(
        post_id, feed_id, f"Weeknotes {number}",
        f"{WEEKNOTES_INTRO}\n\n{body}\n\n{WEEKNOTES_OUTRO}",
        url=f"https://northshire.example.gov.uk/blog/weeknotes-{number}", author="Sam Okafor",
        published=f"2024-03-{number:02d}T16:00:00+00:00",
    )  # fmt: skip


def event(post_id: int, feed_id: int, title: str, **fields: str) -> Post:
    return Post(
        post_id, feed_id, title, EVENT_TEMPLATE.format(**fields), author="LocalGov Digital",
        url=f"https://localgovdigital.example.org/events/{post_id}",
        published="2024-05-01T09:00:00+00:00",
    )  # fmt: skip


LEEDS = {"place": "Leeds", "when": "Thursday afternoon, 13:30 to 17:00",
         "venue": "Leeds Civic Hall, Portland Crescent", "host": "Leeds City Council"}  # fmt: skip
BRISTOL = {"place": "Bristol", "when": "Wednesday morning, 09:30 to 13:00",
           "venue": "City Hall, College Green", "host": "Bristol City Council"}  # fmt: skip

# fmt: off
FOLD = [
    pytest.param(MEDIUM_COPY, ORIGINAL, "evidence", id="medium-copy-originally-published-at"),
    pytest.param(
        replace(MEDIUM_COPY, content_html=html_of(MEDIUM_COPY.text)), ORIGINAL,
        "near-duplicate", id="medium-copy-whose-footer-lost-its-link",
    ),
    pytest.param(
        replace(MEDIUM_COPY, text=REBOOTED, content_html=html_of(REBOOTED)), ORIGINAL,
        "same-content", id="medium-copy-with-tracking-params-same-text",
    ),
    pytest.param(
        Post(3, 30, "LocalGov Digital rebooted", REBOOTED, author="LocalGov Digital",
             url="https://philrumens.blogspot.com/2016/11/localgov-digital-rebooted.html"
                 "?utm_source=localgovdigital&utm_medium=rss&utm_campaign=voice",
             published="2017-03-01T00:00:00+00:00"),
        ORIGINAL, "same-url", id="network-feed-links-the-original-with-utm-params-months-later",
    ),
    pytest.param(
        Post(4, 40, "Guest post: LocalGov Digital rebooted", f"{TEAM_INTRO}\n\n{REBOOTED}",
             author="Digital Team", url="https://digital.northshire.example.gov.uk/guest-post",
             published="2016-11-28T12:00:00+00:00"),
        ORIGINAL, "near-duplicate", id="team-blog-republication-with-short-intro",
    ),
    pytest.param(
        replace(MEDIUM_COPY, text=ONE_SENTENCE_EDITED, content_html=None), ORIGINAL,
        "near-duplicate", id="copy-with-a-typo-fixed",
    ),
    pytest.param(
        replace(MEDIUM_COPY, text=EXTRA_PARAGRAPH, content_html=None), ORIGINAL,
        "near-duplicate", id="copy-with-typo-fixed-and-extra-paragraph",
    ),
    pytest.param(
        replace(ORIGINAL, id=5, url="https://philrumens.blogspot.com/2016/11/rebooted.html"),
        ORIGINAL, "same-content", id="same-feed-reissued-under-a-new-url",
    ),
    pytest.param(
        replace(MEDIUM_COPY, title="LocalGov Digital rebooted, part 2", text=EXTRA_PARAGRAPH,
                content_html=None),
        ORIGINAL, None, id="close-text-but-the-title-says-part-2",
    ),
    pytest.param(
        weeknotes(6, 10, 12, WEEK_12), weeknotes(7, 10, 13, WEEK_13), None,
        id="weeknotes-12-and-13-one-feed-shared-boilerplate",
    ),
    pytest.param(
        weeknotes(6, 10, 12, WEEK_12), weeknotes(7, 20, 13, WEEK_13), None,
        id="weeknotes-12-and-13-across-feeds",
    ),
    pytest.param(
        Post(8, 50, "Reflections on LocalGovCamp", REFLECTIONS_2016, author="Jo Bloggs",
             published="2016-06-20T08:00:00+00:00"),
        Post(9, 60, "Reflections on LocalGovCamp", REFLECTIONS_2014, author="Sarah Lay",
             published="2014-07-14T08:00:00+00:00"),
        None, id="reflections-on-localgovcamp-two-authors-two-years-apart",
    ),
    pytest.param(
        Post(10, 50, "Moving to a new CMS, part 2", PART_TWO, author="Alex Smith"),
        Post(11, 60, "Moving to a new CMS, part 1", PART_ONE, author="Alex Smith"),
        None, id="part-1-and-part-2-of-a-series-cross-posted",
    ),
    pytest.param(
        Post(12, 50, "Think, Do, Share", f"{PLEDGE}\n\n{PUSHING_BACK}", author="Phil Rumens"),
        Post(13, 60, "Think, Do, Share", f"{FRANCHISES}\n\n{PLEDGE}", author="Carl Haggerty"),
        None, id="same-pledge-paragraph-quoted-in-different-posts",
    ),
    pytest.param(
        event(14, 50, "LocalGov Digital meetup in Leeds", **LEEDS),
        event(15, 60, "LocalGov Digital meetup in Bristol", **BRISTOL),
        None, id="one-event-template-two-events",
    ),
]
# fmt: on


@pytest.mark.parametrize(("new", "old", "rule"), FOLD)
def test_duplicate_match(new: Post, old: Post, rule: str | None) -> None:
    match = duplicate_match(fp(new), fp(old))
    assert (match.rule if match else None) == rule
    assert duplicate_match(fp(old), fp(new)) == match  # the order posts arrive in is irrelevant


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def test_look_alikes_are_stopped_by_guards_not_luck() -> None:
    """The boilerplate-heavy look-alikes do resemble each other; the guards decide."""
    assert jaccard(weeknotes(6, 10, 12, WEEK_12).text, weeknotes(7, 20, 13, WEEK_13).text) > 0.6
    leeds = event(14, 50, "LocalGov Digital meetup in Leeds", **LEEDS)
    bristol = event(15, 60, "LocalGov Digital meetup in Bristol", **BRISTOL)
    assert jaccard(leeds.text, bristol.text) > 0.6


REWORKED = (
    f"{EXTRA_PARAGRAPH}\n\nSince writing this I have had dozens of replies, most of them "
    "supportive and some of them rightly sceptical about how a co-operative would be governed, "
    "who would do the work and how we would keep it open to people who cannot pay. I will "
    "answer those questions in a follow-up post once the consultation closes, and I will "
    "publish every response we receive, anonymised, so you can judge for yourself."
)
REWORKED_COPY = replace(MEDIUM_COPY, text=REWORKED, content_html=None)  # Jaccard about 0.75


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        pytest.param({}, "near-duplicate", id="reworked-copy-matches"),
        pytest.param({"feed_id": ORIGINAL.feed_id}, None, id="same-feed"),
        pytest.param({"published": "2017-03-01T00:00:00+00:00"}, None, id="100-days-later"),
        pytest.param({"title": "LocalGov Digital rebooted, part 2"}, None, id="title-numbers"),
        # the whole original is in it and one person wrote both: contained, whatever the title
        pytest.param({"title": "Rebooting LocalGov Digital"}, "contained", id="other-title"),
        pytest.param({"title": "Rebooting LocalGov Digital", "author": "Carl Haggerty"}, None,
                     id="other-title-and-named-author"),
        pytest.param({"author": "Carl Haggerty"}, None, id="other-named-author"),
        pytest.param({"author": "philrumens@example.org (Phil)"}, "near-duplicate",
                     id="same-author-spelt-differently"),
        pytest.param({"author": "Digital Team"}, "near-duplicate", id="unnamed-author"),
        pytest.param({"author": None}, "near-duplicate", id="no-author"),
    ],
)  # fmt: skip
def test_each_guard_alone_stops_a_moderate_match(change: dict[str, str], rule: str | None) -> None:
    match = duplicate_match(fp(replace(REWORKED_COPY, **change)), fp(ORIGINAL))
    assert (match.rule if match else None) == rule


def test_guards_do_not_apply_to_url_and_evidence() -> None:
    late_other = {"published": "2019-01-01T00:00:00+00:00", "author": "Carl Haggerty",
                  "title": "LocalGov Digital rebooted, part 2"}  # fmt: skip
    assert duplicate_match(fp(replace(MEDIUM_COPY, **late_other)), fp(ORIGINAL)) == Match(
        "evidence", 1.0
    )
    same_url = replace(MEDIUM_COPY, url=ORIGINAL.url, content_html=None, **late_other)
    assert duplicate_match(fp(same_url), fp(ORIGINAL)) == Match("same-url", 1.0)


def test_scores_explain_the_match() -> None:
    near = duplicate_match(fp(replace(MEDIUM_COPY, text=EXTRA_PARAGRAPH, content_html=None)),
                           fp(ORIGINAL))  # fmt: skip
    assert near is not None and 0.6 <= near.score < 1.0
    assert duplicate_match(fp(MEDIUM_COPY), fp(ORIGINAL)) == Match("evidence", 1.0)


def test_a_post_is_not_its_own_duplicate() -> None:
    assert duplicate_match(fp(ORIGINAL), fp(ORIGINAL)) is None


def test_two_copies_citing_one_original_are_one_post() -> None:
    team_copy = replace(MEDIUM_COPY, id=3, feed_id=30, url="https://team.example.org/rebooted",
                        text=PUSHING_BACK)  # fmt: skip
    assert duplicate_match(fp(team_copy), fp(MEDIUM_COPY)) == Match("evidence", 1.0)


# --- evidence_url ----------------------------------------------------------------

BODY = html_of(REBOOTED)
BASE = "https://medium.com/@jo/a-post-123"
ORIGINAL_KEY = "jo.example.org/2024/05/weeknotes-12"
LINK = (
    '<a href="https://www.jo.example.org/2024/05/weeknotes-12/'
    '?utm_source=medium&amp;utm_medium=social">'
)


@pytest.mark.parametrize(
    ("content_html", "key"),
    [
        pytest.param(f"{BODY}<p><em>Originally published at {LINK}jo.example.org</a>"
                     " on May 3, 2024.</em></p>", ORIGINAL_KEY, id="medium-footer"),
        pytest.param(f"<p><strong>This post first appeared on</strong> {LINK}Jo's blog</a>.</p>"
                     f"{BODY}", ORIGINAL_KEY, id="first-appeared-on-intro"),
        pytest.param(f"<p>Cross-posted from {LINK}my own blog</a>.</p>{BODY}", ORIGINAL_KEY,
                     id="cross-posted-from"),
        pytest.param(f"{BODY}<p>This piece was originally posted on {LINK}Jo's blog</a></p>",
                     ORIGINAL_KEY, id="was-originally-posted-on"),
        pytest.param(f"{BODY}<p>{LINK}Originally published on Jo's blog</a></p>", ORIGINAL_KEY,
                     id="claim-is-the-link-text"),
        pytest.param(f'<link rel="canonical" href="https://jo.example.org/2024/05/weeknotes-12">'
                     f"{BODY}", ORIGINAL_KEY, id="rel-canonical-in-raw-html"),
        pytest.param(f'{BODY}<a rel="bookmark canonical" href="https://jo.example.org/2024/05/'
                     'weeknotes-12">Permalink</a>', ORIGINAL_KEY, id="rel-canonical-link"),
        pytest.param(f'{BODY}<a rel="noncanonical" href="https://jo.example.org/2024/05/'
                     'weeknotes-12">x</a><a title="canonical" href="https://jo.example.org/a/b">'
                     "y</a>", None, id="canonical-not-a-rel-value"),
        pytest.param(f'{BODY}<p>The post {LINK}Weeknotes 12</a> appeared first on '
                     '<a href="https://jo.example.org/">Jo Bloggs</a>.</p>', ORIGINAL_KEY,
                     id="wordpress-appeared-first-on-footer"),
        pytest.param(f'{BODY}<p>Originally published at <a href="/2024/05/weeknotes-12/">'
                     "my blog</a></p>", "medium.com/2024/05/weeknotes-12",
                     id="relative-link-resolved-against-the-post"),
        pytest.param(f'{BODY}<p>Originally published at <a href="https://jo.example.org/">'
                     "jo.example.org</a></p>", None, id="home-page-is-no-post"),
        pytest.param(f"<p>I originally posted about this on Twitter.</p>{BODY}", None,
                     id="claim-without-link"),
        pytest.param(f"{BODY}<p>Originally published at</p><p>{LINK}unrelated</a></p>", None,
                     id="link-in-another-paragraph"),
        pytest.param(f"{BODY * 3}<p>As I originally posted on {LINK}my blog</a>, ...</p>"
                     f"{BODY * 3}", None, id="claim-in-the-middle-is-a-citation"),
        pytest.param(f"<p>Cross-posted from {LINK}Jo</a></p>{BODY}<p>Originally published at "
                     '<a href="https://sam.example.org/2024/05/other">Sam</a></p>', None,
                     id="conflicting-claims"),
        pytest.param(BODY, None, id="no-claim"),
        pytest.param(None, None, id="no-content"),
    ],
)  # fmt: skip
def test_evidence_url(content_html: str | None, key: str | None) -> None:
    assert evidence_url(content_html, BASE) == key


def test_a_claim_to_be_a_copy_of_itself_is_no_evidence() -> None:
    post = replace(ORIGINAL, content_html=html_of(REBOOTED) + MEDIUM_FOOTER)
    assert fp(post).evidence_key is None


# --- title numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "numbers"),
    [
        ("Weeknotes 12", ("12",)),
        ("Weeknotes #012", ("12",)),
        ("Moving to a new CMS, part two", ("2",)),
        ("Moving to a new CMS (Part II)", ("2",)),
        ("LocalGovCamp 2016: reflections", ("2016",)),
        ("I learnt summit on Monday", ()),
        ("Reflections on LocalGovCamp", ()),
        ("Vitamin I and other jokes", ()),
        # number words count after a series word, as Roman numerals do: elsewhere
        # "one" and "two" are words of the title, not its place in a series
        ("LocalGovCamp, day two", ("2",)),
        ("Guest post: one schema for every chargepoint in the borough", ()),
        ("Week 14: two councils, one board", ("14",)),
        ("Five things I learned researching with councillors", ()),
    ],
)
def test_title_numbers(title: str, numbers: tuple[str, ...]) -> None:
    assert title_numbers(title) == numbers


# --- MinHash and LSH -----------------------------------------------------------------


def test_shingles_ignore_case_punctuation_and_quotes() -> None:
    assert shingles("It’s been quite a journey, hasn't it?") == shingles(
        "it's been QUITE a journey -- hasn’t it"
    )
    assert len(shingles("Four words only here")) == 1
    assert shingles("  ...  ") == frozenset()


def test_shingle_values_are_pinned() -> None:
    """Stored signatures and LSH bands were made from these values: a change
    to the word hash or the run hash must come with `voice dedupe --rebuild`."""
    assert sorted(shingles("Councils share what they learn, openly and often")) == [
        6079894495638039594,
        12276945315872836027,
        14816548678740592618,
        15823095836754201282,
    ]
    assert sketch._runs(["a", "b"], 5) == [3378705804513855469]
    keys = band_keys(tuple(range(64)))
    assert (keys[0], keys[20]) == (214451340742329978, 5810927951792404614)


MASK64 = (1 << 64) - 1


def _blake_value(word: str) -> int:
    return int.from_bytes(hashing._blake8(word), "little")


@pytest.mark.parametrize("k", [1, 3, 5, 6])
def test_run_hashes_are_the_tuple_hash_of_the_word_hashes(k: int) -> None:
    """The shingles were defined as hash() of each run's tuple of blake2b word
    values; the numpy version must give exactly those, short texts included."""
    rng = random.Random(k)
    for _ in range(300):
        w = [f"w{rng.randrange(400)}" for _ in range(rng.randrange(0, 40))]
        values = [_blake_value(x) for x in w]
        if len(values) < k:
            expected = [hash(tuple(values)) & MASK64] if values else []
        else:
            windows = zip(*(values[i:] for i in range(k)), strict=False)
            expected = [hash(run) & MASK64 for run in windows]
        assert sketch._runs(w, k) == expected


def _minhash_by_definition(hashes: frozenset[int], num_perm: int) -> tuple[int, ...]:
    """One shingle at a time, as sketch.minhash was first written."""
    empty = 1 << 80
    bins = [empty] * num_perm
    for x in hashes:
        y = (x * int(hashing._SCRAMBLE)) & MASK64
        bins[y % num_perm] = min(bins[y % num_perm], y // num_perm)
    if all(b == empty for b in bins):
        return ()
    out = list(bins)
    for i in range(num_perm):
        if out[i] == empty:
            distance = 1
            while bins[(i + distance) % num_perm] == empty:
                distance += 1
            out[i] = bins[(i + distance) % num_perm] + distance * ((1 << 64) // num_perm)
    return tuple(out)


@pytest.mark.parametrize("num_perm", [1, 7, 64, 128])
def test_minhash_is_the_per_shingle_minimum(num_perm: int) -> None:
    rng = random.Random(num_perm)
    for size in [0, 1, 2, 5, 30, 63, 64, 65, 300, 2000]:
        hashes = frozenset(rng.getrandbits(64) for _ in range(size))
        expected = _minhash_by_definition(hashes, num_perm)
        assert sketch.minhash(hashes, num_perm) == expected
        assert sketch.minhash(np.fromiter(hashes, dtype=np.uint64), num_perm) == expected


def test_signature_is_the_same_in_every_process() -> None:
    expected = signature(REBOOTED)
    assert signature(REBOOTED) == expected and len(expected) == 64
    code = (
        "import sys; from aggregator.analysis.sketch import signature; "
        "print(signature(sys.argv[1]))"
    )
    for seed in ("0", "1", "random"):
        out = subprocess.run(
            [sys.executable, "-c", code, REBOOTED], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        assert out.stdout.strip() == str(expected)


def random_text(rng: random.Random, n: int) -> list[str]:
    return [f"w{rng.randrange(20_000)}" for _ in range(n)]


def edited(rng: random.Random, text: list[str], edits: int) -> list[str]:
    out = list(text)
    for _ in range(edits):
        out[rng.randrange(len(out))] = f"w{rng.randrange(20_000)}"
    return out


def test_estimated_jaccard_tracks_the_true_value() -> None:
    rng = random.Random(4)
    errors = []
    for _ in range(40):
        a = random_text(rng, 300)
        b = edited(rng, a, rng.randrange(40))
        sa, sb = shingles(" ".join(a)), shingles(" ".join(b))
        true = len(sa & sb) / len(sa | sb)
        errors.append(estimated_jaccard(signature(" ".join(a)), signature(" ".join(b))) - true)
    assert abs(sum(errors) / len(errors)) < 0.03  # unbiased
    assert max(abs(e) for e in errors) < 0.2  # 64 values: standard error <= 0.0625


def test_near_duplicates_share_a_band_key() -> None:
    pairs = [(REBOOTED, ONE_SENTENCE_EDITED), (REBOOTED, EXTRA_PARAGRAPH),
             (REBOOTED, f"{TEAM_INTRO}\n\n{REBOOTED}")]  # fmt: skip
    rng = random.Random(5)
    for _ in range(50):  # ~6 word substitutions per 100 words: Jaccard about 0.6-0.8
        a = random_text(rng, 200)
        pairs.append((" ".join(a), " ".join(edited(rng, a, 12))))
    for a, b in pairs:
        assert set(band_keys(signature(a))) & set(band_keys(signature(b)))


def test_unrelated_texts_share_no_band_key() -> None:
    texts = [REBOOTED, PUSHING_BACK, FRANCHISES, REFLECTIONS_2014, REFLECTIONS_2016, PART_ONE,
             PART_TWO, EVENT_TEMPLATE]  # fmt: skip
    keys = [set(band_keys(signature(t))) for t in texts]
    assert all(not keys[i] & keys[j] for i in range(len(keys)) for j in range(i))
    rng = random.Random(6)
    shared = sum(
        bool(set(band_keys(signature(" ".join(random_text(rng, 200)))))
             & set(band_keys(signature(" ".join(random_text(rng, 200))))))
        for _ in range(100)
    )  # fmt: skip
    assert shared <= 3


def test_band_keys_shape() -> None:
    keys = band_keys(signature(REBOOTED))
    assert len(keys) == 21 and len(set(keys)) == 21
    assert all(0 <= key < 2**63 for key in keys)  # an SQLite integer; title keys are < 0
    assert [key >> 58 for key in keys] == list(range(21))  # each band's number leads its key
    assert band_keys(()) == ()
    with pytest.raises(ValueError):
        band_keys((1, 2, 3), bands=4)


def test_short_texts_get_no_signature_and_never_near_match() -> None:
    short = "Slides from my talk at LocalGovCamp are on Speaker Deck. Thanks for coming along."
    assert len(shingles(short)) < MIN_SHINGLES
    a = fp(Post(1, 10, "Slides", short))
    b = fp(Post(2, 20, "Slides from LocalGovCamp", short + " Thank you!"))
    assert a.signature == () and duplicate_match(a, b) is None


# --- choose_canonical ----------------------------------------------------------------


def cluster_member(post_id: int, day: int, own_blog: bool = False) -> Fingerprint:
    return replace(fp(ORIGINAL), post_id=post_id, own_blog=own_blog,
                   published=datetime(2016, 11, day, tzinfo=UTC))  # fmt: skip


@pytest.mark.parametrize(
    ("cluster", "canonical"),
    [
        pytest.param([cluster_member(5, 22), cluster_member(9, 21)], 9, id="earliest"),
        pytest.param([cluster_member(9, 21), cluster_member(5, 21)], 5, id="tie-lowest-id"),
        pytest.param([cluster_member(5, 20), cluster_member(9, 23, own_blog=True)], 9,
                     id="own-blog-even-if-later"),
        pytest.param([cluster_member(7, 25, True), cluster_member(9, 23, True),
                      cluster_member(1, 1)], 9, id="earliest-of-own-blog-copies"),
    ],
)  # fmt: skip
def test_choose_canonical(cluster: list[Fingerprint], canonical: int) -> None:
    assert choose_canonical(cluster) == canonical
    assert choose_canonical(cluster[::-1]) == canonical


def test_choose_canonical_needs_a_post() -> None:
    with pytest.raises(ValueError):
        choose_canonical([])
