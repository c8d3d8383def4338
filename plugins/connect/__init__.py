"""What the /connect pages share: the form's fields, the abuse guards, the `voice` commands.

- `form`: the fields of "Connect your blog" and of a member's changes, read
  from a POST and checked, each with its message next to the field (pure);
- `guard`: per-client rate limits, the site-wide cap on commands in flight,
  and the request body read with a size cap;
- `commands`: `python -m aggregator ...` as an asyncio subprocess, JSON in
  on stdin and out on stdout, as PLAN's protocol says.

Imported by plugins/voice_connect.py the way plugins/reader/ is; never
imports aggregator: the form talks to Voice only through its commands.
"""
