"""The fields of "Connect your blog" and of a member's changes, read and checked.

Pure: a POST's fields in, a typed value and a message per field out. Every
field is length-limited; text loses control characters and runs of spaces;
messages say what to do, as GOV.UK's do ("Enter your name").
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# aggregator/models.py REGIONS, copied: plugins never import aggregator.
REGIONS = (
    "North East",
    "North West",
    "Yorkshire and the Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
    "Wales",
    "Scotland",
    "Northern Ireland",
    "National",
)
MAX_LENGTH = {"url": 2000, "organisation": 200, "name": 100, "email": 254, "reason": 500}
MAX_TOPICS = 20
DISPLAYS = ("full", "excerpt")
RESEARCH = {"include": True, "leave-out": False}
HONEYPOT = "website"  # hidden from people and screen readers; bots fill it in
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

Fields = Mapping[str, Sequence[str]]  # a POST: name -> every value sent


def clean_text(value: str) -> str:
    """One line of text: no control or format characters, single spaces, no ends."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in value
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )
    return " ".join(kept.split())


def first(fields: Fields, name: str) -> str:
    values = fields.get(name) or [""]
    return values[0]


def normalise_url(text: str) -> str:
    """What people type ("example.gov.uk/blog") as an address Voice can fetch."""
    text = clean_text(text).replace(" ", "")
    if text and "://" not in text and not text.startswith("//"):
        text = "https://" + text
    return text


def check_url(text: str) -> str | None:
    """The message for a blog address that cannot be right, or None."""
    if not text:
        return "Enter your blog's address"
    if len(text) > MAX_LENGTH["url"]:
        return f"Your blog's address must be {MAX_LENGTH['url']:,} characters or fewer"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            "Enter your blog's address as your browser shows it, like https://example.gov.uk/blog"
        )
    if parts.username or parts.password:
        return "Enter your blog's address without a user name or password in it"
    return None


@dataclass
class Submission:
    """A member's answers, as the form shows them again and `voice submissions new` takes them."""

    url: str = ""
    region: str = ""
    organisation: str = ""
    name: str = ""
    email: str = ""
    topics: list[str] = field(default_factory=list)
    display: str = "full"
    research: str = "include"
    checked: str = ""  # the address the last "Check my blog" tried

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "region": self.region,
            "organisation": self.organisation,
            "name": self.name,
            "email": self.email,
            "topics": list(self.topics),
            "display": self.display,
            "research": RESEARCH.get(self.research, True),
        }


def read_submission(
    fields: Fields, topics: Collection[str], *, sending: bool
) -> tuple[Submission, dict[str, str]]:
    """The answers and a message per field that needs changing.

    When only checking the blog, fields left empty are not yet mistakes.
    """
    form = Submission(
        url=normalise_url(first(fields, "url")[: MAX_LENGTH["url"] * 2]),
        region=clean_text(first(fields, "region")[:100]),
        organisation=clean_text(first(fields, "organisation")[: MAX_LENGTH["organisation"] * 2]),
        name=clean_text(first(fields, "name")[: MAX_LENGTH["name"] * 2]),
        email=clean_text(first(fields, "email")[: MAX_LENGTH["email"] * 2]).replace(" ", ""),
        topics=[clean_text(t)[:100] for t in (fields.get("topics") or [])][: MAX_TOPICS + 1],
        display=first(fields, "display") or "full",
        research=first(fields, "research") or "include",
        checked=normalise_url(first(fields, "checked")[: MAX_LENGTH["url"] * 2]),
    )
    errors: dict[str, str] = {}
    if message := check_url(form.url):
        errors["url"] = message
    errors.update(check_choices(form, topics, required=sending))
    if sending and not form.name:
        errors["name"] = "Enter your name"
    elif len(form.name) > MAX_LENGTH["name"]:
        errors["name"] = f"Your name must be {MAX_LENGTH['name']} characters or fewer"
    if len(form.email) > MAX_LENGTH["email"]:
        errors["email"] = f"Your email address must be {MAX_LENGTH['email']} characters or fewer"
    elif form.email and not EMAIL.match(form.email):
        errors["email"] = "Enter an email address like name@example.gov.uk, or leave it empty"
    return form, errors


def check_choices(form: Any, topics: Collection[str], *, required: bool) -> dict[str, str]:
    """Messages for region, organisation, topics, display and research (also for changes)."""
    errors: dict[str, str] = {}
    if form.region and form.region not in REGIONS:
        errors["region"] = "Select your region from the list"
    elif required and not form.region:
        errors["region"] = "Select the region you work in"
    if required and not form.organisation:
        errors["organisation"] = "Enter your council or organisation"
    elif len(form.organisation) > MAX_LENGTH["organisation"]:
        errors["organisation"] = (
            f"Your organisation must be {MAX_LENGTH['organisation']} characters or fewer"
        )
    if len(form.topics) > MAX_TOPICS or any(t not in topics for t in form.topics):
        errors["topics"] = "Select topics from the list"
    if form.display not in DISPLAYS:
        errors["display"] = "Select full posts or excerpts only"
    if form.research not in RESEARCH:
        errors["research"] = "Select whether to include your blog in research data"
    return errors


@dataclass
class Changes:
    """A member's changes to their blog's entry, from the status page."""

    region: str = ""
    organisation: str = ""
    topics: list[str] = field(default_factory=list)
    display: str = "full"
    research: str = "include"

    def changed_from(self, current: Changes) -> dict[str, Any]:
        """Only what differs, as `voice member change` takes it."""
        out: dict[str, Any] = {}
        for key in ("organisation", "region", "display"):
            if getattr(self, key) != getattr(current, key):
                out[key] = getattr(self, key)
        if sorted(self.topics) != sorted(current.topics):
            out["topics"] = sorted(self.topics)
        if self.research != current.research:
            out["research"] = RESEARCH[self.research]
        return out


def read_changes(fields: Fields, topics: Collection[str]) -> tuple[Changes, dict[str, str]]:
    changes = Changes(
        region=clean_text(first(fields, "region")[:100]),
        organisation=clean_text(first(fields, "organisation")[: MAX_LENGTH["organisation"] * 2]),
        topics=[clean_text(t)[:100] for t in (fields.get("topics") or [])][: MAX_TOPICS + 1],
        display=first(fields, "display") or "full",
        research=first(fields, "research") or "include",
    )
    return changes, check_choices(changes, topics, required=True)


def topic_list(value: Any) -> list[str]:
    """Topics as the commands give them: a list, or feeds.topics' JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [str(t) for t in value] if isinstance(value, list) else []
