"""A progress bar for the commands that walk the whole archive (`retag`, `dedupe`).

On stderr, and only when stderr is a terminal or `--progress` asks for it:
cron jobs, pipes and tests see just the command's one line on stdout.
rich draws it (as for `voice fetch`); rich is imported only when a bar is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

progress_option = click.option(
    "--progress/--no-progress",
    "progress",
    default=None,
    help="Show a progress bar on stderr  [default: when stderr is a terminal]",
)


@contextmanager
def progress_bar(label: str, show: bool | None) -> Iterator[Callable[[int, int], None] | None]:
    """Yield `update(done, total)` for a bar of posts, or None when there is no bar.

    `show` None means "when stderr is a terminal"; True draws it anyway (the
    bar then goes out as terminal text, and its last state stays on screen).
    """
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        """Posts a second, over rich's recent window."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} posts/s," if speed else "- posts/s,")

    console = Console(file=sys.stderr, force_terminal=True)
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("posts"),
        Rate(),
        TimeElapsedColumn(),
        TextColumn("elapsed,"),
        TimeRemainingColumn(),
        TextColumn("left"),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
