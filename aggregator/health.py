"""Feed health in words a member understands; pure, no I/O.

Each explanation says what happened and what the member (or their web team)
can do about it. What the public database says of an error is one of a fixed
set of sentences (`public_error`): messages built from what a server said or
where a name resolved can name internal hosts and addresses, so those stay
in the private file for operators (`voice status`).
"""

from __future__ import annotations

from dataclasses import dataclass

_BY_KIND = {
    "timeout": "Your server took too long to answer, so Voice gave up for now. It will "
    "try again later; if this keeps happening, ask your web team whether the feed is slow.",
    "network": "Voice could not keep a connection to your server (it was refused or cut "
    "off). It will try again later.",
    "dns": "Voice could not find your website's address. Check the feed URL in "
    "feeds.yaml for typing mistakes, or whether the site has moved.",
    "tls": "Your site's security certificate could not be verified (it may have expired "
    "or not match the address). Ask your web team to renew or fix the certificate.",
    "too_large": "Your feed is larger than Voice accepts. Ask your web team to publish "
    "fewer or shorter items in the feed.",
    "blocked_address": "The feed address points to a private or internal network, which "
    "Voice does not read. Use the public address of your blog.",
    "bad_scheme": "The feed address, or a redirect from it, is not a usable web address "
    "(it must start with http:// or https://). Check the URL in feeds.yaml.",
    "too_many_redirects": "Your server keeps redirecting Voice from one address to "
    "another. Check the feed URL, and ask your web team to fix the redirect loop.",
    "bad_encoding": "Your server sent the feed in a compressed form Voice cannot read. "
    "Ask your web team to serve it plainly or with gzip.",
    "gone": "Your server says this feed has been removed for good (410 Gone), so Voice "
    "no longer checks it. Your earlier posts are kept. Register the new feed URL if "
    "the blog has moved.",
    "not_a_feed": "The address gives a web page or other document, not a feed. Check "
    "the feed URL: WordPress blogs usually serve /feed/, Blogger /feeds/posts/default.",
    "malformed": "Your feed is broken (not well-formed XML), so no posts could be read. "
    "Ask your web team to check it with a feed validator.",
    "entities": "Your feed declares XML entities, which Voice refuses for safety. Ask "
    "your web team to remove the DOCTYPE from the feed.",
    "worker_limit": "Reading your feed needed more memory or time than Voice allows. "
    "Ask your web team to publish fewer or shorter items in the feed.",
    "worker_timeout": "Reading your feed took too long. Ask your web team to publish "
    "fewer or shorter items in the feed.",
    "worker_crash": "Reading your feed crashed Voice's reader. The Voice team has been "
    "told by the log; nothing needs doing on your side.",
    "http_status": "Your server answered with an error instead of the feed. Check the "
    "feed URL and ask your web team what the status in the error means for your site.",
    "internal": "Voice hit a problem of its own while reading your feed. The Voice team "
    "has the details; nothing needs doing on your side.",
}

_BY_STATUS = {
    401: "Your server asks for a password (401), so Voice cannot read the feed. The "
    "feed needs to be public.",
    403: "Your server answered 403 Forbidden: it may be blocking automated readers; ask "
    "your web team to allow the Voice user agent.",
    404: "Your server answered 404 Not Found: the feed is not at this address. Check "
    "the feed URL in feeds.yaml (WordPress blogs usually serve /feed/).",
    429: "Your server asked Voice to slow down (429 Too Many Requests). Voice waits as "
    "long as the server asks before trying again.",
    503: "Your server said it is temporarily unavailable (503). Voice will try again "
    "later, as long as the server asks.",
}


@dataclass(frozen=True)
class Health:
    """What a member sees about their feed."""

    needs_attention: bool
    explanation: str


PAUSED_EXPLANATION = (
    "Paused by its member: Voice does not check this blog until they resume it. "
    "Its posts already on Voice stay public."
)


def explain(
    status: str, error_kind: str | None, http_status: int | None = None, *, paused: bool = False
) -> Health:
    """Plain-English health of a feed from its stored status and last error."""
    if paused and status not in ("removed", "gone"):
        return Health(False, PAUSED_EXPLANATION)
    if status in ("ok", "new") and not error_kind:
        text = "Working: Voice reads this feed." if status == "ok" else "Not checked yet."
        return Health(False, text)
    if status == "removed":
        return Health(False, "Removed from the registry; its posts are kept but not polled.")
    if error_kind == "http_status" and http_status is not None:
        if http_status in _BY_STATUS:
            return Health(True, _BY_STATUS[http_status])
        if 500 <= http_status < 600:
            return Health(
                True,
                f"Your server had an internal problem ({http_status}). Voice will try "
                "again later; if it keeps happening, tell your web team.",
            )
        return Health(
            True,
            f"Your server answered {http_status} instead of the feed. Check the feed URL "
            "and ask your web team what this status means for your site.",
        )
    text = _BY_KIND.get(error_kind or "", "Voice could not read this feed.")
    return Health(True, text)


PUBLIC_ERRORS = {
    "timeout": "the server took too long to answer",
    "network": "the connection to the server failed",
    "dns": "the server name could not be found",
    "tls": "the secure connection to the server failed",
    "http_status": "the server answered with an error",
    "too_large": "the feed is larger than Voice accepts",
    "blocked_address": "the feed, or a redirect from it, points to a private address",
    "bad_scheme": "the feed, or a redirect from it, is not an http or https address",
    "too_many_redirects": "the feed redirects too many times",
    "bad_encoding": "the feed's compression could not be decoded",
    "gone": "the server says the feed has been removed",
    "not_a_feed": "the address does not give a feed",
    "entities": "the document declares entities, which feeds do not need",
    "worker_limit": "parsing the feed needed more memory or time than allowed",
    "worker_timeout": "parsing the feed took too long",
    "worker_crash": "parsing the feed stopped unexpectedly",
    "malformed": "the feed is not well-formed",
    "internal": "Voice had a problem of its own",
}


def public_error(kind: str, http_status: int | None = None) -> str:
    """The one line the public database keeps for an error: never data from the network."""
    text = PUBLIC_ERRORS.get(kind, "the check failed")
    return f"{text} ({http_status})" if kind in ("http_status", "gone") and http_status else text
