"""The reading side of Voice, shared by the page and feed plugins.

Not a Datasette plugin itself (only top-level `plugins/*.py` are loaded);
plugins import it after putting `plugins/` on `sys.path`. It reads only the
database contract (docs/schema.md) and never imports `aggregator`.

- `selection`: what a reader asked for (`Selection`, from request args) and
  `find_posts`, which turns it into one page of `Card`s in a fixed number of
  queries; `BadRequest` carries a plain-English message for a 400 page.
- `cards`: the `Card` and `Page` values and how rows become cards (topics and
  copies for all cards in one query each).
- `lookup`: navigation counts (cached for a minute), blogs and their health,
  one post in full.
- `text`: slugs, dates people read, author names without e-mail addresses,
  excerpts and search snippets.
"""
