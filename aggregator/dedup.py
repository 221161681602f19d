"""Article identity, content fingerprints and story matching: pure functions, no I/O.

An article is identified within its feed by its guid; without one by its canonical link; without
either by a hash of its title and date. Items of one feed that share a link but differ by guid
(court dockets do this) are different articles.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

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
# A later piece on the same event ("six days on: ...") may still join its story within a week,
# on stronger evidence than coverage of the day: see story_similarity.
FOLLOW_UP_HOURS = 168
FOLLOW_UP_MARGIN = 0.15
STORY_THRESHOLD = 0.45  # below this, two articles are different stories
# Weights measured on tests/data/stories/eval.jsonl (python -m benchmarks.eval_stories).
OVERLAP_WEIGHT = 1.0
NAME_WEIGHT = 0.15
RARE_NAME_WEIGHT = 0.05
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
_NUMBER_WORDS = """two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty""".split()  # noqa: SIM905
# Newsrooms and regulators name the same act differently: "sues" and "charges", "fined" and
# "ordered to pay", "designates" and "blacklists". Each word maps to the concept it stands for.
_CONCEPTS = {
    **dict.fromkeys(("sue", "sues", "sued", "suing", "suit", "suits", "lawsuit", "lawsuits",
                     "charge", "charges", "charged", "charging", "complaint", "accuse",
                     "accuses", "accused", "alleges", "indict", "indicts", "indicted",
                     "indictment", "prosecute", "prosecutes", "prosecuted"), "charge"),
    **dict.fromkeys(("fine", "fines", "fined", "penalty", "penalties", "pay", "pays", "paying",
                     "ordered"), "penalty"),
    **dict.fromkeys(("settle", "settles", "settled", "settlement", "resolve", "resolves",
                     "resolution"), "settle"),
    # A plea and a verdict are both the guilt of the accused; a sentence is a later event.
    **dict.fromkeys(("plead", "pleads", "pleaded", "plea", "guilty", "guilt", "convict",
                     "convicts", "convicted", "conviction", "verdict"), "plea"),
    **dict.fromkeys(("sentence", "sentenced", "sentencing", "prison", "jail", "jailed"),
                    "sentence"),
    **dict.fromkeys(("probe", "probes", "investigation", "investigates", "investigating"),
                    "probe"),
    **dict.fromkeys(("sanction", "sanctions", "sanctioned", "sanctioning", "designate",
                     "designates", "designated", "designation", "blacklist", "blacklists",
                     "blacklisted"), "sanction"),
    **dict.fromkeys(("forfeit", "forfeits", "forfeiture", "seize", "seizes", "seized",
                     "seizure", "confiscate", "confiscated", "claw", "clawback"), "forfeit"),
    **dict.fromkeys(("exploit", "exploits", "exploited", "exploiter", "hack", "hacks",
                     "hacked", "hacker", "hackers", "drain", "drained", "attack", "attacker",
                     "attackers", "heist", "theft", "thefts", "steal", "stealing", "stole",
                     "stolen", "loot"), "exploit"),
    **dict.fromkeys(("whistleblower", "whistleblowers", "tipster", "tipsters", "informant"),
                    "whistleblower"),
    **dict.fromkeys(("award", "awards", "awarded", "payout", "payouts"), "award"),
    **dict.fromkeys(("atm", "atms", "kiosk", "kiosks"), "atm"),
    **dict.fromkeys(("securities", "sec"), "sec"),
    # Abbreviations headlines use for what releases spell out.
    "fed": "reserve",
    "aml": "laundering",
    **dict.fromkeys(("billion", "bn", "b"), "billion"),
    **dict.fromkeys(("million", "mln", "m"), "million"),
    # Headlines write numbers as digits, releases spell them out ("Eighteen Defendants").
    **{word: str(number) for number, word in enumerate(_NUMBER_WORDS, start=2)},
}  # fmt: skip


# Capitalised words that name no particular party: they say nothing about which event it is.
_COMMON_NAMES = frozenset(
    """sec cftc doj fbi finra ofac fincen nydfs fca irs occ fdic fed ftc cfpb nfa treasury
    commission department justice securities exchange exchanges commodity futures trading
    comptroller currency reserve foreign control general secretary feds authorities officials
    conduct consumer protection internal revenue crimes enforcement prudential regulation
    regulatory monetary industry association
    federal court judge district attorney attorneys office prosecutors authority regulator
    southern northern eastern western central middle
    regulators agency board bureau crypto cryptocurrency bitcoin btc ether eth ethereum token
    tokens stablecoin stablecoins blockchain digital asset assets defi nft market markets
    founder founders ceo cfo executive former chief chairman chair commissioner president
    charges charged settles settlement fines fined penalty sues sued lawsuit case order orders
    fraud scheme investors investor million billion inc llc ltd corp company firm platform
    lending lender fund funds capital group holdings network protocol labs bank banks trust
    national financial finance partners management technologies global international services
    u.s us usa america american united states new york texas california florida london
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday the this that these after amid
    why how what who when where here there report reports says said statement breaking update
    week weekly daily today yesterday analysis opinion exclusive""".split()  # noqa: SIM905
)
_CAPITALISED = re.compile(r"(?<![\w.])([A-Z][\w.'’-]{2,}|[a-z]+[A-Z][\w]*)")
# A name by its shape alone, wherever it stands: an inner capital ("HashNorth", "AML"), a digit
# or a dot ("Pump.fun", "S-1").
_NAME_SHAPE = re.compile(r"^.+[A-Z0-9.]")
WEAK = "~"  # marks an anchor that may be an ordinary word capitalised by position


def _headline_case(title: str) -> bool:
    """A Title Case headline capitalises ordinary words ("Pays", "Sanctions", "Defrauding")."""
    words = [w for w in re.findall(r"[A-Za-z][\w'’]*", title)[1:] if len(w) > 3]
    return len(words) >= 2 and sum(w[0].isupper() for w in words) >= 0.6 * len(words)


def _name_key(word: str) -> str:
    """One form for a place and its people: "Cambodia"/"Cambodian", "Korea"/"Korean"."""
    return word[:-1] if len(word) >= 6 and word.endswith("an") else word


def _char_before(text: str, at: int) -> str:
    """The last character before ``at`` that is not white space ("" at the start); slicing
    the text up to each capitalised word was most of the time of story_anchors."""
    at -= 1
    while at >= 0 and text[at].isspace():
        at -= 1
    return text[at] if at >= 0 else ""


def story_anchors(title: str, summary: str) -> frozenset[str]:
    """Proper names in the text: capitalised words that never appear in lower case in the same
    article and are not common enforcement vocabulary ("HashNorth", "Lumora", "Brooks").

    A word capitalised only by its position (the start of a sentence, any word of a Title Case
    headline) may be an ordinary word: it is kept marked WEAK, and two weak anchors alone do not
    make a common name."""
    lower_words = set(re.findall(r"(?<![\w.])[a-z][\w'-]*", f"{title} {summary}"))
    anchors = set(story_amounts(f"{title} {summary}"))
    weak = set()
    for text, headline in ((title, _headline_case(title)), (summary, False)):
        for match in _CAPITALISED.finditer(text):
            parts = _name_parts(match.group(1))
            if not parts:
                continue
            before = _char_before(text, match.start())
            positional = headline or before in ("", ".", "!", "?", ":", ";")
            for index, folded, key, shaped in parts:
                if folded in lower_words:
                    continue  # "Founder" in a headline, "founder" in the text: an ordinary word
                if shaped or not (positional and (index == 0 or headline)):
                    anchors.add(key)
                else:
                    weak.add(key)
    anchors.update(WEAK + word for word in weak - anchors)
    return frozenset(anchors)


_PARTS: dict[str, tuple[tuple[int, str, str, bool], ...]] = {}
_PARTS_HELD = 10_000  # about 3 MB at most


def _name_parts(word: str) -> tuple[tuple[int, str, str, bool], ...]:
    """The parts of a capitalised word that may be names, as (position, lower case, name
    key, a name by its shape): what does not depend on the article, kept per word (the same
    names recur in every article, and working them out was most of story_anchors)."""
    found = _PARTS.get(word)
    if found is None:
        found = tuple(_parts(word))
        if len(_PARTS) >= _PARTS_HELD:
            _PARTS.clear()
        _PARTS[word] = found
    return found


def _parts(word: str) -> Iterable[tuple[int, str, str, bool]]:
    word = word.rstrip(".'’-").replace("’s", "").replace("'s", "")
    # "Ex-Bitvora", "Cambodia-based": each capitalised part of a compound on its own.
    for index, part in enumerate(word.split("-")):
        folded = part.lower()
        shaped = bool(_NAME_SHAPE.match(part))
        if not part[:1].isupper() and not shaped:
            continue
        if len(folded) < 3 or folded in _COMMON_NAMES or folded in _STOPWORDS:
            continue
        yield index, folded, _name_key(folded), shaped


@dataclass(frozen=True, slots=True)
class StoryFeatures:
    """What story matching looks at, for one article."""

    article_id: int
    story_id: int | None
    feed: str
    regulator: bool
    published: datetime
    tokens: frozenset[str]  # story_tokens; once made, without the TITLE ones (see profile)
    anchors: frozenset[str]  # proper names found in the text (see story_anchors)
    entities: frozenset[str]
    case_numbers: frozenset[str]
    penalty_usd: float | None
    action: str | None = None
    roundup: bool = False  # a digest of several events ("The Week in Crypto Policy")
    agency: str | None = None  # the publishing regulator, for a regulator's release
    profile: _Profile = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "profile", _profile(self.published, self.tokens, self.anchors, self.entities)
        )
        # The headline's marked tokens are kept once, in the profile: the feature cache holds
        # thousands of articles, and a set of a third fewer words takes half the memory.
        object.__setattr__(
            self, "tokens", compact(w for w in self.tokens if not w.startswith(TITLE))
        )

    def with_story(self, story_id: int | None) -> StoryFeatures:
        """The same article in another story. A copy, not ``replace``: the profile depends on
        the text only, and working it out again for every assigned article was a tenth of
        story matching."""
        moved = copy.copy(self)
        object.__setattr__(moved, "story_id", story_id)
        return moved


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
_SUFFIXES = ("ing", "ed", "es", "s", "e")


def _stem(word: str) -> str:
    """A crude stem: "filing"/"filed"/"files", "confidential"/"confidentially" meet. Only
    overlap of content words uses it; names are compared whole."""
    if word.startswith("amount:"):
        return word
    word = word[:STEM_LENGTH]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


_POSSESSIVE = re.compile(r"['’]s?\b")


TITLE = "title:"  # marks a copy of a headline's token (not a plain word: retrieval skips it)


def _words(text: str) -> set[str]:
    tokens = set(story_amounts(text))
    # Possessives: "SEC's" is "SEC", "Korea's" is "Korea".
    text = _POSSESSIVE.sub("", _AMOUNT.sub(" ", text).lower())
    for word in _WORD.findall(text):
        if word in _STOPWORDS or len(word) < 2:
            continue
        tokens.add(_stem(_CONCEPTS.get(word, word)))
    return tokens


def story_tokens(title: str, summary: str) -> frozenset[str]:
    """Content words of the title and the lead, with enforcement verbs folded to concepts and
    amounts written one way ("$42M" and "$42 million" are one token); the headline's own are
    also kept marked TITLE."""
    headline = _words(title)
    lead = _words(" ".join(summary.split()[:40]))
    return frozenset(headline | lead | {TITLE + word for word in headline})


def _usable(word: str) -> bool:
    """A word worth looking candidates up by (see retrieval_words)."""
    return len(word) > 3 and word.isalnum() and word not in _COMMON_NAMES and word not in _STOPWORDS


def retrieval_words(features: StoryFeatures, count: int = 8) -> list[str]:
    """The words to look an article's candidates up by, most telling first and always in the
    same order: its proper names, then its headline's words, then its lead's. Agency names
    and other common names ("crypto", "exchange") are left out: they match most stories and
    would fill the lookup's cap with unrelated ones. (Leaving out concept words such as
    "charge" too lost recall on tests/data/stories: they are what a nameless item shares.)"""

    def longest_first(words: Iterable[str]) -> list[str]:
        return sorted(filter(_usable, words), key=lambda w: (-len(w), w))

    chosen = dict.fromkeys(longest_first({w.lstrip(WEAK) for w in features.anchors}))
    chosen.update(dict.fromkeys(longest_first(w[len(TITLE) :] for w in features.profile.headline)))
    if len(chosen) < count:  # the lead's words are needed
        chosen.update(dict.fromkeys(longest_first(w for w in features.tokens if ":" not in w)))
    return list(chosen)[:count]


def lookup_forms(word: str) -> tuple[str, ...]:
    """What a retrieval word is looked up as among other articles' ``findable_words``: itself
    (a name) and its stem (a name also meets the same word in ordinary text, which is kept
    stemmed), as a full-text prefix query for the word would find both."""
    stem = _stem(word)
    return (word,) if stem == word else (word, stem)


def findable_words(features: StoryFeatures) -> frozenset[str]:
    """The words an article can be found by as a candidate: its proper names whole and its
    headline's and lead's words stemmed, those ``retrieval_words`` could ever ask for."""
    # (The tokens hold no TITLE copies once in StoryFeatures.)
    words = {word.lstrip(WEAK) for word in features.anchors} | features.tokens
    return frozenset(filter(_usable, words))


def _name_words(names: Iterable[str]) -> set[str]:
    return {
        _name_key(word)
        for name in names
        for word in re.findall(r"[\w.'-]+", name.lower())
        if len(word) > 2 and word not in _COMMON_NAMES and word not in _STOPWORDS
    }


_NONE: frozenset[str] = frozenset()


def compact(words: Iterable[str]) -> frozenset[str]:
    """A frozenset of ``words`` in as little memory as it takes (the story feature cache holds
    thousands): made from a set, whose size it knows, rather than grown word by word (a table
    twice as large), and the one shared empty set when there are none (an empty frozenset is
    an object of 216 bytes of its own)."""
    found = frozenset(set(words))
    return found if found else _NONE


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class _Profile:
    """What story_similarity derives from one article's features, worked out once per article
    rather than once per pair (an article meets dozens of candidates)."""

    when: int  # the published time in microseconds since 1970: cheaper than datetimes, exact
    headline: frozenset[str]  # the tokens marked TITLE: most pairs are ruled out by these alone
    entity_words: frozenset[str]
    strong: frozenset[str]
    weak: frozenset[str]
    names_a_party: bool


def _profile(
    published: datetime,
    tokens: frozenset[str],
    anchors: frozenset[str],
    entities: frozenset[str],
) -> _Profile:
    # Only the headline's tokens get a set of their own (a few words, the same string
    # objects): the feature cache holds thousands of articles, and copies of all their words
    # took 35 of a 180 MiB ingest.
    entity_words = compact(_name_words(entities))
    return _Profile(
        when=(published - _EPOCH) // _MICROSECOND,
        headline=compact(w for w in tokens if w.startswith(TITLE)),
        entity_words=entity_words,
        strong=compact(entity_words | {w for w in anchors if not w.startswith(WEAK)}),
        weak=compact(w[1:] for w in anchors if w.startswith(WEAK)),
        # Whether the article names anyone: a tagged party or a proper name not by position.
        names_a_party=bool(entities)
        or any(not w.startswith(WEAK) and not w.startswith("amount:") for w in anchors),
    )


def _common_names(a: _Profile, b: _Profile) -> set[str]:
    """Names (and amounts) both articles give; a weak anchor counts only when the other article
    has the word as a real name."""
    return (a.strong & (b.strong | b.weak)) | (a.weak & b.strong)


def _distinctive(word: str) -> bool:
    """An amount with two significant digits or more ("$42M", "$4.3B"): round ones recur."""
    return word.startswith("amount:") and len(word.split(":")[1].rstrip("0")) >= 2


def story_similarity(a: StoryFeatures, b: StoryFeatures) -> float | None:
    """How likely two articles report the same event, or None when they cannot.

    Conservative by design: a wrong merge hides an enforcement action. Different case numbers
    or different penalties rule a pair out, and so do a round-up and headlines without a word
    in common; without a common name, case number or (when one side names nobody) unround
    amount, only near-identical wording from two different sources counts.
    """
    pa, pb = a.profile, b.profile
    hours = abs(pa.when - pb.when) / 3_600_000_000
    if hours > FOLLOW_UP_HOURS or a.article_id == b.article_id or a.roundup or b.roundup:
        return None
    follow_up = hours > STORY_WINDOW_HOURS
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
    shared_titles = len(pa.headline & pb.headline)
    if pa.headline and pb.headline and not shared_titles and not shared_case:
        # A headline says what the article is about: two that share no word are two events
        # (a market report that mentions a settlement in passing is not about it).
        return None
    # Overlap of the lead's words (the headline's words count there too, unmarked).
    smaller = min(len(a.tokens), len(b.tokens))
    overlap = len(a.tokens & b.tokens) / smaller if smaller else 0.0
    # Common names: tagged parties (by the words of their names, so "Harbor Ridge Capital"
    # meets "Harbor Ridge Capital Management") and proper names in the text; amounts only
    # strengthen a pair that already shares a name.
    common = _common_names(pa, pb)
    amounts = sum(1 for word in common if word.startswith("amount:"))
    names = len(common) - amounts
    telling_amount = any(map(_distinctive, common))
    # An outlet that leaves the party unnamed ("a crypto exchange", "a whistleblower") still
    # gives the amount, and an unround one is nearly as telling as a name. Two articles that
    # each name a different party are two actions, whatever the amount.
    unnamed = not pa.names_a_party or not pb.names_a_party
    if not names and not shared_case and not (telling_amount and unnamed):
        # No common name: only a near copy from another source (a wire story) is the same.
        return overlap if overlap >= NEAR_COPY and a.feed != b.feed else None
    # A party the catalog knows (a large exchange, a big bank) turns up in many unrelated
    # stories; a name it does not know (a small protocol, a defendant) rarely recurs.
    known = pa.entity_words | pb.entity_words
    rare = sum(1 for word in common if not word.startswith("amount:") and word not in known)
    if follow_up and not (shared_case or (names >= 2 and rare) or (names and telling_amount)):
        # Past the window a shared firm is not enough (a big exchange is in the news every
        # week): the same case, two names one of them rare, or a name and the same unround
        # amount.
        return None
    score = (
        OVERLAP_WEIGHT * overlap
        + NAME_WEIGHT * min(names, 3)
        + RARE_NAME_WEIGHT * min(rare, 1)
        + AMOUNT_WEIGHT * amounts
    )
    if a.action and a.action == b.action:
        score += SAME_ACTION
    if shared_case:
        score += 0.4
    if a.penalty_usd and b.penalty_usd:
        score += 0.15  # the same amount
    if (a.action is None) != (b.action is None) and not telling_amount:
        # An enforcement item and a market piece naming the same firm; a market piece seldom
        # repeats an unround amount, while a headline's verb often escapes the action tagger.
        score -= ACTION_MISMATCH
    return score - FOLLOW_UP_MARGIN if follow_up else score


class Gate(NamedTuple):
    """The few facts of an article by which ``ruled_out`` dismisses most pairs before their
    words are compared, as numbers: the candidate index keeps them for a week of articles.
    A set is a mask of its members' hashes (``hash`` is this process's own, so a gate is never
    stored or sent): sets whose masks share no bit share no member."""

    roundup: bool
    penalty: float  # 0.0: none
    cases: int  # 64-bit mask of the case numbers; 0: none
    # 256-bit mask of the headline's words; 0: none. Two headlines of eight words each share
    # no bit of 256 three times in four, where 64 bits let most unrelated pairs through.
    headline: int
    # The regulator a release is of (its agency, else its feed); None: press. The candidate
    # index holds a number for each.
    publisher: str | int | None


def _mask(words: Iterable[str], bits: int) -> int:
    mask = 0
    for word in words:
        mask |= 1 << (hash(word) % bits)
    return mask


def gate(features: StoryFeatures) -> Gate:
    return Gate(
        roundup=features.roundup,
        penalty=features.penalty_usd or 0.0,
        cases=_mask(features.case_numbers, 64),
        headline=_mask(features.profile.headline, 256),
        publisher=(features.agency or features.feed) if features.regulator else None,
    )


def ruled_out(
    a: Gate, roundup: bool, penalty: float, cases: int, headline: int, publisher: object
) -> bool:
    """Whether ``story_similarity`` of an article with gate ``a`` and another with these gate
    values is None for certain: its rules on round-ups, case numbers, penalties, one
    regulator's releases and headlines, taken only where the masks are sure (a common bit
    may be a collision, so it never rules out)."""
    if a.roundup or roundup:
        return True
    if a.cases and cases and not a.cases & cases:
        return True  # different case numbers
    if a.penalty and penalty and abs(a.penalty - penalty) > 0.05 * max(a.penalty, penalty):
        return True
    if a.cases & cases:
        return False  # perhaps a shared case number, which outweighs the rest
    if a.publisher is not None and a.publisher == publisher:
        return True  # two releases of one regulator
    return bool(a.headline and headline and not a.headline & headline)


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
