"""Moderation and the member commands: `voice submissions`, `voice member`, `voice import-opml`.

`voice submissions new` and `voice member show|change` are the JSON
protocol the /connect web page speaks (see docs/connect.md): one JSON object
on stdin (the member's token travels there, never in argv), one JSON object
on stdout, exit 0 whenever an answer was printed. A problem the member can
fix is {"ok": false, "field", "message"}; a problem of the instance (a
broken feeds.yaml, an unwritable database) is logged on stderr and the
member is told only to try again later.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from aggregator.cli.options import config_option, db_option, one_line_errors, private_option
from aggregator.errors import AggregatorError
from aggregator.joining import members, moderation
from aggregator.joining.fields import FieldError, check_region
from aggregator.joining.moderation import Instance
from aggregator.registry.topics import topics_for_registry
from aggregator.schedule import to_iso

MAX_REQUEST_BYTES = 64_000
LATER = "Voice cannot do this just now; please try again later."


def _now() -> str:
    return to_iso(datetime.now(UTC))


def _instance(
    ctx: click.Context,
    config: Path | None,
    db: Path | None,
    allow_private_hosts: bool | None = None,
) -> Instance:
    """A subcommand's own --config/--db, else the group's (`voice submissions --db X approve 3`)."""
    parent = ctx.parent.params if ctx.parent else {}
    return Instance(
        config or parent.get("config") or Path("feeds.yaml"),
        db or parent.get("db") or Path("db/voice.db"),
        allow_private_hosts,
    )


sub_config = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The member registry  [default: feeds.yaml]",
)
sub_db = click.option(
    "--db",
    "db",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The SQLite database; submissions live beside it  [default: db/voice.db]",
)


# --- the JSON protocol ----------------------------------------------------------


def _answer_json(work: Callable[[Any], dict[str, Any]]) -> None:
    """Read one JSON object from stdin, run `work`, print its answer as one JSON object."""
    raw = sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1)
    try:
        if len(raw) > MAX_REQUEST_BYTES:
            raise FieldError(None, "The request is too large.")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise FieldError(None, "The request was not valid JSON.") from None
        if not isinstance(data, dict):
            raise FieldError(None, "Expected a JSON object.")
        answer = work(data)
    except FieldError as exc:
        answer = {"ok": False, "field": exc.field, "message": exc.message}
    except (AggregatorError, sqlite3.OperationalError) as exc:  # broken config, locked file
        click.echo(f"Error: {exc}", err=True)
        answer = {"ok": False, "field": None, "message": LATER}
    click.echo(json.dumps(answer))


@click.group(invoke_without_command=True)
@config_option
@db_option
@click.pass_context
@one_line_errors
def submissions(ctx: click.Context, config: Path, db: Path) -> None:
    """List pending submissions with their preview and checks (or approve, reject, new)."""
    if ctx.invoked_subcommand is not None:
        return
    blocks = moderation.describe_pending(Instance(config, db))
    for block in blocks:
        click.echo("\n".join(block) + "\n")
    noun = "submission" if len(blocks) == 1 else "submissions"
    click.echo(
        f"{len(blocks)} pending {noun}"
        + ("; `voice submissions approve ID` or `reject ID --reason TEXT`" if blocks else "")
    )


@submissions.command("new")
@sub_config
@sub_db
@private_option
@click.pass_context
def submissions_new(
    ctx: click.Context, config: Path | None, db: Path | None, allow_private_hosts: bool | None
) -> None:
    """The web form's "send": a join request as JSON on stdin; the answer as JSON."""
    instance = _instance(ctx, config, db, allow_private_hosts)
    _answer_json(lambda data: moderation.new_submission(instance, data, now=_now()))


@submissions.command("approve")
@sub_config
@sub_db
@click.argument("request_id", metavar="ID", type=int)
@click.option("--by", "by", default=None, help="Who approves  [default: your login name]")
@click.pass_context
@one_line_errors
def submissions_approve(
    ctx: click.Context, config: Path | None, db: Path | None, request_id: int, by: str | None
) -> None:
    """Approve a join (adds the blog to feeds.yaml) or a member's change."""
    instance = _instance(ctx, config, db)
    who = by or getpass.getuser()
    click.echo(moderation.approve(instance, request_id, by=who, now=_now()))


@submissions.command("reject")
@sub_config
@sub_db
@click.argument("request_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Why; the member sees it on their status link.")
@click.option("--by", "by", default=None, help="Who rejects  [default: your login name]")
@click.pass_context
@one_line_errors
def submissions_reject(
    ctx: click.Context,
    config: Path | None,
    db: Path | None,
    request_id: int,
    reason: str,
    by: str | None,
) -> None:
    """Reject a submission or a change, with a reason the member sees."""
    instance = _instance(ctx, config, db)
    who = by or getpass.getuser()
    click.echo(moderation.reject(instance, request_id, reason=reason, by=who, now=_now()))


@click.group()
def member() -> None:
    """The status link's commands (JSON on stdin and stdout), used by the /connect page."""


@member.command("show")
@config_option
@db_option
def member_show(config: Path, db: Path) -> None:
    """A member's submission and their blog's health: {"token"} on stdin."""
    _answer_json(lambda data: members.show(Instance(config, db), data.get("token")))


@member.command("change")
@config_option
@db_option
@private_option
def member_change(config: Path, db: Path, allow_private_hosts: bool | None) -> None:
    """A member's action: {"token", "action", "changes"?} on stdin."""
    instance = Instance(config, db, allow_private_hosts)
    _answer_json(lambda data: members.change(instance, data, now=_now()))


@click.command("import-opml")
@config_option
@db_option
@private_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--region", required=True, help="The region of every blog in the file.")
@click.option("--yes", is_flag=True, help="Add each blog to feeds.yaml now instead of queueing.")
@one_line_errors
def import_opml(
    config: Path, db: Path, allow_private_hosts: bool | None, file: Path, region: str, yes: bool
) -> None:
    """Queue every blog of an OPML file as a submission (or add them with --yes)."""
    from aggregator.joining.opml import import_outline, read_opml

    try:
        canonical = check_region(region)
    except FieldError as exc:
        raise click.BadParameter(exc.message, param_hint="--region") from None
    outlines = read_opml(file)
    instance = Instance(config, db, allow_private_hosts)
    registry = instance.registry()
    vocabulary = topics_for_registry(config)  # once, not once per outline
    conn = instance.submissions()
    try:
        for outline in outlines:
            if yes:
                registry = instance.registry()  # each addition counts for the next outline
            said = import_outline(
                instance,
                conn,
                registry,
                outline,
                vocabulary=vocabulary,
                region=canonical,
                add=yes,
                now=_now(),
            )
            click.echo(said)
            sys.stdout.flush()
    finally:
        conn.close()
    click.echo(f"{len(outlines)} blogs read from {file}")
