"""sanitize: feed HTML made safe, relative links made absolute, text made plain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.parsing.sanitize import (
    clean_html,
    html_to_text,
    safe_url,
    strip_controls,
    text_of,
    text_of_clean_html,
)

BASE = "https://blog.example/2024/post"
HOST = "blog.example"  # the host the feed was fetched from: images may load from it
REL = 'rel="noopener noreferrer nofollow"'
REMOTE = 'class="remote-image"'
# Every bidi control Voice strips: embeddings and overrides, isolates, LRM, RLM, ALM.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
RLO = "\u202e"


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        pytest.param("https://other.example/x", "https://other.example/x", id="absolute-https"),
        pytest.param("http://other.example/x", "http://other.example/x", id="absolute-http"),
        pytest.param("/about", "https://blog.example/about", id="root-relative"),
        pytest.param("next", "https://blog.example/2024/next", id="path-relative"),
        pytest.param("?page=2", "https://blog.example/2024/post?page=2", id="query-only"),
        pytest.param("#comments", "https://blog.example/2024/post#comments", id="fragment-only"),
        pytest.param("//cdn.example/a.png", "https://cdn.example/a.png", id="scheme-relative"),
        pytest.param("mailto:team@blog.example", "mailto:team@blog.example", id="mailto"),
        pytest.param("javascript:alert(1)", None, id="javascript"),
        pytest.param("JaVaScRiPt:alert(1)", None, id="javascript-mixed-case"),
        pytest.param("  javascript:alert(1)", None, id="javascript-leading-space"),
        pytest.param("java\tscript:alert(1)", None, id="javascript-tab"),
        pytest.param("java\nscript:alert(1)", None, id="javascript-newline"),
        pytest.param("\x01javascript:alert(1)", None, id="javascript-control-char"),
        pytest.param("data:text/html;base64,PHNjcmlwdD4=", None, id="data"),
        pytest.param("vbscript:msgbox(1)", None, id="vbscript"),
        pytest.param("ftp://files.example/a", None, id="ftp"),
        pytest.param("http://[::1", None, id="unparseable"),
    ],
)
def test_safe_url(href: str, expected: str | None) -> None:
    assert safe_url(href, BASE) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param(
            '<a href="/about">about</a>',
            f'<a href="https://blog.example/about" {REL}>about</a>',
            id="relative-link-resolved",
        ),
        pytest.param(
            '<img src="pic.png" alt="a pic">',
            '<img src="https://blog.example/2024/pic.png" alt="a pic">',
            id="relative-image-resolved",
        ),
        pytest.param(
            '<a href="javascript:alert(1)">x</a>', f"<a {REL}>x</a>", id="javascript-href"
        ),
        pytest.param(
            '<a href="java&#x09;script:alert(1)">x</a>', f"<a {REL}>x</a>", id="tab-entity-href"
        ),
        pytest.param(
            '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;'
            'alert(1)">x</a>',
            f"<a {REL}>x</a>",
            id="entity-encoded-href",
        ),
        pytest.param(
            '<a href="&#x6A;avascript&colon;alert(1)">x</a>',
            f"<a {REL}>x</a>",
            id="named-entity-colon-href",
        ),
        pytest.param('<img src="data:image/png;base64,AAAA">', "<img>", id="data-src"),
        pytest.param('<a href="vbscript:msgbox(1)">x</a>', f"<a {REL}>x</a>", id="vbscript"),
        pytest.param(
            '<img src="/a.png" onerror="alert(1)">',
            '<img src="https://blog.example/a.png">',
            id="event-handler",
        ),
        pytest.param("<p>hi<script>alert(1)</script></p>", "<p>hi</p>", id="script-dropped"),
        pytest.param("<style>p{display:none}</style><p>hi</p>", "<p>hi</p>", id="style-dropped"),
        pytest.param(
            '<p style="background:url(javascript:x)">hi</p>', "<p>hi</p>", id="style-attribute"
        ),
        pytest.param(
            '<svg><a xlink:href="javascript:alert(1)"><text>svg</text></a></svg>ok',
            "ok",
            id="svg-dropped",
        ),
        pytest.param("<math><mi>x</mi></math>ok", "ok", id="math-dropped"),
        pytest.param(
            '<form action="https://evil.example/"><input name="pw"><button>Go</button></form>ok',
            "ok",
            id="form-dropped",
        ),
        pytest.param('<iframe src="https://evil.example/"></iframe>ok', "ok", id="iframe-dropped"),
        pytest.param(
            '<object data="x.swf"></object><embed src="x.swf">ok', "ok", id="object-embed"
        ),
        pytest.param("<p>a<!-- secret -->b</p>", "<p>ab</p>", id="comment-dropped"),
        pytest.param("<p>a\x01b\x7fc\x85d\ufffee</p>", "<p>abcde</p>", id="raw-control-chars"),
        pytest.param("<p>a&#1;b&#x7f;c</p>", "<p>abc</p>", id="entity-control-chars"),
        pytest.param("<p>a\ud800b</p>", "<p>ab</p>", id="lone-surrogate"),
        pytest.param(
            '<blockquote cite="/src">q</blockquote>',
            '<blockquote cite="https://blog.example/src">q</blockquote>',
            id="cite-resolved",
        ),
        pytest.param(
            '<a href="https://x.example/" rel="opener" target="_blank">x</a>',
            f'<a href="https://x.example/" {REL}>x</a>',
            id="rel-and-target-replaced",
        ),
        pytest.param(
            '<table><tr><td colspan="2">c</td></tr></table>',
            '<table><tbody><tr><td colspan="2">c</td></tr></tbody></table>',
            id="table-kept",
        ),
    ],
)
def test_clean_html(html: str, expected: str) -> None:
    assert clean_html(html, BASE, image_host=HOST) == expected


def remote(url: str, label: str) -> str:
    return f'<a {REMOTE} href="{url}" {REL}>{label}</a>'


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param(
            '<img src="/a.png" alt="A">',
            '<img src="https://blog.example/a.png" alt="A">',
            id="own-host-relative-kept",
        ),
        pytest.param(
            '<img src="http://BLOG.example:8080/a.png">',
            '<img src="http://BLOG.example:8080/a.png">',
            id="own-host-any-scheme-case-or-port-kept",
        ),
        pytest.param(
            '<img src="https://evil.example/t.png" alt="Chart" width="1" title="t">',
            remote("https://evil.example/t.png", "image: Chart"),
            id="other-host-linked",
        ),
        pytest.param(
            '<img src="http://10.0.0.5/x.png">',
            remote("http://10.0.0.5/x.png", "image"),
            id="internal-address-linked",
        ),
        pytest.param(
            '<img src="http://intranet/x.png" alt="">',
            remote("http://intranet/x.png", "image"),
            id="internal-name-linked",
        ),
        pytest.param(
            '<img src="//evil.example/x.png" alt="x">',
            remote("https://evil.example/x.png", "image: x"),
            id="protocol-relative-linked",
        ),
        pytest.param(
            '<img src="https://cdn.blog.example/x.png">',
            remote("https://cdn.blog.example/x.png", "image"),
            id="subdomain-linked",
        ),
        pytest.param(
            '<img src="https://blog.example.evil.example/x.png">',
            remote("https://blog.example.evil.example/x.png", "image"),
            id="own-host-as-prefix-linked",
        ),
        pytest.param(
            '<img src="https://blog.example@evil.example/x.png">',
            remote("https://blog.example@evil.example/x.png", "image"),
            id="own-host-as-userinfo-linked",
        ),
        pytest.param(
            '<img src="https://blog.example\\@evil.example/x.png">',
            remote("https://blog.example\\@evil.example/x.png", "image"),
            id="backslash-userinfo-linked",  # a browser reads the host as evil.example
        ),
        pytest.param(
            '<img src="https://evil.example/a.png" alt="a &lt;b&gt; &amp; &quot;c&quot;">',
            remote("https://evil.example/a.png", 'image: a &lt;b&gt; &amp; "c"'),
            id="alt-text-escaped",
        ),
        pytest.param(
            '<img src="https://evil.example/a.png?x=1&amp;y=&quot;2">',
            remote("https://evil.example/a.png?x=1&amp;y=&quot;2", "image"),
            id="url-escaped",
        ),
        pytest.param(
            '<a href="/big.png"><img src="https://evil.example/t.png" alt="T"></a>',
            f'<a href="https://blog.example/big.png" {REL}><span {REMOTE}>image: T</span></a>',
            id="inside-a-link-labelled-not-nested",
        ),
        pytest.param(
            '<img src="/a.png" srcset="https://evil.example/a.png 2x, /b.png 3x" alt="A">',
            '<img src="https://blog.example/a.png" alt="A">',
            id="srcset-dropped",
        ),
        pytest.param(
            '<img src="https://evil.example/a.png" srcset="/a.png 2x" alt="A">',
            remote("https://evil.example/a.png", "image: A"),
            id="srcset-does-not-save-a-remote-src",
        ),
        pytest.param(
            '<picture><source srcset="https://evil.example/a.webp" type="image/webp">'
            '<img src="/a.png" alt="A"></picture>',
            '<img src="https://blog.example/a.png" alt="A">',
            id="picture-source-dropped",
        ),
        pytest.param('<img src="data:image/png;base64,AAAA" alt="d">', '<img alt="d">', id="data"),
    ],
)
def test_images_load_only_from_the_feed_host(html: str, expected: str) -> None:
    assert clean_html(html, BASE, image_host=HOST) == expected


def test_without_an_image_host_no_image_loads() -> None:
    assert clean_html('<img src="/a.png">', BASE) == remote("https://blog.example/a.png", "image")


def test_a_linked_image_adds_nothing_to_the_plain_text() -> None:
    """Search text, and so duplicate detection, must not depend on where a copy was fetched."""
    html = '<p>Before <img src="https://evil.example/x.png" alt="A chart"> after</p>'
    assert text_of_clean_html(clean_html(html, BASE, image_host=HOST)) == "Before after"
    assert text_of_clean_html(clean_html(html, BASE, image_host="evil.example")) == "Before after"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param(f"<p>Title four {RLO}gnp.exe</p>", "<p>Title four gnp.exe</p>", id="body"),
        pytest.param(
            f'<a href="/f">Invoice {RLO}fdp.exe</a>',
            f'<a href="https://blog.example/f" {REL}>Invoice fdp.exe</a>',
            id="link-text",
        ),
        pytest.param("<p>a&#x202E;b&#8207;c&#x2067;d</p>", "<p>abcd</p>", id="entities"),
        pytest.param(f"<p>a{BIDI}b</p>", "<p>ab</p>", id="every-bidi-control"),
        pytest.param(
            f'<abbr title="x{RLO}y">z</abbr>', '<abbr title="xy">z</abbr>', id="attribute"
        ),
        pytest.param(
            '<a href="/f">Title four <bdo dir="rtl">exe.gnp</bdo></a>',
            f'<a href="https://blog.example/f" {REL}>Title four exe.gnp</a>',
            id="bdo-element-unwrapped",
        ),
        pytest.param(
            '<p dir="rtl">\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd</p>',
            '<p dir="rtl">\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd</p>',
            id="arabic-and-hebrew-kept",
        ),
    ],
)
def test_bidi_controls_are_removed_from_html(html: str, expected: str) -> None:
    assert clean_html(html, BASE, image_host=HOST) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param("<p>one</p><p>two</p>", "one\ntwo", id="paragraphs"),
        pytest.param("a<br>b<br/>c", "a\nb\nc", id="line-breaks"),
        pytest.param("<ul><li>x</li><li>y</li></ul>", "x\ny", id="list-items"),
        pytest.param("<h2>Head</h2>body", "Head\nbody", id="heading"),
        pytest.param("<table><tr><td>1</td><td>2</td></tr></table>", "1 2", id="table-cells"),
        pytest.param("caf&eacute; &amp; bar &lt;b&gt;", "café & bar <b>", id="entities"),
        pytest.param("a&nbsp;&nbsp; b\t\tc", "a b c", id="spaces-collapsed"),
        pytest.param("<p>\n  lots\n\n\n  of space  </p>", "lots\nof space", id="blank-lines"),
        pytest.param("<script>var x = 1;</script>text", "text", id="script-text-dropped"),
        pytest.param("<style>p {}</style>text", "text", id="style-text-dropped"),
        pytest.param("<b>bold</b> <i>it</i>", "bold it", id="inline-unwrapped"),
        pytest.param("a&#1;b", "ab", id="control-chars"),
        pytest.param(f"<p>x{BIDI}y</p>", "xy", id="bidi-controls"),
        pytest.param("", "", id="empty"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        pytest.param("Plain title", "Plain title", id="plain"),
        pytest.param("AT&amp;T <b>news</b>", "AT&T news", id="markup-and-entity"),
        pytest.param("Line one<br>line two", "Line one line two", id="one-line"),
        pytest.param("  spaced \n out  ", "spaced out", id="whitespace"),
        pytest.param("1 < 2 and 3 > 2", "1 < 2 and 3 > 2", id="bare-angle-brackets"),
        pytest.param("<script>alert(1)</script>Safe", "Safe", id="script"),
        pytest.param("tab\there\x00", "tab here", id="controls"),
        pytest.param(f"Title four {RLO}gnp.exe", "Title four gnp.exe", id="bidi-override"),
        pytest.param("a&#x202e;b&#x2066;c&lrm;d", "abcd", id="bidi-entities"),
        pytest.param("\u05e9\u05dc\u05d5\u05dd", "\u05e9\u05dc\u05d5\u05dd", id="hebrew-kept"),
    ],
)
def test_text_of(fragment: str, expected: str) -> None:
    assert text_of(fragment) == expected


CONTROLS = st.characters(categories=("Cc", "Cs"), exclude_characters="\t\n\r") | st.sampled_from(
    "\ufffe\uffff"
)


@given(st.text(st.characters() | CONTROLS, max_size=200))
def test_no_control_characters_survive(text: str) -> None:
    for output in (clean_html(text, BASE), html_to_text(text), text_of(text)):
        assert strip_controls(output) == output
