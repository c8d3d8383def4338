"""The fetch cycle's event loop: uvloop, looking names up on the default executor."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvloop

from aggregator.update import loop


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=16)
        self.calls = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super().submit(fn, *args, **kwargs)


def test_names_are_looked_up_on_the_default_executor_not_libuvs_four_threads() -> None:
    executor = CountingExecutor()

    async def look_up() -> tuple[bool, list[Any]]:
        running = asyncio.get_running_loop()
        running.set_default_executor(executor)
        found = await asyncio.gather(
            *(running.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM) for _ in range(8))
        )
        return isinstance(running, uvloop.Loop), found

    is_uvloop, found = loop.run(look_up())
    assert is_uvloop
    assert executor.calls == 8
    assert {answer[0][4] for answer in found} == {("127.0.0.1", 80)}
