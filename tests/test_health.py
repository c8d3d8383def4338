import pytest

from aggregator.errors import FETCH_KINDS, PARSE_KINDS
from aggregator.health import explain


@pytest.mark.parametrize(
    ("status", "kind", "http", "needs", "phrase"),
    [
        pytest.param("ok", None, 200, False, "Working", id="ok"),
        pytest.param("new", None, None, False, "Not checked yet", id="new"),
        pytest.param("error", "http_status", 403, True, "allow the Voice user agent", id="403"),
        pytest.param("error", "http_status", 404, True, "Check the feed URL", id="404"),
        pytest.param("error", "http_status", 502, True, "internal problem (502)", id="5xx"),
        pytest.param("error", "http_status", 418, True, "answered 418", id="other-status"),
        pytest.param("gone", "gone", 410, True, "removed for good", id="gone"),
        pytest.param("error", "dns", None, True, "could not find", id="dns"),
        pytest.param("error", "not_a_feed", 200, True, "not a feed", id="not-a-feed"),
        pytest.param("removed", None, None, False, "Removed from the registry", id="removed"),
    ],
)
def test_explanations_speak_to_members(
    status: str, kind: str | None, http: int | None, needs: bool, phrase: str
) -> None:
    health = explain(status, kind, http)
    assert health.needs_attention is needs
    assert phrase in health.explanation


@pytest.mark.parametrize("kind", sorted(FETCH_KINDS | PARSE_KINDS | {"internal"}))
def test_every_error_kind_has_its_own_explanation(kind: str) -> None:
    assert explain("error", kind).explanation != "Voice could not read this feed."
