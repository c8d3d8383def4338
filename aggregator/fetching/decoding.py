"""Read a response body under the size cap, decoding Content-Encoding ourselves.

httpx would inflate a compressed body whole before we could count it; doing
it here, a little at a time, means the cap applies to the bytes we keep and a
compression bomb cannot allocate much more than the cap.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import httpx

from aggregator.errors import FetchError
from aggregator.fetching.failures import one_line, too_large
from aggregator.models import FetchLimits


async def read_body(response: httpx.Response, limits: FetchLimits, url: str) -> tuple[bytes, int]:
    """Read the raw body, inflating it ourselves so the cap applies to what we keep."""
    cap = limits.max_body_bytes
    inflater = _Inflater(_content_encoding(response.headers.get("content-encoding"), url))
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise too_large(cap, url)
    parts: list[bytes] = []
    size = received = 0
    try:
        async for chunk in _raw_chunks(response):
            received += len(chunk)
            # Asking for one byte more than the room left is enough to know
            # the cap is passed, and bounds what a compression bomb can allocate.
            piece = inflater.feed(chunk, cap - size + 1)
            size += len(piece)
            if received > cap or size > cap:
                raise too_large(cap, url)
            parts.append(piece)
        inflater.finish()
    except zlib.error as exc:
        message = f"could not decode the {inflater.coding} body: {one_line(exc)}"
        raise FetchError("bad_encoding", message, url=url) from exc
    return b"".join(parts), received


def _raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    if response.is_stream_consumed and isinstance(response.stream, httpx.AsyncByteStream):
        # Built in memory (MockTransport with bytes content): httpx has read and
        # decoded it already, but its stream still replays the raw bytes.
        return aiter(response.stream)
    return response.aiter_raw()


def _content_encoding(header: str | None, url: str) -> str:
    codings = [c.strip().lower() for c in (header or "").split(",")]
    codings = [c for c in codings if c and c not in ("identity", "none")]
    if len(codings) > 1:
        message = f"stacked content encodings are not supported: {one_line(header)}"
        raise FetchError("bad_encoding", message, url=url)
    coding = {"x-gzip": "gzip"}.get(codings[0], codings[0]) if codings else "identity"
    if coding not in ("identity", "gzip", "deflate"):
        message = f"unsupported content encoding {one_line(coding)}"
        raise FetchError("bad_encoding", message, url=url)
    return coding


class _Inflater:
    """Incremental Content-Encoding decoder whose output per call is bounded."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._fed = False
        self._head = b""
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS) if coding == "gzip" else None

    def feed(self, data: bytes, limit: int) -> bytes:
        """At most `limit` bytes of output; raises zlib.error on corrupt input."""
        if self.coding == "identity":
            return data
        self._fed = self._fed or bool(data)
        if self._z is None:  # deflate: the first two bytes tell zlib-wrapped from raw
            self._head += data
            if len(self._head) < 2:
                return b""
            data, self._head = self._head, b""
            self._z = zlib.decompressobj(zlib.MAX_WBITS if _is_zlib(data) else -zlib.MAX_WBITS)
        out: list[bytes] = []
        while data and limit > 0 and not self._z.eof:
            piece = self._z.decompress(data, limit)
            limit -= len(piece)
            out.append(piece)
            data = self._z.unconsumed_tail  # non-empty only when `limit` was reached
        return b"".join(out)

    def finish(self) -> None:
        if self._fed and not (self._z is not None and self._z.eof):
            raise zlib.error("the compressed body ends early")


def _is_zlib(data: bytes) -> bool:
    """RFC 1950 header check: servers label raw deflate as "deflate" too."""
    return data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
