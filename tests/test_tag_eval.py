"""The tagger's quality on the hand-labelled evaluation set stays above its targets."""

from __future__ import annotations

import pytest

from benchmarks.eval_tagging import DEFAULT_SET, evaluate


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return evaluate(DEFAULT_SET)


def test_the_set_is_big_and_varied(report) -> None:  # type: ignore[no-untyped-def]
    assert report.items >= 300


@pytest.mark.parametrize(
    ("field", "target"), [("agencies", 0.95), ("entities", 0.92)], ids=["agencies", "entities"]
)
def test_f1_targets(report, field: str, target: float) -> None:  # type: ignore[no-untyped-def]
    assert report.sets[field].f1 >= target, "\n".join(e for e in report.errors if f" {field}:" in e)


def test_action_accuracy(report) -> None:  # type: ignore[no-untyped-def]
    assert report.action_accuracy >= 0.85


def test_penalty_exact_match(report) -> None:  # type: ignore[no-untyped-def]
    assert report.penalty_exact >= 0.90
