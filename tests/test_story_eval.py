"""Story grouping on the hand-labelled set: conservative (precision first)."""

from __future__ import annotations

from benchmarks.eval_stories import DEFAULT_SET, evaluate


def test_story_grouping_quality() -> None:
    report = evaluate(DEFAULT_SET)
    assert report.items >= 200
    # A wrong merge hides an enforcement action: precision is held at the 0.90 target.
    assert report.precision >= 0.90, "\n".join(e for e in report.errors if e.startswith("merged"))
    # Recall is measured at 0.872, the same on every hash seed; the target is 0.90 (see
    # CHANGELOG: most of what is missed are follow-ups past the 72 h window). This guards
    # against losing ground while it is improved.
    assert report.recall >= 0.85, "\n".join(e for e in report.errors if e.startswith("split"))
