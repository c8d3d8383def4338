"""Region names as members type them, matched to the canonical REGIONS.

Members write `south east` or `Yorkshire & the Humber`; both mean a region
Voice knows, so they are accepted and stored under the canonical name. A near
miss (`Sout East`) is not guessed silently: it gets a suggestion the member
confirms, because a wrong region puts a blog on the wrong page.
"""

from __future__ import annotations

import difflib

from aggregator.models import REGIONS

SUGGEST_CUTOFF = 0.75  # difflib ratio: one or two letters wrong in a region name


def _fold(text: str) -> str:
    """Case, runs of spaces and `&` vs `and` do not make a different region."""
    return " ".join(text.replace("&", " and ").lower().split())


_BY_FOLDED = {_fold(name): name for name in REGIONS}


def match_region(text: str) -> tuple[str | None, str | None]:
    """(canonical, None) for a region; (None, suggestion) for a near miss; else (None, None)."""
    folded = _fold(text)
    if folded in _BY_FOLDED:
        return _BY_FOLDED[folded], None
    close = difflib.get_close_matches(folded, list(_BY_FOLDED), n=1, cutoff=SUGGEST_CUTOFF)
    return None, (_BY_FOLDED[close[0]] if close else None)
