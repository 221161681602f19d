"""Evaluate story grouping on a hand-labelled set: pairwise precision and recall.

    python -m benchmarks.eval_stories [tests/data/stories/eval.jsonl] [--errors]

Every item goes through the real pipeline (clean, tag, store, assign stories) in a temporary
SQLite store, in publication order; then each pair of items is a true or false "same story".
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aggregator.catalog import load_catalog
from aggregator.dedup import article_key, choose_story, content_hash
from aggregator.extract import clean_text, html_to_text, sanitize_html
from aggregator.records import Article, FeedKind, FeedSource, FeedUpdateIntent, FetchStatus
from aggregator.store import open_store
from aggregator.tag import tag_articles

DEFAULT_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "stories" / "eval.jsonl"


@dataclass
class Report:
    items: int = 0
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positive + self.false_negative
        return self.true_positive / wanted if wanted else 1.0


def evaluate(path: Path = DEFAULT_SET, url: str | None = None, writers: int = 1) -> Report:
    """Score story grouping on the set at ``path``, in a temporary SQLite store or, given
    ``url``, in that (empty) store. ``writers`` stores opened on it write the items in turn,
    as that many processes would."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    items.sort(key=lambda item: item["published"])
    catalog = load_catalog()
    report = Report(items=len(items))
    with tempfile.TemporaryDirectory() as folder:
        url = url or f"sqlite:///{Path(folder) / 'stories.sqlite'}"
        store = open_store(url)
        others = [open_store(url) for _ in range(writers - 1)]
        now = datetime.fromisoformat(items[-1]["published"].replace("Z", "+00:00"))
        sources = {}
        for item in items:
            kind = FeedKind(item.get("kind") or "news")
            sources[item["source"]] = FeedSource(
                item["source"], f"https://{item['source']}.test/feed", kind, item.get("agency")
            )
        store.sync_feeds(list(sources.values()), now)
        ids: dict[str, int] = {}
        for number, item in enumerate(items):
            writer = ([store, *others])[number % writers]
            published = datetime.fromisoformat(item["published"].replace("Z", "+00:00"))
            title = clean_text(item["title"])
            summary_html = sanitize_html(item.get("summary") or "")
            article = Article(
                key=article_key(item["id"], None, title, published),
                guid=item["id"],
                url=None,
                title=title,
                summary_html=summary_html,
                summary_text=html_to_text(summary_html),
                author=None,
                categories=(),
                published=published,
                published_estimated=False,
                content_hash=content_hash([item["id"]]),
            )
            source = sources[item["source"]]
            tagged = tag_articles(
                [article], catalog=catalog, kind=source.kind, agency=source.agency
            )
            counts = writer.apply_update(
                FeedUpdateIntent(
                    feed=source.name,
                    fetched=published,
                    status=FetchStatus.OK,
                    next_check=published,
                    articles=tagged,
                    from_network=False,
                ),
                choose_story,
            )
            ids[item["id"]] = counts.new_ids[0]
        story_of = {a.id: a.story_id for a in store.get_articles()}
        for opened in (store, *others):
            opened.close()
    for a, b in itertools.combinations(items, 2):
        same_label = a["story"] == b["story"]
        same_found = story_of[ids[a["id"]]] == story_of[ids[b["id"]]]
        if same_label and same_found:
            report.true_positive += 1
        elif same_found:
            report.false_positive += 1
            report.errors.append(
                f"merged   {a['id']} {a['title'][:60]!r} | {b['id']} {b['title'][:60]!r}"
            )
        elif same_label:
            report.false_negative += 1
            report.errors.append(
                f"split    {a['id']} {a['title'][:60]!r} | {b['id']} {b['title'][:60]!r}"
            )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--errors", action="store_true", help="list every wrong pair")
    args = parser.parse_args(argv)
    report = evaluate(args.path)
    print(f"{report.items} items from {args.path}")
    print(f"pairwise precision {report.precision:.3f}  recall {report.recall:.3f}")
    print(
        f"same-story pairs found {report.true_positive}, wrongly merged "
        f"{report.false_positive}, missed {report.false_negative}"
    )
    if args.errors:
        print("\n".join(report.errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
