"""Research releases: fixed, citable copies of the public archive (issue 14).

`tables` says what a release holds, `snapshot` copies the public data in
one read, `export` writes Parquet and JSON Lines, `manifest` the Data
Package and CHANGES, `release` puts them together. Only `export` imports
pyarrow.
"""

from aggregator.releasing.release import ReleaseResult, list_releases, make_release

__all__ = ["ReleaseResult", "list_releases", "make_release"]
