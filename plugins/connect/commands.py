"""`python -m aggregator ...` run for the form: JSON in on stdin, one JSON object out.

The form never imports aggregator: it runs Voice's own commands, the same
ones a moderator uses, as asyncio subprocesses (this Python, stdin closed
or holding the JSON, a deadline, killed past it). Tokens always travel on
stdin, never in argv, where `ps` would show them.

Where Voice's files are comes from the environment `voice run` and `voice
serve` give Datasette (aggregator/service.py datasette_env): VOICE_CONFIG,
VOICE_DB and VOICE_ALLOW_PRIVATE_HOSTS=1 when the instance fetches from
private addresses; only then do trials get --allow-private-hosts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("voice.connect")

DEADLINE_SECONDS = 90.0  # a trial fetches a page and a feed under the fetcher's own deadlines
MAX_OUTPUT = 1_000_000  # bytes of JSON a command may print


class CommandFailed(Exception):
    """The command could not answer: it crashed, hung, or printed no JSON object."""


@dataclass(frozen=True)
class Instance:
    """Where this Voice keeps its files, and whether its fetcher may reach private hosts."""

    config: str | None
    db: str | None
    allow_private_hosts: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str], fallback_db: str | None = None) -> Instance:
        return cls(
            config=env.get("VOICE_CONFIG") or None,
            db=env.get("VOICE_DB") or fallback_db,
            allow_private_hosts=env.get("VOICE_ALLOW_PRIVATE_HOSTS") == "1",
        )

    def options(self, *, fetches: bool = False) -> list[str]:
        args: list[str] = []
        if self.config:
            args += ["--config", self.config]
        if self.db:
            args += ["--db", self.db]
        if fetches and self.allow_private_hosts:
            args.append("--allow-private-hosts")
        return args


async def run_json(
    args: list[str],
    payload: Mapping[str, Any] | None = None,
    *,
    deadline: float = DEADLINE_SECONDS,
) -> dict[str, Any]:
    """`python -m aggregator ARGS` with `payload` as JSON on stdin; its JSON answer."""
    stdin = json.dumps(payload).encode() if payload is not None else None
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aggregator",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    what = " ".join(a for a in args if not a.startswith("/"))[:200]
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), deadline)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise CommandFailed(f"voice {what}: no answer within {deadline:g} s") from None
    except asyncio.CancelledError:  # the client went away: do not leave the child running
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    answer = _last_json_object(out[:MAX_OUTPUT])
    if answer is None:
        tail = err.decode("utf-8", "replace")[-500:].strip()
        log.error("voice %s exited %s without a JSON answer: %s", what, proc.returncode, tail)
        raise CommandFailed(f"voice {what} exited {proc.returncode}")
    return answer


def _last_json_object(out: bytes) -> dict[str, Any] | None:
    """The JSON object the command printed (its last line that is one)."""
    for line in reversed(out.decode("utf-8", "replace").strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    try:  # printed over several lines (indented)
        value = json.loads(out)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def try_blog(instance: Instance, url: str) -> dict[str, Any]:
    """`voice try URL --json`: Trial.to_json(), problem or not."""
    return await run_json(["try", "--json", *instance.options(fetches=True), "--", url])


async def submit(instance: Instance, answers: Mapping[str, Any]) -> dict[str, Any]:
    return await run_json(["submissions", "new", *instance.options(fetches=True)], answers)


async def member_show(instance: Instance, token: str) -> dict[str, Any]:
    return await run_json(["member", "show", *instance.options()], {"token": token})


async def member_change(
    instance: Instance, token: str, request: Mapping[str, Any]
) -> dict[str, Any]:
    fetches = request.get("action") == "verify"
    args = ["member", "change", *instance.options(fetches=fetches)]
    return await run_json(args, {"token": token, **request})
