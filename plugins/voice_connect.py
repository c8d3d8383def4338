"""Connect your blog (issue 11): the /connect form and a member's private status page.

- `/connect`: the form. "Check my blog" runs `voice try URL --json` and shows
  what Voice found (or the problem, next to the address); "Send" runs `voice
  submissions new` and gives the member their private status link.
- `/connect/status/<token>`: `voice member show`; pause, resume, change,
  verify and take down through `voice member change`. A wrong token is a
  plain 404 that shows nothing.

Abuse and faults: every POST needs Datasette's CSRF token, cookie or not
(asgi-csrf lets cookie-less POSTs through); a filled honeypot gets the "sent"
page and nothing is stored; per-client hourly limits on trials, submissions,
changes and status page views (429 with Retry-After; a client is an IPv4
address or an IPv6 /64, guard.client_key); at most TRIAL_SLOTS trials and
COMMAND_SLOTS commands in flight (503 with Retry-After); bodies over BODY_CAP
are refused (413) before anything reads them whole; /connect pages are never
cached nor sent as a referrer, and access logs never show a status token.
The commands apply the instance's address guard (plugins/connect/commands.py).
Never imports aggregator.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from datasette import hookimpl
from datasette.utils.asgi import Request, Response

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from connect import commands, form, guard  # noqa: E402
from connect.commands import CommandFailed, Instance  # noqa: E402
from connect.pages import (  # noqa: E402
    PRIVATE,
    busy,
    forbidden,
    not_found,
    problem,
    refused,
    render,
)

DATABASE = "voice"
BODY_CAP = 64 * 1024
TRIAL_SLOTS = 2  # trial fetches in flight across the site
COMMAND_SLOTS = 6  # every command in flight, status pages included
# Uses per client an hour. "token": wrong status tokens (guessing); "status": every
# status page view, as each starts `voice member show`.
LIMITS = guard.RateLimits({"trial": 5, "submission": 3, "token": 20, "change": 20, "status": 120})
TRIALS = guard.Slots(TRIAL_SLOTS)
COMMANDS = guard.Slots(COMMAND_SLOTS)
ACTIONS = ("update", "pause", "resume", "remove", "verify")
TOKEN = r"[A-Za-z0-9_-]{1,200}"

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


class HideStatusTokens(logging.Filter):
    """Server access logs show /connect/status/… instead of a member's token."""

    PATH = re.compile(rf"/connect/status/{TOKEN}")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.PATH.sub("/connect/status/…", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def hide_status_tokens() -> None:
    access = logging.getLogger("uvicorn.access")  # Datasette serves through uvicorn
    if not any(isinstance(f, HideStatusTokens) for f in access.filters):
        access.addFilter(HideStatusTokens())


hide_status_tokens()


@hookimpl
def startup() -> None:
    hide_status_tokens()  # again, in case logging was configured after this module loaded


def instance(datasette: Any) -> Instance:
    """Where this Voice's files are: the environment `voice run` gave Datasette."""
    fallback = None
    if DATABASE in datasette.databases:
        fallback = datasette.get_database(DATABASE).path
    return Instance.from_env(os.environ, fallback)


async def topic_rows(datasette: Any) -> list[tuple[str, str, str]]:
    """(slug, label, description) of every topic, as the public `topics` table has them."""
    try:
        result = await datasette.get_database(DATABASE).execute(
            "SELECT slug, label, description FROM topics ORDER BY position, label"
        )
    except Exception:  # no database or no topics table yet: the form offers none
        return []
    return [(r[0], r[1], r[2]) for r in result.rows]


def client_of(request: Request) -> str:
    """Whose limits a request counts against (behind a proxy, see README)."""
    client = request.scope.get("client")
    return guard.client_key(str(client[0]) if client else None)


async def read_fields(request: Request) -> dict[str, list[str]] | None:
    """The POST's fields (the body is already known to be small); None if unreadable."""
    body = await request.post_body()
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except ValueError:
        return None


def csrf_ok(request: Request, fields: dict[str, list[str]]) -> bool:
    """The form's token matches Datasette's signed cookie, whatever asgi-csrf let through."""
    expected = request.scope.get("csrftoken")
    sent = form.first(fields, "csrftoken")
    return bool(
        expected and sent and request.cookies.get("ds_csrftoken")
    ) and secrets.compare_digest(sent, expected())


# /connect ------------------------------------------------------------------


async def connect_page(datasette: Any, request: Request) -> Response:
    topics = await topic_rows(datasette)
    context: dict[str, Any] = {"topics": topics, "regions": form.REGIONS, "errors": {}}
    if request.method != "POST":
        return await render(
            datasette, request, "voice_connect.html", {**context, "form": form.Submission()}
        )
    fields = await read_fields(request)
    if fields is None or not csrf_ok(request, fields):
        return await forbidden(datasette, request)
    if form.first(fields, form.HONEYPOT):  # a bot: it sees success, nothing is stored
        return await sent_page(datasette, request, secrets.token_urlsafe(32), None)
    sending = form.first(fields, "step") == "send"
    answers, errors = form.read_submission(fields, {t[0] for t in topics}, sending=sending)
    context.update(form=answers, errors=errors)
    if errors:
        return await render(datasette, request, "voice_connect.html", context, 400)
    kind = "submission" if sending else "trial"
    client = client_of(request)
    if refusal := LIMITS.check(kind, client):
        what = "send a blog" if sending else "check a blog"
        return await refused(datasette, request, refusal, what)
    with TRIALS.hold() as free:
        if not free:
            return await busy(datasette, request)
        LIMITS.record(kind, client)
        try:
            if sending:
                answer = await commands.submit(instance(datasette), answers.to_json())
            else:
                answer = await commands.try_blog(instance(datasette), answers.url)
        except CommandFailed:
            errors["url"] = "Voice could not check your blog just now. Please try again later."
            return await render(datasette, request, "voice_connect.html", context, 503)
    if sending:
        if answer.get("ok") and answer.get("token"):
            return await sent_page(datasette, request, str(answer["token"]), answer.get("trial"))
        errors[answer.get("field") or "url"] = str(answer.get("message") or "Please check this")
        return await render(datasette, request, "voice_connect.html", context, 400)
    context["trial"] = answer
    if answer.get("ok"):
        answers.checked = answers.url
    else:
        errors["url"] = str(answer.get("problem") or "Voice could not use this address")
    context["topic_labels"] = {slug: label for slug, label, _ in topics}
    return await render(datasette, request, "voice_connect.html", context)


async def sent_page(
    datasette: Any, request: Request, token: str, trial: dict[str, Any] | None
) -> Response:
    link = datasette.absolute_url(request, datasette.urls.path(f"connect/status/{token}"))
    return await render(
        datasette,
        request,
        "voice_connect.html",
        {"sent": True, "status_link": link, "trial": trial},
    )


# /connect/status/<token> ---------------------------------------------------


async def status_page(datasette: Any, request: Request) -> Response:
    token = request.url_vars["token"]
    client = client_of(request)
    if LIMITS.check("token", client):  # many wrong tokens from one client: guessing
        return await not_found(datasette, request)
    if refusal := LIMITS.check("status", client):
        return await refused(datasette, request, refusal, "open a status page")
    fields: dict[str, list[str]] = {}
    if request.method == "POST":
        read = await read_fields(request)
        if read is None or not csrf_ok(request, read):
            return await forbidden(datasette, request)
        fields = read
    with COMMANDS.hold() as free:
        if not free:
            return await busy(datasette, request)
        LIMITS.record("status", client)
        try:
            shown = await commands.member_show(instance(datasette), token)
        except CommandFailed:
            return await problem(
                datasette,
                request,
                "Voice could not find your blog's details",
                "Something went wrong on Voice's side. Please try again later.",
                503,
            )
    if not shown.get("ok"):
        LIMITS.record("token", client)
        return await not_found(datasette, request)
    topics = await topic_rows(datasette)
    current = current_choices(shown)
    context: dict[str, Any] = {
        "shown": shown,
        "submission": shown.get("submission") or {},
        "feed": shown.get("feed"),
        "choices": current,
        "topics": topics,
        "topic_labels": {slug: label for slug, label, _ in topics},
        "regions": form.REGIONS,
        "errors": {},
        "status_path": request.path,
    }
    if request.method != "POST":
        return await render(datasette, request, "voice_connect_status.html", context)
    return await change(datasette, request, token, fields, context)


def current_choices(shown: dict[str, Any]) -> form.Changes:
    """The entry as it stands: the feed's values once approved, else what was sent."""
    submission = shown.get("submission") or {}
    feed = shown.get("feed") or {}

    def value(key: str) -> Any:
        return feed[key] if feed.get(key) is not None else submission.get(key)

    research = value("research")
    return form.Changes(
        region=str(value("region") or ""),
        organisation=str(value("organisation") or ""),
        topics=form.topic_list(value("topics")),
        display=str(value("display") or "full"),
        research="leave-out" if research in (False, 0, "0", "false") else "include",
    )


async def change(
    datasette: Any,
    request: Request,
    token: str,
    fields: dict[str, list[str]],
    context: dict[str, Any],
) -> Response:
    action = form.first(fields, "action")
    errors: dict[str, str] = context["errors"]
    if action not in ACTIONS:
        return await render(datasette, request, "voice_connect_status.html", context, 400)
    asked: dict[str, Any] = {"action": action}
    if action == "update":
        wanted, errors_found = form.read_changes(fields, {t[0] for t in context["topics"]})
        context["choices"] = wanted
        errors.update(errors_found)
        asked["changes"] = wanted.changed_from(current_choices(context["shown"]))
        if not errors and not asked["changes"]:
            errors["organisation"] = "Change at least one of your blog's details, then save"
    if action == "remove" and form.first(fields, "confirm") != "yes":
        errors["confirm"] = "Tick the box to say you want your blog taken down"
    if errors:
        return await render(datasette, request, "voice_connect_status.html", context, 400)
    kind = "trial" if action == "verify" else "change"
    client = client_of(request)
    if refusal := LIMITS.check(kind, client):
        what = "check your blog" if action == "verify" else "change your blog"
        return await refused(datasette, request, refusal, what)
    slots = TRIALS if action == "verify" else COMMANDS
    with slots.hold() as free:
        if not free:
            return await busy(datasette, request)
        LIMITS.record(kind, client)
        try:
            answer = await commands.member_change(instance(datasette), token, asked)
        except CommandFailed:
            answer = {
                "ok": False,
                "message": "Something went wrong on Voice's side. Please try again later.",
            }
    if not answer.get("ok"):
        field = answer.get("field") or {"remove": "confirm", "verify": "verify"}.get(
            action, "action"
        )
        errors[field] = str(answer.get("message") or "Voice could not do that")
        return await render(datasette, request, "voice_connect_status.html", context, 400)
    datasette.add_message(request, str(answer.get("message") or "Done."), datasette.INFO)
    return Response.redirect(request.path, status=303, headers=dict(PRIVATE))


# Body cap and private headers, outside asgi-csrf (which reads a body whole) -----


def _is_connect(path: str) -> bool:
    return path == "/connect" or path.startswith("/connect/")


async def _too_large(send: Callable[[Message], Awaitable[None]]) -> None:
    body = (
        b"<!DOCTYPE html><html lang='en'><title>Too much sent</title>"
        b"<h1>Too much sent</h1><p>The form sent more than Voice accepts. "
        b"Please go back and shorten what you typed.</p></html>"
    )
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"connection", b"close")]
    headers += [(k.lower().encode(), v.encode()) for k, v in PRIVATE.items()]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[ASGIApp], ASGIApp]:
    def wrap(app: ASGIApp) -> ASGIApp:
        async def capped(
            scope: Message,
            receive: Callable[[], Awaitable[Message]],
            send: Callable[[Message], Awaitable[None]],
        ) -> None:
            if scope["type"] != "http" or not _is_connect(scope["path"]):
                await app(scope, receive, send)
                return
            if scope["method"] not in ("GET", "HEAD"):
                declared = guard.declared_length(scope.get("headers", []))
                if declared is not None and declared > BODY_CAP:
                    await _too_large(send)
                    return
                try:
                    messages = await guard.read_body(receive, BODY_CAP)
                except guard.BodyTooLarge:
                    await _too_large(send)
                    return
                receive = guard.replay(messages, receive)

            async def send_private(message: Message) -> None:
                if message["type"] == "http.response.start":
                    names = {k.lower().encode() for k in PRIVATE}
                    kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                    added = [(k.lower().encode(), v.encode()) for k, v in PRIVATE.items()]
                    message = {**message, "headers": kept + added}
                await send(message)

            await app(scope, receive, send_private)

        return capped

    return wrap


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/connect$", connect_page),
        (rf"^/connect/status/(?P<token>{TOKEN})$", status_page),
    ]
