"""Research releases: fixed, citable copies of the public archive (issue 14).

`tables` says what a release holds, `snapshot` copies the public data in
one read, `export` writes Parquet and JSON Lines, `manifest` the Data
Package and CHANGES, `release` puts them together, and `scheduled` makes
one from `voice run` when one is due. Only `export` imports
pyarrow.
"""

from aggregator.releasing.release import ReleaseResult, list_releases, make_release
from aggregator.releasing.scheduled import ReleaseRunner, release_due

__all__ = ["ReleaseResult", "ReleaseRunner", "list_releases", "make_release", "release_due"]
