"""The reading side of Voice, shared by the page and feed plugins.

Not a Datasette plugin itself (only top-level `plugins/*.py` are loaded);
plugins import it after putting `plugins/` on `sys.path`. It reads only the
database contract (docs/schema.md) and never imports `aggregator`.

- `selection`: what a reader asked for (`Selection`, from request args) and
  `find_posts`, which turns it into one page of `Card`s in a fixed number of
  queries; `BadRequest` carries a plain-English message for a 400 page.
- `cards`: the `Card` and `Page` values and how rows become cards (topics and
  copies for all cards in one query each).
- `lookup`: navigation counts (kept while the database is unchanged, and a
  minute after it changes), blogs and their health, one post in full.
- `changes`: whether the database file changed (`PRAGMA data_version`), and
  query results kept until it does (the facets' counts).
- `text`: slugs, dates people read, author names without e-mail addresses,
  excerpts and search snippets.
"""
