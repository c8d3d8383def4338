"""What one cycle shares between its feeds: the injected edges and the shared limits.

Kept apart from `cycle` so the stages a cycle runs per feed (`tokens`) can
take the whole of it without importing the orchestration.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aggregator import fetching, storage
from aggregator.analysis.vocabulary import Vocabulary
from aggregator.models import FeedUpdateRecord, FetchLimits, Settings
from aggregator.update.gates import Batches, HostGates, Writer
from aggregator.update.records import FeedResult
from aggregator.update.worker import VoicePool

Clock = Callable[[], datetime]
SaveUpdate = Callable[[sqlite3.Connection, FeedUpdateRecord], storage.SaveResult]
SaveMany = Callable[[sqlite3.Connection, Sequence[FeedUpdateRecord]], list[storage.SaveResult]]


@dataclass
class Countdown:
    """The cycle's feeds whose fetch and parse are not over (Cycle itself is frozen)."""

    left: int = 0


@dataclass(frozen=True)
class Cycle:
    """The injected edges and shared limits of one cycle."""

    settings: Settings
    limits: FetchLimits
    client: fetching.Client
    pool: VoicePool
    writer: Writer
    save: SaveUpdate  # storage.save_update; a test's may fail on cue, as a full disk does
    # outcome -> the batches it is written in (none: a transaction of its own)
    batches: Mapping[str, Batches[FeedUpdateRecord, storage.SaveResult]]
    hosts: HostGates
    slots: asyncio.Semaphore  # bodies in memory at once: held from fetch to end of parse
    clock: Clock
    stop: threading.Event  # the caller's (a signal, the end of `voice run`); never set here
    on_result: Callable[[FeedResult], None]
    write_failed: threading.Event = field(default_factory=threading.Event)
    tokens: Mapping[str, str] = field(default_factory=dict)  # feed URL -> verification token
    homes: Mapping[str, str] = field(default_factory=dict)  # feed URL -> stored home page
    vocabulary: Callable[[], Vocabulary | None] = lambda: None
    shared: threading.Event = field(default_factory=threading.Event)  # vocabulary handed to pool
    unchecked: Countdown = field(default_factory=Countdown)  # at 0, no batch waits any more

    def stopping(self) -> bool:
        """No new fetch starts once a stop is asked for or a write has failed."""
        return self.stop.is_set() or self.write_failed.is_set()
