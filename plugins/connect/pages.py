"""The /connect pages' rendering: shared context, and the pages that say no.

Every /connect answer is private (PRIVATE headers): it may hold what a
member typed, or their status link. Refusals say plainly what happened and
when to come back: 403 (not sent from Voice's form), 404 (a status link
that is not valid, showing nothing), 429 (too many tries) and 503 (busy).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from datasette.utils.asgi import Request, Response
from reader.text import STATUS_TEXT, readable_date

from connect.guard import Refusal

SITE = "LocalGov Digital Voice"
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
BUSY_RETRY_SECONDS = 30
STATUS_LABELS = {
    "pending": "waiting for a moderator",
    "approved": "accepted",
    "rejected": "not accepted",
    "removed": "taken down",
    "withdrawn": "withdrawn",
}
CHANGE_LABELS = {
    "pending": "waiting for a moderator",
    "approved": "done",
    "applied": "done",
    "rejected": "not made",
}


async def render(
    datasette: Any,
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    body = await datasette.render_template(
        template,
        {
            "site": SITE,
            "readable_date": readable_date,
            "status_labels": STATUS_LABELS,
            "feed_status": STATUS_TEXT,  # as a blog's page says them
            "change_labels": CHANGE_LABELS,
            **context,
        },
        request=request,
    )
    return Response.html(body, status=status, headers={**PRIVATE, **(headers or {})})


async def problem(
    datasette: Any,
    request: Request,
    title: str,
    message: str,
    status: int,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {"title": title, "message": message, "status": status}
    return await render(datasette, request, "voice_error.html", context, status, headers)


async def refused(datasette: Any, request: Request, refusal: Refusal, what: str) -> Response:
    minutes = max(1, round(refusal.retry_after / 60))
    at = datetime.fromtimestamp(refusal.at, UTC).strftime("%H:%M")
    message = (
        f"You can {what} {refusal.allowed} times an hour, and you have. "
        f"Please try again in {minutes} minute{'s' if minutes != 1 else ''} (after {at} UTC)."
    )
    headers = {"Retry-After": str(refusal.retry_after)}
    return await problem(datasette, request, "Too many tries", message, 429, headers)


async def busy(datasette: Any, request: Request) -> Response:
    message = (
        "Voice is checking other blogs right now. "
        "Please go back and try again in a minute: what you typed is still in the form."
    )
    headers = {"Retry-After": str(BUSY_RETRY_SECONDS)}
    return await problem(datasette, request, "Voice is busy", message, 503, headers)


async def forbidden(datasette: Any, request: Request) -> Response:
    message = (
        "This form was not sent from Voice's own page, or it is too old. "
        "Please open the page again and send it from there."
    )
    return await problem(datasette, request, "The form could not be sent", message, 403)


async def not_found(datasette: Any, request: Request) -> Response:
    message = "There is nothing at this address."
    return await problem(datasette, request, "Page not found", message, 404)

