"""The benchmark's own measuring code, run small: what it reports must come from real work.
(Speed itself is judged by ``python -m benchmarks.bench``, never here.)"""

from __future__ import annotations

from pathlib import Path

from aggregator.catalog import load_catalog
from aggregator.store import open_store
from benchmarks.bench import STAGES, time_stages


def test_stage_breakdown_times_every_stage_and_really_writes(tmp_path: Path) -> None:
    spent = time_stages(tmp_path, load_catalog(), feeds=6, items=8)
    assert list(spent) == list(STAGES)
    # Each stage did work on this process's CPU clock (story assignment can cost less than
    # the clock's resolution only if it did nothing).
    assert all(seconds > 0 for stage, seconds in spent.items() if stage != "story assignment")
    with open_store(f"sqlite:///{tmp_path / 'stages-plain.sqlite'}") as plain:
        assert plain.count_articles() == 6 * 8
        assert not any(article.story_id for article in plain.get_articles())
    with open_store(f"sqlite:///{tmp_path / 'stages-stories.sqlite'}") as stories:
        assert stories.count_articles() == 6 * 8
        assert all(article.story_id for article in stories.get_articles())
