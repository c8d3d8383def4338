"""A post's address as a comparison key: `canonical_url`. Pure, no I/O.

Never fetched, so it may drop anything that does not identify the post
(scheme, `www.`, tracking parameters, AMP wrappers, index files, session ids)
without caring whether the result loads. `identity` builds a post's keys with
it, and the evidence and duplicate rules compare posts by it.
"""

from __future__ import annotations

import ipaddress
import re
import string
from urllib.parse import urlsplit

# --- canonical_url -----------------------------------------------------------

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_HEX_PAIR = re.compile("[0-9A-Fa-f]{2}")
_PATH_SAFE = frozenset("!$&'()*+,;=:@")  # RFC 3986 pchar, less unreserved and "%"
_QUERY_SAFE = frozenset("!$'()*+,;=:@/?")  # "&" is the separator, so always escaped
_FRAGMENT_SAFE = frozenset("!$&'()*+,;=:@/?")

# Leading host labels that name a variant of the same site, not a different
# site: `www.`, mobile (`m.`, `mobile.`) and AMP (`amp.`) editions. Dropped only
# while two labels remain, so `www.com` stays itself.
_VARIANT_LABELS = frozenset({"www", "m", "mobile", "amp"})
_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_BLOGSPOT = re.compile(r"(.+\.blogspot)\.[a-z]{2,3}(?:\.[a-z]{2})?")  # country mirrors
_GOOGLE = re.compile(r"google(?:\.[a-z]{2,3}){1,2}")
_AMP_CACHE_PATH = re.compile(r"/[cv]/(s/)?(.+)", re.DOTALL)
_MAX_UNWRAP = 3  # an AMP cache URL of an AMP cache URL of ... is not a post

_INDEX_FILES = frozenset({"index.html", "index.htm", "index.php"})
_SESSION_ID = re.compile(r";jsessionid=.*", re.IGNORECASE)

# Parameters that only say how a reader arrived (analytics, ad clicks, mail
# campaigns, share buttons), matched on the lower-cased name.
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "twclid", "ttclid",
        "igshid", "li_fat_id", "mc_cid", "mc_eid", "mkt_tok", "spref", "wt_mc", "cmpid",
        "cmp", "ncid", "ocid", "s_cid", "sr_share", "xtor", "ito", "at_medium",
        "at_campaign", "ref_src", "ref_url", "_ga", "_gl", "vero_id", "vero_conv",
        "rb_clickid", "oly_anon_id", "oly_enc_id", "fb_action_ids", "fb_action_types",
        "fb_ref", "fb_source", "hsctatracking", "usqp", "amp_js_v", "amp_gsa",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "_hs", "__hs", "hsa_", "pk_", "mtm_", "piwik_", "itm_", "ns_",
                      "wt.")  # fmt: skip
# `source=rss----a1b2c3---4` (Medium) and friends: the post arrived through a feed.
_FEED_VALUE = re.compile(r"(?:rss|rss2|atom|feeds?)(?:[-_+.:].*)?", re.DOTALL)
# `ref=` is tracking when it names a channel or a referring site (Ghost adds
# `?ref=blog.example.org` to outbound links); `ref=main` on a code host is not.
_REF_CHANNELS = frozenset(
    {"twitter", "facebook", "linkedin", "mastodon", "bluesky", "email", "newsletter",
     "hn", "hackernews", "reddit", "share", "social", "homepage", "home"}
)  # fmt: skip
_REF_SITE = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")


def canonical_url(url: str) -> str | None:
    """The key under which two links to one post compare equal; None if not http(s).

    The key is `host[:port]/path[?query]`, with no scheme: http and https serve
    one post, and leaving the scheme off keeps anyone from fetching a key as if
    it were a URL (dropped parameters and stripped `amp` segments may not load).
    Every rule is a way the same post is really linked in the wild; none may
    make two different posts equal, so path case, non-tracking parameters and
    their values are kept. `https://` + a key gives the key back.
    """
    if not isinstance(url, str):
        return None
    try:
        return _canonical(url.strip(), 0)
    except ValueError:  # urlsplit on a malformed netloc or port; UnicodeError from IDNA
        return None


def _canonical(url: str, depth: int) -> str | None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return None
    host = _host(parts.hostname)
    if host is None:
        return None
    path = _path(parts.path)
    unwrapped = _amp_cache_target(host, path, parts.query)
    if unwrapped is not None:
        return _canonical(unwrapped, depth + 1) if depth < _MAX_UNWRAP else None
    port = parts.port  # ValueError when not a number or out of range
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"  # one scheme, so both
    query = _query(parts.query, host)
    # A fragment is a place within the post, except a `#!` route, which is the post.
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return (
        netloc
        + path
        + (f"?{query}" if query else "")
        + (f"#{_escapes(fragment, _FRAGMENT_SAFE)}" if fragment else "")
    )


def _host(hostname: str | None) -> str | None:
    """Lower-case ASCII (IDNA) host without variant labels; None if not a host name."""
    if not hostname:
        return None
    if ":" in hostname:  # urlsplit has removed the brackets of an IPv6 literal
        return f"[{ipaddress.IPv6Address(hostname).compressed}]"
    host = hostname.rstrip(".")
    if not host.isascii():
        host = host.encode("idna").decode("ascii").lower()
    if not _HOST.fullmatch(host):
        return None
    host = _BLOGSPOT.sub(r"\1.com", host) if _BLOGSPOT.fullmatch(host) else host
    labels = host.split(".")
    while len(labels) > 2 and labels[0] in _VARIANT_LABELS:
        labels.pop(0)
    return ".".join(labels)


def _amp_cache_target(host: str, path: str, query: str) -> str | None:
    """The publisher's URL inside an AMP cache or Google AMP viewer URL, if this is one.

    Read from the normalised path, so that what is not unwrapped now is not
    unwrapped when the key is fed back either.
    """
    if host == "cdn.ampproject.org" or host.endswith(".cdn.ampproject.org"):
        match = _AMP_CACHE_PATH.fullmatch(path)  # /c/s/host/path is https, /c/host/path http
        if not match:
            return None
        inner = ("https://" if match.group(1) else "http://") + match.group(2)
    elif _GOOGLE.fullmatch(host) and path.startswith("/amp/"):
        rest = path.removeprefix("/amp/")
        inner = "https://" + rest[2:] if rest.startswith("s/") else "http://" + rest
    else:
        return None
    return f"{inner}?{query}" if query else inner


def _path(path: str) -> str:
    """Segments with dot segments resolved, empty ones dropped and index pages removed.

    `/a/`, `/a//`, `/a/index.html` and `/a/amp/` are one page. `/amp` alone
    is a page called "amp", so an AMP segment is only dropped after another.
    WordPress "almost pretty" permalinks (`/index.php/2024/05/post/`) lose the
    `index.php`.
    """
    segments: list[str] = []
    for raw in path.split("/"):
        segment = _escapes(_SESSION_ID.sub("", raw), _PATH_SAFE)
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    while segments:
        if segments[-1].lower() in _INDEX_FILES or (len(segments) > 1 and segments[-1] == "amp"):
            segments.pop()
        else:
            break
    if len(segments) > 1 and segments[0].lower() == "index.php":
        segments.pop(0)
    return "/" + "/".join(segments) if segments else ""


def _query(query: str, host: str) -> str:
    """Parameters that identify the post, sorted; `a=` becomes `a`."""
    pairs = []
    for piece in query.split("&"):
        name, _, value = piece.partition("=")
        name, value = _escapes(name, _QUERY_SAFE), _escapes(value, _QUERY_SAFE)
        if (name or value) and not _is_noise(name.lower(), value.lower(), host):
            pairs.append((name, value))
    return "&".join(f"{name}={value}" if value else name for name, value in sorted(pairs))


def _is_noise(name: str, value: str, host: str) -> bool:
    """A parameter that says how a reader got here, or which edition they got."""
    if name in _TRACKING_NAMES or name.startswith(_TRACKING_PREFIXES):
        return True
    if name == "source":
        return bool(_FEED_VALUE.fullmatch(value)) or _is_medium(host)
    if name == "sk":  # Medium "friend link" key: the same post, unlocked
        return _is_medium(host)
    if name == "ref":
        return value in _REF_CHANNELS or bool(
            _FEED_VALUE.fullmatch(value) or _REF_SITE.fullmatch(value)
        )
    if name == "amp":
        return value in ("", "1", "true")
    if name == "outputtype":
        return value == "amp"
    return name == "m" and value in ("0", "1")  # Blogger's mobile switch


def _is_medium(host: str) -> bool:
    return host == "medium.com" or host.endswith(".medium.com")


_PLAIN: dict[frozenset[str], re.Pattern[str]] = {}  # safe set -> its characters, any run


def _escapes(part: str, safe: frozenset[str]) -> str:
    """One spelling per character: unreserved decoded, other escapes in upper-case hex.

    Characters that may not appear raw (spaces, non-ASCII) are UTF-8 escaped, and
    a `%` that starts no escape becomes `%25`, so the result is stable when fed back.
    """
    plain = _PLAIN.get(safe)
    if plain is None:
        chars = re.escape("".join(sorted(_UNRESERVED | safe)))
        plain = _PLAIN[safe] = re.compile(f"[{chars}]*")
    if plain.fullmatch(part):  # most parts: nothing to decode or escape (no "%" in any set)
        return part
    out: list[str] = []
    i = 0
    while i < len(part):
        char = part[i]
        if char == "%" and _HEX_PAIR.fullmatch(part, i + 1, i + 3):
            decoded = chr(int(part[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + part[i + 1 : i + 3].upper())
            i += 3
            continue
        if char in _UNRESERVED or char in safe:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)
