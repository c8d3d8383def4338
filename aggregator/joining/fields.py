"""What a member may send: each field of the join form and of a change, validated.

Every value from the web form is checked here before anything is tried or
stored: lengths (address 2,000, names 200, email 254), shapes (an http(s)
address with a host, an email with an @ and a dot), regions matched to the
canonical names, topics only from topics.yaml. A bad value is a FieldError
naming the field, so the form can show the message next to it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aggregator.errors import ConfigError
from aggregator.registry.regions import match_region

MAX_URL = 2000
MAX_NAME = 200
MAX_EMAIL = 254
MAX_TOPICS = 20
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.][^@\s]*\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FieldError(ConfigError):
    """A submitted value is not acceptable; `field` names it for the form (None: the whole)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class JoinForm:
    """What a member asks for, validated (region canonical, topics known)."""

    url: str
    region: str
    organisation: str | None = None
    name: str | None = None
    email: str | None = None
    topics: tuple[str, ...] = ()
    display: str = "full"
    research: bool = True


def _text(data: Mapping[str, Any], key: str, limit: int, label: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(key, f"{label} must be text.")
    value = " ".join(value.split())
    if len(value) > limit:
        raise FieldError(key, f"{label} must be {limit} characters or fewer.")
    if _CONTROL.search(value):
        raise FieldError(key, f"{label} contains characters that cannot be used.")
    return value or None


def check_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError("url", "Enter your blog's address, like https://blog.example.gov.uk/.")
    url = value.strip()
    if len(url) > MAX_URL:
        raise FieldError("url", f"The address must be {MAX_URL} characters or fewer.")
    if "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if _CONTROL.search(url) or " " in url or not host or parts.scheme not in ("http", "https"):
        raise FieldError("url", "Enter a web address starting https:// or http://.")
    return url


def check_region(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError("region", "Choose your region.")
    canonical, suggestion = match_region(value[:MAX_NAME])
    if canonical:
        return canonical
    hint = f" Did you mean {suggestion}?" if suggestion else ""
    raise FieldError("region", f"Choose a region from the list.{hint}")


def check_topics(value: Any, slugs: Collection[str]) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        value = [t for t in value.split(",") if t.strip()]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise FieldError("topics", "Topics must be a list of topics from the form.")
    if len(value) > MAX_TOPICS:
        raise FieldError("topics", f"Choose {MAX_TOPICS} topics or fewer.")
    known = {s.lower(): s for s in slugs}
    chosen = []
    for topic in value:
        slug = known.get(topic.strip().lower())
        if slug is None:
            raise FieldError("topics", f"{topic[:50]!r} is not one of Voice's topics.")
        chosen.append(slug)
    return tuple(sorted(set(chosen)))


def check_display(value: Any) -> str:
    if value in (None, ""):
        return "full"
    if value not in ("full", "excerpt"):
        raise FieldError("display", "Choose full text or excerpts only.")
    return str(value)


def check_research(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, bool):
        raise FieldError("research", "Say yes or no to research data releases.")
    return value


def check_email(value: Any) -> str | None:
    email = _text({"email": value}, "email", MAX_EMAIL, "Email address")
    if email and not _EMAIL.match(email):
        raise FieldError(
            "email", "Enter an email address like name@council.gov.uk, or leave it out."
        )
    return email


def validate_join(data: Mapping[str, Any], slugs: Collection[str]) -> JoinForm:
    """The form's fields as a JoinForm, or FieldError for the first bad one (in form order)."""
    if not isinstance(data, Mapping):
        raise FieldError(None, "Expected a JSON object.")
    return JoinForm(
        url=check_url(data.get("url")),
        region=check_region(data.get("region")),
        organisation=_text(data, "organisation", MAX_NAME, "Organisation"),
        name=_text(data, "name", MAX_NAME, "Your name"),
        email=check_email(data.get("email")),
        topics=check_topics(data.get("topics"), slugs),
        display=check_display(data.get("display")),
        research=check_research(data.get("research")),
    )


def validate_changes(data: Any, slugs: Collection[str]) -> dict[str, Any]:
    """A member's update: only the keys they may change, each validated."""
    if not isinstance(data, Mapping) or not data:
        raise FieldError(None, "Say what to change.")
    unknown = sorted(set(data) - {"organisation", "region", "topics", "display", "research"})
    if unknown:
        raise FieldError(unknown[0], f"{unknown[0][:50]!r} cannot be changed here.")
    checks = {
        "organisation": lambda v: _text({"o": v}, "o", MAX_NAME, "Organisation"),
        "region": check_region,
        "topics": lambda v: list(check_topics(v, slugs)),
        "display": check_display,
        "research": check_research,
    }
    changes = {}
    for key, value in data.items():
        try:
            changes[key] = checks[key](value)
        except FieldError as exc:
            raise FieldError(key, exc.message) from None
    return changes
