"""Article identity, content fingerprints and story matching: pure functions, no I/O.

An article is identified within its feed by its guid; without one by its canonical link; without
either by a hash of its title and date. Items of one feed that share a link but differ by guid
(court dockets do this) are different articles.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from aggregator._urls import canonical_url
from aggregator.records import Article


def article_key(
    guid: str | None, url: str | None, title: str, published: datetime | None, summary: str = ""
) -> str:
    """The identity of an item within its feed, stable across fetches."""
    if guid:
        return "guid:" + guid
    if url:
        return "url:" + canonical_url(url)
    # Never the time first seen: the key must not change from one fetch to the next.
    basis = [title, published.isoformat() if published else summary]
    return "hash:" + _digest(basis)


def disambiguate(articles: Sequence[Article]) -> tuple[Article, ...]:
    """One document's articles with unique keys.

    An exact repeat of an item is dropped. Items that share a guid but differ in content (EDGAR
    lists one filing once per filer; PACER repeats a docket entry's guid) are different
    articles: the first keeps the plain key, later ones get the key plus a content suffix, so
    the keys are the same on every fetch of the same document.
    """
    seen: dict[str, str] = {}
    kept: list[Article] = []
    for article in articles:
        known = seen.get(article.key)
        if known is None:
            seen[article.key] = article.content_hash
            kept.append(article)
            continue
        if known == article.content_hash:
            continue
        key = f"{article.key}#{article.content_hash[:12]}"
        if key in seen:
            continue
        seen[key] = article.content_hash
        kept.append(replace(article, key=key))
    return tuple(kept)


def content_hash(fields: Iterable[object]) -> str:
    """A fingerprint of what a reader sees, so an unchanged article is not rewritten."""
    return _digest(list(fields))


def _digest(value: object) -> str:
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


# -- stories: the same event reported by several sources ----------------------------------------

STORY_WINDOW_HOURS = 72
STORY_THRESHOLD = 0.45  # below this, two articles are different stories
# Weights measured on tests/data/stories/eval.jsonl (python -m benchmarks.eval_stories).
OVERLAP_WEIGHT = 1.0
NAME_WEIGHT = 0.15
NEAR_COPY = 0.8
ACTION_MISMATCH = 0.2
AMOUNT_WEIGHT = 0.1
SAME_ACTION = 0.1
_WORD = re.compile(r"[a-z0-9$£€]+(?:[.'’][a-z0-9]+)*")
_STOPWORDS = frozenset(
    """a an the and or of in on at to for by with from as into over after before about against
    its it is are was were be been has have had will would this that these those their his her
    than then new says said say amid after over under us u.s up out more most also just now
    how why what who which when where per via vs""".split()  # noqa: SIM905 - reads as text
)
# Newsrooms and regulators name the same act differently: "sues" and "charges", "fined" and
# "ordered to pay". Each word maps to the concept it stands for.
_CONCEPTS = {
    **dict.fromkeys(("sue", "sues", "sued", "suing", "lawsuit", "charge", "charges", "charged",
                     "complaint", "accuses", "accused", "alleges"), "charge"),
    **dict.fromkeys(("fine", "fines", "fined", "penalty", "penalties", "pay", "pays", "paying",
                     "ordered"), "penalty"),
    **dict.fromkeys(("settle", "settles", "settled", "settlement", "resolve", "resolves",
                     "resolution"), "settle"),
    **dict.fromkeys(("plead", "pleads", "pleaded", "plea", "guilty"), "plea"),
    **dict.fromkeys(("sentence", "sentenced", "sentencing", "prison", "jail", "jailed"),
                    "sentence"),
    **dict.fromkeys(("probe", "probes", "investigation", "investigates", "investigating"),
                    "probe"),
    **dict.fromkeys(("securities", "sec"), "sec"),
    **dict.fromkeys(("billion", "bn", "b"), "billion"),
    **dict.fromkeys(("million", "mln", "m"), "million"),
}  # fmt: skip


# Capitalised words that name no particular party: they say nothing about which event it is.
_COMMON_NAMES = frozenset(
    """sec cftc doj fbi finra ofac fincen nydfs fca irs occ fdic fed ftc cfpb nfa treasury
    commission department justice securities exchange exchanges commodity futures trading
    federal court judge district attorney attorneys office prosecutors authority regulator
    regulators agency board bureau crypto cryptocurrency bitcoin btc ether eth ethereum token
    tokens stablecoin stablecoins blockchain digital asset assets defi nft market markets
    founder founders ceo cfo executive former chief chairman chair commissioner president
    charges charged settles settlement fines fined penalty sues sued lawsuit case order orders
    fraud scheme investors investor million billion inc llc ltd corp company firm platform
    lending lender fund funds capital group holdings network protocol labs bank banks
    u.s us usa america american united states new york texas california florida london
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday the this that these after amid
    why how what who when where here there report reports says said statement breaking update
    week weekly daily today yesterday analysis opinion exclusive""".split()  # noqa: SIM905
)
_CAPITALISED = re.compile(r"(?<![\w.])([A-Z][\w.'’-]{2,}|[a-z]+[A-Z][\w]*)")


def story_anchors(title: str, summary: str) -> frozenset[str]:
    """Proper names in the text: capitalised words that never appear in lower case in the same
    article and are not common enforcement vocabulary ("HashNorth", "Lumora", "Brooks")."""
    text = f"{title} {summary}"
    lower_words = set(re.findall(r"(?<![\w.])[a-z][\w'-]*", text))
    anchors = set(story_amounts(text))
    for word in _CAPITALISED.findall(text):
        word = word.rstrip(".'’-").replace("’s", "").replace("'s", "")
        folded = word.lower()
        if len(folded) < 3 or folded in _COMMON_NAMES or folded in _STOPWORDS:
            continue
        if folded in lower_words:
            continue  # "Founder" in a headline, "founder" in the text: an ordinary word
        anchors.add(folded)
    return frozenset(anchors)


@dataclass(frozen=True, slots=True)
class StoryFeatures:
    """What story matching looks at, for one article."""

    article_id: int
    story_id: int | None
    feed: str
    regulator: bool
    published: datetime
    tokens: frozenset[str]
    anchors: frozenset[str]  # proper names found in the text (see story_anchors)
    entities: frozenset[str]
    case_numbers: frozenset[str]
    penalty_usd: float | None
    action: str | None = None
    roundup: bool = False  # a digest of several events ("The Week in Crypto Policy")
    agency: str | None = None  # the publishing regulator, for a regulator's release


_ROUNDUP = re.compile(
    r"^(?:the\s+)?(?:daily|weekly|morning|evening)\b|\bweek\s+in\b|\bthis\s+week\b|"
    r"\bround-?up\b|\brecap\b|\bnewsletter\b|\bwhat\s+happened\b|\bbriefing\b|"
    r"\bin\s+brief\b|\btop\s+stories\b",
    re.IGNORECASE,
)
_AMOUNT = re.compile(
    r"[$£€]\s?(\d+(?:[.,]\d+)*)\s?(billion|bn|b|million|mln|m|thousand|k)?\b", re.IGNORECASE
)
_SCALE = {"billion": 1e9, "bn": 1e9, "b": 1e9, "million": 1e6, "mln": 1e6, "m": 1e6,
          "thousand": 1e3, "k": 1e3}  # fmt: skip


def is_roundup(title: str) -> bool:
    """A round-up or newsletter names several events; it belongs to none of their stories."""
    return bool(_ROUNDUP.search(title))


def story_amounts(text: str) -> frozenset[str]:
    """Money amounts, written one way: "$42M" and "$42 million" are both "amount:42000000"."""
    found = set()
    for number, scale in _AMOUNT.findall(text):
        try:
            value = float(number.replace(",", "")) * _SCALE.get(scale.lower(), 1)
        except ValueError:
            continue
        found.add(f"amount:{value:.0f}")
    return frozenset(found)


STEM_LENGTH = 6


def _stem(word: str) -> str:
    """A crude stem: "filing"/"files", "confidential"/"confidentially" meet. Only overlap of
    content words uses it; names are compared whole."""
    if word.startswith("amount:") or len(word) <= STEM_LENGTH:
        return (
            word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word
        )
    return word[:STEM_LENGTH]


def story_tokens(title: str, summary: str) -> frozenset[str]:
    """Content words of the title and the lead, with enforcement verbs folded to concepts."""
    lead = " ".join(summary.split()[:40])
    words = _WORD.findall(f"{title} {lead}".lower())
    tokens = set()
    for word in words:
        if word in _STOPWORDS or len(word) < 2:
            continue
        tokens.add(_stem(_CONCEPTS.get(word, word)))
    return frozenset(tokens)


def _name_words(names: Iterable[str]) -> set[str]:
    return {
        word
        for name in names
        for word in re.findall(r"[\w.'-]+", name.lower())
        if len(word) > 2 and word not in _COMMON_NAMES and word not in _STOPWORDS
    }


def story_similarity(a: StoryFeatures, b: StoryFeatures) -> float | None:
    """How likely two articles report the same event, or None when they cannot.

    Conservative by design: a wrong merge hides an enforcement action. Different case numbers
    or different penalties rule a pair out, and so does a round-up; without a common name,
    amount or case number only near-identical wording from two different sources counts.
    """
    hours = abs((a.published - b.published).total_seconds()) / 3600
    if hours > STORY_WINDOW_HOURS or a.article_id == b.article_id or a.roundup or b.roundup:
        return None
    if a.case_numbers and b.case_numbers and not a.case_numbers & b.case_numbers:
        return None
    if a.penalty_usd and b.penalty_usd:
        high = max(a.penalty_usd, b.penalty_usd)
        if abs(a.penalty_usd - b.penalty_usd) > 0.05 * high:
            return None
    shared_case = bool(a.case_numbers & b.case_numbers)
    same_agency = a.regulator and b.regulator and (a.agency or a.feed) == (b.agency or b.feed)
    if (same_agency or a.feed == b.feed) and not shared_case:
        # Each release of an agency is its own action, however alike the wording; and one
        # outlet does not report one event twice in three days (a follow-up is a new story).
        return None
    smaller = min(len(a.tokens), len(b.tokens))
    overlap = len(a.tokens & b.tokens) / smaller if smaller else 0.0
    # Common names: tagged parties (by the words of their names, so "Harbor Ridge Capital"
    # meets "Harbor Ridge Capital Management") and proper names in the text; amounts only
    # strengthen a pair that already shares a name.
    common = (_name_words(a.entities) | a.anchors) & (_name_words(b.entities) | b.anchors)
    amounts = sum(1 for word in common if word.startswith("amount:"))
    names = len(common) - amounts
    if not names and not shared_case:
        # No common name: only a near copy from another source (a wire story) is the same.
        return overlap if overlap >= NEAR_COPY and a.feed != b.feed else None
    score = OVERLAP_WEIGHT * overlap + NAME_WEIGHT * min(names, 3) + AMOUNT_WEIGHT * amounts
    if a.action and a.action == b.action:
        score += SAME_ACTION
    if shared_case:
        score += 0.4
    if a.penalty_usd and b.penalty_usd:
        score += 0.15  # the same amount
    if (a.action is None) != (b.action is None):
        score -= ACTION_MISMATCH  # an enforcement item and a market piece naming the same firm
    return score


def choose_story(article: StoryFeatures, candidates: Iterable[StoryFeatures]) -> int | None:
    """The story of the best-matching candidate above the threshold, or None for a new one.

    Stories are never merged with each other here: an article joins at most one.
    """
    best: tuple[float, int] | None = None
    for candidate in candidates:
        if candidate.story_id is None:
            continue
        score = story_similarity(article, candidate)
        if score is not None and score >= STORY_THRESHOLD and (best is None or score > best[0]):
            best = (score, candidate.story_id)
    return best[1] if best else None


def story_lead(members: Iterable[tuple[int, bool, datetime]]) -> int:
    """Of (article id, is a regulator's release, published) members, the lead: the
    regulator's own release when there is one, else the earliest article."""
    return min(members, key=lambda m: (not m[1], m[2], m[0]))[0]
