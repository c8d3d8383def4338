"""Turn HTTP statuses and transport exceptions into `FetchError`s.

The update stage records each failure on the feed for people to read, so
every one gets a stable `kind` and a message of one line.
"""

from __future__ import annotations

import socket
import ssl
from typing import NoReturn

import httpx

from aggregator.errors import FetchError
from aggregator.models import FetchLimits


def status_error(response: httpx.Response, url: str) -> FetchError:
    status = response.status_code
    answered = f"server answered {status} {httpx.codes.get_reason_phrase(status)}".strip()
    if 300 <= status < 400:
        answered += " without a Location"
    elif status == 404:
        answered += ": check the feed URL"
    elif status == 410:
        answered += ": the feed has been removed; it will not be checked again"
    kind = "gone" if status == 410 else "http_status"
    retry_after = response.headers.get("retry-after")
    return FetchError(kind, answered, url=url, http_status=status, retry_after=retry_after)


def raise_transport_error(
    exc: httpx.HTTPError, current: httpx.URL, limits: FetchLimits, url: str
) -> NoReturn:
    host = current.host
    if isinstance(exc, httpx.ConnectTimeout):
        kind, message = "timeout", f"{host} did not accept within {limits.connect_timeout:g} s"
    elif isinstance(exc, httpx.ReadTimeout):
        kind, message = "timeout", f"{host} sent nothing for {limits.read_timeout:g} s"
    elif isinstance(exc, httpx.TimeoutException):
        kind, message = "timeout", f"timed out talking to {host}"
    elif _caused_by(exc, socket.gaierror):
        kind, message = "dns", f"could not find the server {host}: check the URL"
    elif _caused_by(exc, ssl.SSLError):
        reason = _caused_by(exc, ssl.SSLError)
        kind, message = "tls", f"secure connection to {host} failed: {_ssl_reason(reason)}"
    elif isinstance(exc, httpx.ConnectError):
        kind, message = "network", f"could not connect to {host}: {one_line(exc)}"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        kind, message = "bad_scheme", f"cannot fetch {one_line(current)}"
    else:
        kind, message = "network", f"connection to {host} failed: {one_line(exc)}"
    raise FetchError(kind, message, url=url) from exc


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    """Look down the chain: httpcore's pool re-raises `from None`, so follow the
    implicit __context__ as well as __cause__."""
    for _ in range(10):
        if exc is None or isinstance(exc, kind):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _ssl_reason(exc: BaseException | None) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return one_line(exc.verify_message)
    if getattr(exc, "reason", None):
        return one_line(exc.reason)  # type: ignore[union-attr]
    return one_line(exc)


def one_line(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def too_large(cap: int, url: str) -> FetchError:
    return FetchError("too_large", f"feed is larger than {_size(cap)} (limit)", url=url)


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    return f"{n / 1_000:g} kB" if n >= 1_000 else f"{n} bytes"
