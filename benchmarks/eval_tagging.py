"""Evaluate the tagger against a hand-labelled set and print precision, recall and F1 per field.

    python -m benchmarks.eval_tagging [tests/data/tagging/eval.jsonl] [--errors]

Set-valued fields (agencies, mentioned_agencies, entities, case_numbers) are scored
micro-averaged over items; action is scored by accuracy (null included) and penalty by exact
match of penalty_usd (null included).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aggregator.catalog import load_catalog
from aggregator.extract import clean_text, html_to_text, sanitize_html
from aggregator.tag import tag_article

DEFAULT_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "tagging" / "eval.jsonl"
SET_FIELDS = ("agencies", "mentioned_agencies", "entities", "case_numbers")


@dataclass
class SetScore:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positive + self.false_negative
        return self.true_positive / wanted if wanted else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    items: int = 0
    sets: dict[str, SetScore] = field(default_factory=lambda: {f: SetScore() for f in SET_FIELDS})
    action_right: int = 0
    penalty_right: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def action_accuracy(self) -> float:
        return self.action_right / self.items if self.items else 0.0

    @property
    def penalty_exact(self) -> float:
        return self.penalty_right / self.items if self.items else 0.0


def _same_amount(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < 0.5


def evaluate(path: Path = DEFAULT_SET) -> Report:
    catalog = load_catalog()
    report = Report()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        # As in the pipeline: the tagger sees clean text, entities decoded and markup removed.
        tags = tag_article(
            clean_text(item["title"]),
            html_to_text(sanitize_html(item.get("summary") or "")),
            catalog=catalog,
            kind=item.get("kind"),
            agency=item.get("agency"),
        )
        report.items += 1
        got: dict[str, Any] = {
            "agencies": tags.agencies,
            "mentioned_agencies": tags.mentioned_agencies,
            "entities": tags.entities,
            "case_numbers": tags.case_numbers,
        }
        for name in SET_FIELDS:
            want, have = set(item.get(name) or []), set(got[name])
            score = report.sets[name]
            score.true_positive += len(want & have)
            score.false_positive += len(have - want)
            score.false_negative += len(want - have)
            if want != have:
                report.errors.append(
                    f"{item['id']} {name}: missing {sorted(want - have)} extra "
                    f"{sorted(have - want)} | {item['title'][:70]}"
                )
        if tags.action == item.get("action"):
            report.action_right += 1
        else:
            report.errors.append(
                f"{item['id']} action: want {item.get('action')} got {tags.action} | "
                f"{item['title'][:70]}"
            )
        if _same_amount(tags.penalty_usd, item.get("penalty_usd")):
            report.penalty_right += 1
        else:
            report.errors.append(
                f"{item['id']} penalty_usd: want {item.get('penalty_usd')} got "
                f"{tags.penalty_usd} | {item['title'][:70]}"
            )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--errors", action="store_true", help="list every disagreement")
    args = parser.parse_args(argv)
    report = evaluate(args.path)
    print(f"{report.items} items from {args.path}")
    print(f"{'field':<20}{'precision':>10}{'recall':>10}{'F1':>8}")
    for name, score in report.sets.items():
        print(f"{name:<20}{score.precision:>10.3f}{score.recall:>10.3f}{score.f1:>8.3f}")
    print(f"{'action accuracy':<20}{report.action_accuracy:>28.3f}")
    print(f"{'penalty exact':<20}{report.penalty_exact:>28.3f}")
    if args.errors:
        print()
        print("\n".join(report.errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
