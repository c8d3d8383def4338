"""Read the blogs listed in an OPML file (another planet's list, a feed reader's export).

OPML comes from elsewhere, so it is read with care: a size cap, and any
document type declaration is refused before parsing, which rules out entity
expansion ("billion laughs") and external entities; the standard library's
ElementTree then only ever sees plain elements and attributes.

`import_outline` puts one listed blog through what the web form does (a
trial, then a queued submission) or, for a trusted list, straight into
feeds.yaml; each outline gets one line of result.
"""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from aggregator.analysis.vocabulary import Vocabulary
from aggregator.errors import ConfigError
from aggregator.joining.fields import FieldError, JoinForm, check_url
from aggregator.joining.moderation import AlreadyRegistered, Instance, queue_join, run_checked_trial
from aggregator.models import Registry

MAX_OPML_BYTES = 2_000_000
MAX_OUTLINES = 5_000
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class OutlineSource:
    """One blog listed in an OPML file."""

    title: str | None
    xml_url: str | None
    html_url: str | None

    @property
    def url(self) -> str:
        """The address to try: the feed if given, else the home page."""
        return self.xml_url or self.html_url or ""


def read_opml(path: Path) -> list[OutlineSource]:
    """Every outline with an xmlUrl or htmlUrl, in document order, at any depth."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_OPML_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_OPML_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_OPML_BYTES // 1_000_000} MB, not reading it")
    return parse_opml(data, path)


def parse_opml(data: bytes, path: Path = Path("OPML")) -> list[OutlineSource]:
    if _DECLARATION.search(data):
        raise ConfigError(f"{path}: has a DOCTYPE or ENTITY declaration, which OPML never needs")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConfigError(f"{path}: not valid XML ({exc})") from exc
    if root.tag != "opml":
        raise ConfigError(f"{path}: not an OPML file (its root is <{root.tag[:40]}>)")
    outlines = []
    for node in root.iter("outline"):
        xml_url = _attribute(node, "xmlUrl")
        html_url = _attribute(node, "htmlUrl")
        if xml_url or html_url:
            title = _attribute(node, "title") or _attribute(node, "text")
            outlines.append(OutlineSource(title, xml_url, html_url))
        if len(outlines) > MAX_OUTLINES:
            raise ConfigError(f"{path}: more than {MAX_OUTLINES} blogs; split the file")
    return outlines


def _attribute(node: ET.Element, name: str) -> str | None:
    """An attribute whatever its case (xmlurl, xmlURL appear in the wild), trimmed."""
    for key, value in node.attrib.items():
        if key.lower() == name.lower():
            return " ".join(value.split())[:2000] or None
    return None


def import_outline(
    instance: Instance,
    conn: sqlite3.Connection,
    registry: Registry,
    outline: OutlineSource,
    *,
    vocabulary: Vocabulary | None,
    region: str,
    add: bool,
    now: str,
) -> str:
    """Queue (or with `add`, register) one listed blog; one line saying what happened."""
    from aggregator.registry.edit import add_feed

    try:
        url = check_url(outline.url)
        trial = run_checked_trial(instance, url, registry, vocabulary)
    except AlreadyRegistered as exc:
        given = "" if exc.feed.url == outline.url else f" (listed as {outline.url})"
        return f"already registered as {exc.feed.url}{given}"
    except FieldError as exc:
        return f"skipped: no feed found at {outline.url[:200]}: {exc.message}"
    title = trial.get("title") or outline.title
    if add:
        entry = {"url": trial["feed_url"], "title": title, "site_url": trial.get("site_url")}
        add_feed(instance.config, {k: v for k, v in {**entry, "region": region}.items() if v})
        return f"added {trial['feed_url']}"
    form = JoinForm(url=url, region=region, organisation=None)
    try:
        request_id, _ = queue_join(conn, form, {**trial, "title": title}, now=now, with_token=False)
    except FieldError as exc:
        return f"skipped: {exc.message}"
    return f"queued #{request_id} {trial['feed_url']}"
