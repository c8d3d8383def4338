"""The event loop a fetch cycle runs on: uvloop, with names looked up as asyncio does.

uvloop is asyncio's API on libuv: about 12% less CPU in a cycle of 304s
(bench/README.md, fifth session). Its own `getaddrinfo` queues lookups
behind libuv's four threads, so a few blogs whose DNS hangs would delay
every other blog's lookup; names are looked up on the default executor
instead, as asyncio's own loop does.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from functools import partial
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


class Loop(uvloop.Loop):  # type: ignore[misc]
    async def getaddrinfo(  # type: ignore[override]
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        lookup = partial(socket.getaddrinfo, host, port, family, type, proto, flags)
        return await self.run_in_executor(None, lookup)


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on a `Loop`."""
    with asyncio.Runner(loop_factory=Loop) as runner:
        return runner.run(main)
