"""Canary verdicts and weights."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.domain.canary import STABLE_WEIGHT, Verdict, canary_weight, verdict
from orchestrator.domain.model import CanaryAnalysis

analyses = st.builds(
    CanaryAnalysis,
    max_error_rate=st.floats(0, 1),
    min_requests=st.integers(1, 1_000),
)


@given(analysis=analyses, requests=st.integers(0, 999), data=st.data())
def test_fewer_answers_than_min_requests_is_inconclusive_never_a_pass(
    analysis: CanaryAnalysis, requests: int, data: st.DataObject
) -> None:
    errors = data.draw(st.integers(0, requests))
    got = verdict(requests, errors, analysis)
    if requests < analysis.min_requests:
        assert got is Verdict.INCONCLUSIVE
    else:
        assert got is not Verdict.INCONCLUSIVE


@given(analysis=analyses, requests=st.integers(1, 10_000), data=st.data())
def test_a_canary_fails_exactly_when_its_error_rate_is_above_the_limit(
    analysis: CanaryAnalysis, requests: int, data: st.DataObject
) -> None:
    errors = data.draw(st.integers(0, requests))
    got = verdict(max(requests, analysis.min_requests), errors, analysis)
    rate = errors / max(requests, analysis.min_requests)
    assert (got is Verdict.FAIL) == (rate > analysis.max_error_rate)


def test_half_errors_fail_a_canary_with_enough_answers() -> None:
    assert verdict(20, 10, CanaryAnalysis(max_error_rate=0.05, min_requests=20)) is Verdict.FAIL


@given(stable=st.integers(1, 8), percent=st.integers(1, 50))
def test_the_canary_weight_gives_about_its_share(stable: int, percent: int) -> None:
    w = canary_weight(stable, percent)
    share = 100 * w / (w + stable * STABLE_WEIGHT)
    assert 1 <= w <= 256
    assert abs(share - percent) < 1.5 or w == 256


def test_no_weight_means_no_traffic() -> None:
    assert canary_weight(3, 0) == 0
