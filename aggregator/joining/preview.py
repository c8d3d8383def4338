"""A trial as lines of text people read: what `voice try` and `voice add` print.

It takes the JSON form (`Trial.to_json()`), the form a trial is stored and
sent in, so a trial kept with a submission reads the same as a fresh one.
Dates as people read them ("21 November 2016"); topic labels from the
vocabulary when there is one, the slugs otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aggregator.joining.trial import Trial

LABEL = "{:<12}"  # the width of the labels on the left


def preview_lines(
    trial: Trial | Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> list[str]:
    """The preview of a trial: the feed and why, the blog, its latest posts, or the problem."""
    t = trial.to_json() if isinstance(trial, Trial) else trial
    lines: list[str] = []

    def row(label: str, text: str) -> None:
        lines.append(LABEL.format(label) + text)

    if t.get("feed_url"):
        row("Feed:", str(t["feed_url"]))
        row("", str(t.get("chosen_because") or ""))
    else:
        row("Address:", str(t.get("requested_url") or ""))
    if t.get("title") or t.get("platform"):
        platform = f" ({t['platform']})" if t.get("platform") else ""
        row("Blog:", f"{t.get('title') or '(no title)'}{platform}")
    if t.get("site_url"):
        row("Site:", str(t["site_url"]))
    if t.get("feed_url"):
        row("Entries:", _entries(t.get("entries") or 0, t.get("full_text")))
        for i, item in enumerate(t.get("latest") or []):
            row("Latest:" if i == 0 else "", f"{_date(item.get('published'))}  {item.get('title')}")
        topics = [str(slug) for slug in t.get("topics") or []]
        shown = ", ".join(labels.get(s, s) if labels else s for s in topics)
        row("Topics:", shown or "none of the vocabulary's topics, from these posts")
    if t.get("problem"):
        row("Problem:", str(t["problem"]))
        if t.get("advice"):
            row("What to do:", str(t["advice"]))
    return lines


def _entries(count: int, full: bool | None) -> str:
    if not count:
        return "no entries yet"
    kind = {True: "full text", False: "excerpts only", None: "full text or excerpts unknown"}
    return f"{count} {'entry' if count == 1 else 'entries'}, {kind[full]}"


def _date(iso: str | None) -> str:
    """An ISO date as people read it ("21 November 2016"), padded to line up."""
    if not iso:
        return f"{'(no date)':<17}"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return f"{iso[:17]:<17}"
    return f"{moment.day} {moment:%B %Y}".ljust(17)
