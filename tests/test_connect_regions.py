"""The /connect form offers the regions feeds.yaml accepts, in the same order.

plugins/ never imports aggregator, so plugins/connect/form.py keeps its own
copy of aggregator.models.REGIONS; this test is what keeps the two equal.
"""

from __future__ import annotations

from aggregator.models import REGIONS
from plugins.connect import form


def test_the_forms_regions_are_voices_regions_in_order() -> None:
    assert list(form.REGIONS) == list(REGIONS)
