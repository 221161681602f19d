"""The in-memory candidate index of SQLite stores: the same stories as SQL lookups find, when
it holds everything, a part, or what other processes wrote meanwhile."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.catalog import load_catalog
from aggregator.dedup import (
    StoryFeatures,
    choose_story,
    findable_words,
    gate,
    is_roundup,
    lookup_forms,
    ruled_out,
    story_anchors,
    story_similarity,
    story_tokens,
)
from aggregator.extract import html_to_text, sanitize_html
from aggregator.records import (
    Article,
    FeedKind,
    FeedSource,
    FeedUpdateIntent,
    FetchStatus,
    Tags,
)
from aggregator.store import Store, _story_index
from aggregator.store._story_index import CandidateIndex, entity_key
from aggregator.tag import tag_article
from benchmarks.eval_stories import DEFAULT_SET, evaluate

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def features(article_id: int, feed: str, hours: float, words: set[str]) -> StoryFeatures:
    return StoryFeatures(
        article_id=article_id,
        story_id=None,
        feed=feed,
        regulator=False,
        published=NOW + timedelta(hours=hours),
        tokens=frozenset(words),
        anchors=frozenset(),
        entities=frozenset({"Binance"}) if "binance" in words else frozenset(),
        case_numbers=frozenset(),
        penalty_usd=None,
    )


def test_index_finds_newest_matches_in_window_of_other_feeds_and_drops_its_oldest() -> None:
    index = CandidateIndex(capacity=9)
    index.start_at(1)
    for article_id in range(1, 7):
        feed = "own" if article_id == 5 else f"outlet{article_id}"
        words = {"harbor", "ridge"} if article_id % 2 else {"lumora", "binance"}
        index.add(article_id, features(article_id, feed, article_id * 10, words), article_id)
    index.add(9, features(9, "late", 200, {"harbor"}), None)  # ids 7 and 8 were never used
    assert index.matches(["harbor"], 1, 10) == [9, 5, 3, 1]
    assert index.matches(["harbor", "lumora"], 2, 3) == [9, 6, 5]
    assert index.matches([entity_key("Binance")], 1, 10) == [6, 4, 2]
    window = {"since": NOW, "until": NOW + timedelta(hours=55)}
    # 5 is of the article's own feed, 9 has no story yet and is outside the window.
    assert [i for i, *_ in index.usable([9, 5, 3, 1], feed="own", **window)] == [3, 1]
    assert [i for i, *_ in index.usable([9, 5, 3, 1], feed="x", **window, limit=1)] == [5]
    index.set_story(9, 42)
    assert index.usable([9], feed="x", since=NOW, until=NOW + timedelta(days=30))[0][0] == 9
    index.add(10, features(10, "a", 0, {"harbor"}), 1)  # the 10th id: over capacity
    assert index.low == 10 - 9 * 3 // 4
    assert index.matches(["harbor"], 1, 10) == [10, 9, 5]
    assert index.matches([entity_key("Binance")], 1, 10) == [6, 4]


def test_lookup_forms_meet_findable_words() -> None:
    named = features(1, "a", 0, {"settl", "ridge"})
    named = StoryFeatures(**{**{f: getattr(named, f) for f in (
        "article_id", "story_id", "feed", "regulator", "published", "tokens", "entities",
        "case_numbers", "penalty_usd")}, "anchors": frozenset({"lumoravest", "~harbor"})})  # fmt: skip
    assert findable_words(named) == {"settl", "ridge", "lumoravest", "harbor"}
    # A name is looked up whole and by the stem ordinary text is kept under.
    assert lookup_forms("lumoravest") == ("lumoravest", "lumora")
    assert lookup_forms("harbor") == ("harbor",)


def _eval_features() -> list[StoryFeatures]:
    """The hand-labelled story set's items as story matching sees them."""
    catalog = load_catalog()
    items = [json.loads(line) for line in DEFAULT_SET.read_text(encoding="utf-8").splitlines()]
    found = []
    for number, item in enumerate(filter(None, items)):
        kind = FeedKind(item.get("kind") or "news")
        summary = html_to_text(sanitize_html(item.get("summary") or ""))
        tags = tag_article(
            item["title"], summary, catalog=catalog, kind=kind, agency=item.get("agency")
        )
        found.append(
            StoryFeatures(
                article_id=number,
                story_id=None,
                feed=item["source"],
                regulator=kind is FeedKind.REGULATOR,
                published=datetime.fromisoformat(item["published"].replace("Z", "+00:00")),
                tokens=story_tokens(item["title"], summary),
                anchors=story_anchors(item["title"], summary),
                entities=frozenset(tags.entities),
                case_numbers=frozenset(tags.case_numbers),
                penalty_usd=tags.penalty_usd,
                action=tags.action,
                roundup=is_roundup(item["title"]),
                agency=item.get("agency"),
            )
        )
    return found


def test_a_gate_rules_out_only_pairs_that_could_never_score() -> None:
    # Every pair of the hand-labelled set, and each with the other's masks filled (as if every
    # word collided): ruled out means story_similarity says None, always.
    articles = _eval_features()
    ruled = 0
    for a, b in itertools.permutations(articles, 2):
        a_gate, b_gate = gate(a), gate(b)
        collided = b_gate._replace(
            cases=b_gate.cases and 2**64 - 1, headline=b_gate.headline and 2**256 - 1
        )
        for other in (b_gate, collided):
            if ruled_out(a_gate, *other):
                ruled += 1
                assert story_similarity(a, b) is None, (a.article_id, b.article_id)
    # ... and it does rule out: most pairs of different events (releases of one agency,
    # other case numbers or penalties, headlines without a common word).
    assert ruled > len(articles) ** 2 // 10


@pytest.fixture(scope="module")
def expected() -> tuple[int, int, int]:
    report = evaluate(DEFAULT_SET)
    return report.true_positive, report.false_positive, report.false_negative


@pytest.mark.slow
def test_an_index_that_holds_a_few_articles_finds_the_rest_in_sql(
    expected: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_story_index, "CAPACITY", 7)
    report = evaluate(DEFAULT_SET)
    assert (report.true_positive, report.false_positive, report.false_negative) == expected


@pytest.mark.slow
def test_stores_writing_in_turn_see_each_others_articles(expected: tuple[int, int, int]) -> None:
    # Three stores on one file, each writing every third item, as three processes would: each
    # index must catch up with what the other two wrote.
    report = evaluate(DEFAULT_SET, writers=3)
    assert (report.true_positive, report.false_positive, report.false_negative) == expected


def _article(guid: str, title: str, summary: str) -> Article:
    return Article(
        key=f"guid:{guid}",
        guid=guid,
        url=None,
        title=title,
        summary_html=summary,
        summary_text=summary,
        author=None,
        categories=(),
        published=NOW,
        published_estimated=False,
        content_hash=guid,
        tags=Tags(entities=("Lumoravest Capital",)),
    )


def test_a_rolled_back_write_leaves_no_trace_in_the_index(store: Store) -> None:
    store.sync_feeds([FeedSource(n, f"https://{n}.test/", FeedKind.NEWS) for n in "abc"], NOW)

    def write(feed: str, guid: str, choose: object) -> int:
        article = _article(
            guid,
            "Lumoravest Capital founder charged over $42.7 million Ponzi scheme",
            "Prosecutors charged the founder of Lumoravest Capital with running a $42.7 "
            "million Ponzi scheme that took money from 900 investors in Ohio.",
        )
        intent = FeedUpdateIntent(
            feed=feed, fetched=NOW, status=FetchStatus.OK, next_check=NOW, articles=(article,)
        )
        return store.apply_update(intent, choose).new_ids[0]  # type: ignore[arg-type]

    first = write("a", "a1", choose_story)

    def broken(article: StoryFeatures, candidates: list[StoryFeatures]) -> int | None:
        raise RuntimeError("chooser failed")

    with pytest.raises(RuntimeError):
        write("b", "b1", broken)
    assert store._candidates is not None and store._candidates.empty
    # The id the rollback took back is handed out again, to another article.
    second = write("c", "c1", choose_story)
    stories = {a.id: a.story_id for a in store.get_articles()}
    assert stories[second] == stories[first]
    assert store.count_articles() == 2


def test_an_article_edited_here_is_found_by_its_new_words(store: Store) -> None:
    store.sync_feeds([FeedSource(n, f"https://{n}.test/", FeedKind.NEWS) for n in "ab"], NOW)

    def write(feed: str, article: Article) -> None:
        intent = FeedUpdateIntent(
            feed=feed, fetched=NOW, status=FetchStatus.OK, next_check=NOW, articles=(article,)
        )
        store.apply_update(intent, choose_story)

    zentrix = (
        "Zentrix exchange fined $18.3 million over Corvane wallet laundering",
        "Regulators fined the Zentrix exchange $18.3 million for letting Corvane wallets "
        "launder stolen funds through its Tallin desk for two years.",
    )
    write("a", _article("a1", "Lumoravest Capital founder charged", "A Ponzi scheme in Ohio."))
    # The same item, rewritten by its publisher into another story altogether.
    write("a", replace(_article("a1", *zentrix), content_hash="a1-edited", tags=Tags()))
    write("b", replace(_article("b1", *zentrix), tags=Tags()))
    stories = [article.story_id for article in store.get_articles()]
    assert len(stories) == 2 and stories[0] == stories[1]


def test_a_closed_store_lets_go_of_its_story_caches_and_can_be_used_again(store: Store) -> None:
    store.sync_feeds([FeedSource(n, f"https://{n}.test/", FeedKind.NEWS) for n in "ab"], NOW)
    title = "Lumoravest Capital founder charged over $42.7 million Ponzi scheme"
    summary = "Prosecutors charged the founder of Lumoravest Capital with a Ponzi scheme."
    for feed in "ab":
        intent = FeedUpdateIntent(
            feed=feed,
            fetched=NOW,
            status=FetchStatus.OK,
            next_check=NOW,
            articles=(_article(f"{feed}1", title, summary),),
        )
        store.apply_update(intent, choose_story)
    assert store._candidates is not None and not store._candidates.empty
    assert store._story_features._entries
    store.close()
    assert store._candidates.empty and not store._story_features._entries
    assert store.count_articles() == 2
    assert len({a.story_id for a in store.get_articles()}) == 1
