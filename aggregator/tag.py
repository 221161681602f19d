"""The tagger: a pure function from an article's text (and its publishing feed) to tags.

Agencies and entities come from the catalogs (:mod:`aggregator.catalog`), matched in one pass by
two compiled trie regexes (one case-sensitive for acronyms written in capitals, one
case-insensitive for names) on word boundaries. Ambiguous aliases ("Gemini", "Circle", "ASIC")
count only when the text confirms them; exclusion patterns veto look-alikes (the SEC football
conference, FCA the car maker). Action type, penalty and case numbers come from patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]

from aggregator.catalog import Catalog
from aggregator.records import Article, Evidence, FeedKind, Money, Tags

TAGGER_VERSION = "1"

ACTIONS = (
    "charges",
    "settlement",
    "court_ruling",
    "sentencing",
    "investigation",
    "licensing",
    "guidance",
    "other",
)


# -- alias matching ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Alias:
    kind: str  # agency | entity
    key: str  # agency code or entity name
    ambiguous: bool


@dataclass(slots=True)
class _Compiled:
    sensitive: re.Pattern[str] | None
    insensitive: re.Pattern[str] | None
    exact: dict[str, _Alias]  # case-sensitive aliases
    folded: dict[str, _Alias]  # case-insensitive aliases, lower-cased
    context: dict[tuple[str, str], re.Pattern[str]] = field(default_factory=dict)
    exclude: dict[tuple[str, str], re.Pattern[str]] = field(default_factory=dict)
    # Quick searches that find something wherever the exclusion of the same key could match
    # (see _exclusion_needs); absent when nothing is known.
    exclude_needs: dict[tuple[str, str], tuple[re.Pattern[str], ...]] = field(default_factory=dict)


def _is_acronym(alias: str) -> bool:
    letters = [c for c in alias if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters) and len(alias) <= 12


def _normalise(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())


def _trie(words: Iterable[str]) -> dict:  # type: ignore[type-arg]
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = trie
        for character in word:
            node = node.setdefault(character, {})
        node[""] = {}
    return trie


def _emit(node: dict) -> str:  # type: ignore[type-arg]
    """A trie as a regex: one branch per next character, so that the engine tries few."""
    terminal = "" in node
    branches = [re.escape(char) + _emit(child) for char, child in node.items() if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if terminal:
        # Greedy optional: the longest alias wins ("Binance.US" over "Binance").
        return "(?:" + body + ")?"
    return body


def _trie_regex(words: Iterable[str], *, ignore_case: bool) -> re.Pattern[str] | None:
    trie = _trie(word.lower() if ignore_case else word for word in words)
    if not trie:
        return None
    # Case-insensitive aliases are matched against lower-cased text without IGNORECASE, which
    # Python's engine runs several times slower.
    if ignore_case:
        return re.compile(r"(?<![\w@#])" + _emit(trie) + r"(?![\w])")
    # Acronyms start with a capital, rare in running text: with each first character ahead of
    # the lookbehind (which then checks the character before it), the engine skips to the next
    # possible first character in C instead of trying the whole pattern at every position:
    # twice as fast. (Not for the folded aliases: nearly every letter starts one.)
    return re.compile(
        "(?:"
        + "|".join(
            re.escape(char) + _NOT_AFTER_WORD + _emit(child) for char, child in trie.items() if char
        )
        + r")(?![\w])"
    )


# After a first character: the character before it is not a word character, "@" or "#" (what
# "(?<![\w@#])" checks before it).
_NOT_AFTER_WORD = r"(?<![\w@#][\s\S])"


_COMPILED: dict[str, _Compiled] = {}


def _compile(catalog: Catalog) -> _Compiled:
    """The matchers of a catalog, built once per catalog fingerprint."""
    compiled = _COMPILED.get(catalog.fingerprint)
    if compiled is None:
        compiled = _COMPILED[catalog.fingerprint] = _build(catalog)
    return compiled


def _build(catalog: Catalog) -> _Compiled:
    exact: dict[str, _Alias] = {}
    folded: dict[str, _Alias] = {}
    compiled = _Compiled(None, None, exact, folded)

    def add(alias: str, target: _Alias) -> None:
        alias = _normalise(alias)
        if not alias:
            return
        if _is_acronym(alias):
            exact.setdefault(alias, target)
        else:
            folded.setdefault(alias.lower(), target)

    def add_record(kind: str, key: str, aliases: Iterable[str], ambiguous: Iterable[str],
                   context: Iterable[str], exclude: Iterable[str]) -> None:  # fmt: skip
        ambiguous = tuple(ambiguous)
        doubtful = {_normalise(a).casefold() for a in ambiguous}
        for alias in aliases:
            # A name or code that is also listed as ambiguous ("Gemini", "ASIC") stays so.
            if _normalise(alias).casefold() not in doubtful:
                add(alias, _Alias(kind, key, False))
        for alias in ambiguous:
            add(alias, _Alias(kind, key, True))
        words = [re.escape(_normalise(c)) for c in context if c.strip()]
        if words:
            compiled.context[(kind, key)] = re.compile(
                r"(?<![\w])(?:" + "|".join(words) + r")(?![\w])", re.IGNORECASE
            )
        patterns = [p for p in exclude if p.strip()]
        if patterns:
            compiled.exclude[(kind, key)] = re.compile(
                "|".join(f"(?:{p})" for p in patterns), re.IGNORECASE
            )
            needs = _exclusion_needs(patterns)
            if needs is not None:
                compiled.exclude_needs[(kind, key)] = needs

    for agency in catalog.agencies:
        add_record("agency", agency.code, (agency.code, *agency.aliases),
                   agency.ambiguous_aliases, agency.context, agency.exclude)  # fmt: skip
    for entity in catalog.entities:
        add_record("entity", entity.name, (entity.name, *entity.aliases),
                   entity.ambiguous_aliases, entity.context, entity.exclude)  # fmt: skip
    compiled.sensitive = _trie_regex(exact, ignore_case=False)
    compiled.insensitive = _trie_regex(folded, ignore_case=True)
    return compiled


@dataclass(frozen=True, slots=True)
class _Match:
    alias: _Alias
    start: int
    end: int
    text: str
    where: str


def _find(compiled: _Compiled, text: str, where: str) -> list[_Match]:
    found: list[_Match] = []
    if compiled.sensitive is not None:
        for match in compiled.sensitive.finditer(text):
            alias = compiled.exact.get(match.group())
            if alias is not None:
                found.append(_Match(alias, match.start(), match.end(), match.group(), where))
    lowered = text.lower()
    if compiled.insensitive is not None and len(lowered) == len(text):
        for match in compiled.insensitive.finditer(lowered):
            alias = compiled.folded.get(match.group())
            if alias is not None:
                start, end = match.span()
                found.append(_Match(alias, start, end, text[start:end], where))
    elif compiled.insensitive is not None:
        # Rare: lower-casing changed the length ("İ"), so positions would not line up.
        pattern = re.compile(compiled.insensitive.pattern, re.IGNORECASE)
        for match in pattern.finditer(text):
            alias = compiled.folded.get(match.group().lower())
            if alias is not None:
                found.append(_Match(alias, match.start(), match.end(), match.group(), where))
    # Overlaps: keep the longest ("Binance.US" over "Binance", "FTX US" over "FTX").
    found.sort(key=lambda m: (m.where, m.start, -(m.end - m.start)))
    kept: list[_Match] = []
    for match in found:
        if kept and kept[-1].where == match.where and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept


def _accepted(
    compiled: _Compiled,
    match: _Match,
    texts: dict[str, str],
    whole: str,
    confirmed: set[tuple[str, str]],
) -> bool:
    """An ambiguous alias needs confirmation; any alias may be vetoed by an exclusion."""
    key = (match.alias.kind, match.alias.key)
    if match.alias.ambiguous and key not in confirmed:
        context = compiled.context.get(key)
        if context is None or not context.search(whole):
            return False
    return not _vetoed(compiled, match, texts)


def _mask(text: str, matches: list[_Match]) -> str:
    """Names blanked out, so that "Enforcement Directorate" is not read as an event."""
    for match in sorted(matches, key=lambda m: m.start, reverse=True):
        text = text[: match.start] + "X" * (match.end - match.start) + text[match.end :]
    return text


VETO_REACH = 100  # characters an exclusion may stretch beyond the name it vetoes (15 words)


def _vetoed(compiled: _Compiled, match: _Match, texts: dict[str, str]) -> bool:
    key = (match.alias.kind, match.alias.key)
    pattern = compiled.exclude.get(key)
    if pattern is None:
        return False
    # Only the stretch around the name is searched: an exclusion is a phrase around it, and
    # running the agencies' long IGNORECASE alternations over a whole summary was a tenth of
    # tagging. The stretch ends at a space, so that "\b" and "(?!\w)" read its end as the
    # whole text would.
    text = texts[match.where]
    start = max(0, match.start - VETO_REACH)
    end = text.find(" ", match.end + VETO_REACH)
    end = len(text) if end == -1 else end
    needs = compiled.exclude_needs.get(key)
    if needs is not None:
        stretch = text[start:end]
        # Even so the search was a sixth of tagging, and the stretch mostly lacks the words
        # any exclusion needs. (Lower-casing matches IGNORECASE only for ASCII.)
        if stretch.isascii():
            lowered = stretch.lower()
            if not all(need.search(lowered) for need in needs):
                return False
    return any(
        veto.start() <= match.start and match.end <= veto.end()
        for veto in pattern.finditer(text, start, end)
    )


# -- what an exclusion match must contain --------------------------------------------------------

_MAX_STRINGS = 64  # strings in one group: more are worth less than the search they would save
_MIN_LENGTH = 3  # a shorter string is in nearly every text


def _exclusion_needs(patterns: list[str]) -> tuple[re.Pattern[str], ...] | None:
    """Searches of lower-cased ASCII text that all find something wherever one of the
    IGNORECASE ``patterns`` matches in it; None when some alternative of a pattern holds
    nothing known, so that the exclusion search must always run.

    Each alternative holds a string of each of its groups (see _sequence_needs), so the k-th
    search looks for the strings of every alternative's k-th group (its last when it has
    fewer): whichever alternative matches, each search finds that alternative's string."""
    alternatives: list[list[tuple[str, ...]]] = []
    try:
        for pattern in patterns:
            parsed = _parser.parse(pattern, re.IGNORECASE)
            branches = [parsed.data]
            if len(parsed.data) == 1 and parsed.data[0][0] is _c.BRANCH:
                branches = list(parsed.data[0][1][1])
            for branch in branches:
                groups = _sequence_needs(list(branch))
                if not groups:
                    return None
                # Groups of longer strings first: they are the likelier to be missing.
                groups.sort(key=lambda group: -min(map(len, group)))
                alternatives.append(groups)
    except Exception:  # an unfamiliar parse (another Python's): always search
        return None
    ranks = max(map(len, alternatives))
    # Tries of plain strings: searched in a fraction of the time of the IGNORECASE patterns.
    return tuple(
        re.compile(
            _emit(_trie({s for groups in alternatives for s in groups[min(k, len(groups) - 1)]}))
        )
        for k in range(ranks)
    )


def _sequence_needs(items: list) -> list[tuple[str, ...]]:  # type: ignore[type-arg]
    """Groups for a sequence of parsed items: each run of items that can only match one of a
    few strings gives a group (zero-width assertions consume nothing, so a run goes on
    through them)."""
    groups: list[tuple[str, ...]] = []
    run: set[str] = {""}

    def close() -> None:
        if run and min(len(string) for string in run) >= _MIN_LENGTH:
            groups.append(tuple(sorted(run)))

    for item in items:
        strings = _strings(item)
        if strings is not None:
            joined = {before + after for before in run for after in strings}
            if len(joined) <= _MAX_STRINGS:
                run = joined
                continue
        close()
        run = {""} if strings is None or len(strings) > _MAX_STRINGS else set(strings)
    close()
    return groups


def _strings(item: tuple) -> set[str] | None:  # type: ignore[type-arg]
    """The lower-case strings one parsed item can match, or None if not a few known ones."""
    op, value = item
    if op is _c.LITERAL:
        character = chr(value)
        return {character.lower()} if character.isascii() else None
    if op is _c.IN:
        if not all(kind is _c.LITERAL and chr(code).isascii() for kind, code in value):
            return None
        return {chr(code).lower() for _, code in value}
    if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
        return {""}
    if op is _c.SUBPATTERN:
        return _all_strings(list(value[-1]))
    if op is _c.BRANCH:
        found: set[str] = set()
        for branch in value[1]:
            strings = _all_strings(list(branch))
            if strings is None:
                return None
            found |= strings
        return found if len(found) <= _MAX_STRINGS else None
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and value[:2] == (0, 1):
        strings = _all_strings(list(value[2]))
        return None if strings is None else strings | {""}
    return None


def _all_strings(items: list) -> set[str] | None:  # type: ignore[type-arg]
    """Every string a sequence of parsed items can match, if they are few and known."""
    found = {""}
    for item in items:
        strings = _strings(item)
        if strings is None:
            return None
        found = {before + after for before in found for after in strings}
        if len(found) > _MAX_STRINGS:
            return None
    return found


# -- agencies: acting or mentioned in passing --------------------------------------------------

_PASSING_BEFORE = re.compile(
    r"(?:\b(?:former|ex|formerly|retired|onetime|one-time|ex-|previously\s+(?:at|with)|"
    r"alumn\w*\s+of|registered\s+with|filed\s+with|filing\s+with|files\s+with|"
    r"submitted\s+to|regulated\s+by|licensed\s+by|overseen\s+by)\s+(?:the\s+|a\s+|an\s+)?"
    r"(?:[\w.'-]+\s+){0,2}|\bex-)$",
    re.IGNORECASE,
)
_PASSING_AFTER = re.compile(
    r"^(?:-registered|-regulated|-licensed|-listed|\s+filings?\b|\s+Form\b|"
    r"\s+(?:veteran|alum\w*)\b|-insured|,?\s+(?:which|who)\s+(?:has|had|did)\s+not\b|"
    r",?\s+(?:which|who)\s+declined\b|\s+(?:has|had)\s+not\s+commented|\s+declined\s+to)",
    re.IGNORECASE,
)


# After a title that names its acting agency, another agency in the summary acts only when the
# text says so ("filed parallel charges", "jointly with", "the CFTC also charged").
_JOINT_BEFORE = re.compile(
    r"(?:parallel|jointly\s+with|together\s+with|in\s+coordination\s+with|alongside|"
    r"investigated\s+by|brought\s+by|filed\s+by|(?:actions?|charges|case)\s+by)"
    r"(?:\s+the)?\s+$",
    re.IGNORECASE,
)
# "FinCEN, OFAC and the Federal Reserve": an agency listed right after an acting one acts too.
_LIST_GAP = re.compile(r"^(?:,\s*|\s+and\s+|,\s+and\s+)(?:the\s+)?$", re.IGNORECASE)
# Court captions: "SEC v. Doe" makes the SEC a party, "USA v. Doe" the Justice Department.
_CAPTION_PARTY = re.compile(r"^\s+v\.?\s", re.IGNORECASE)
_US_CAPTION = re.compile(
    r"\b(?:USA|United\s+States(?:\s+of\s+America)?|U\.S\.)\s+v\.?\s", re.IGNORECASE
)


def _may_be_caption(text: str) -> bool:
    """Whether normalised ``text`` (single spaces) could hold a _US_CAPTION: its " v. " or
    " v " is looked for first, as most texts have none and the search is IGNORECASE."""
    lowered = text.lower()
    return " v " in lowered or " v. " in lowered


_ACTS_AFTER = re.compile(
    r"^(?:'s)?\s+(?:[\w.,'-]+\s+){0,6}(?:also\s+)?(?:charged|charges|filed|files|sued|sues|settled|"
    r"settles|fined|fines|brought|obtained|obtains|issued|issues|ordered|orders|announced|"
    r"announces|joined|joins|investigated|investigates|resolved|imposed|imposes|banned|bans|"
    r"barred|bars|revoked|revokes|suspended|suspends|approved|approves|sanctioned|seized|"
    r"arrested|indicted|reached|secured|secures)\b",
    re.IGNORECASE,
)


_AS_ROLE = re.compile(r"\bas\s+(?:the\s+)?$", re.IGNORECASE)
_ROLE_AFTER = re.compile(
    r"^(?:'s)?\s+(?:chair\w*|commissioner|official|head|director|chief|lawyer|attorney)\b",
    re.IGNORECASE,
)


def _is_passing(match: _Match, text: str) -> bool:
    before = text[max(0, match.start - 60) : match.start]
    after = text[match.end : match.end + 40]
    if _AS_ROLE.search(before) and _ROLE_AFTER.match(after):
        return True  # "... in his final interview as SEC chair"
    return bool(_PASSING_BEFORE.search(before)) or bool(_PASSING_AFTER.match(after))


# -- action type -------------------------------------------------------------------------------


def _words(pattern: str) -> re.Pattern[str]:
    """A lower-case keyword pattern, searched in lower-cased text: Python's IGNORECASE
    matching is several times slower, and these patterns run on every article."""
    return re.compile(r"\b(?:" + pattern + r")\b")


_ACTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "sentencing": _words(
        r"sentenc\w*|pleads?\s+guilty|pleaded\s+guilty|pled\s+guilty|guilty\s+pleas?|"
        r"plea\s+(?:deal|agreement|bargain)|convicts?|convicted|conviction|found\s+guilty|"
        r"jury\s+verdict|years?\s+in\s+(?:federal\s+)?prison|prison\s+term|jailed|admits|"
        r"gets\s+\d+\s+(?:years|months)"
    ),
    "court_ruling": _words(
        r"judges?|court\s+(?:rules|ruled|finds|found|grants?|granted|denies|denied|"
        r"dismisse[sd]|orders?|ordered|enters|entered|upholds?|upheld|rejects?|rejected|sides|"
        r"hands)|ruling|rules\s+(?:that|in\s+favou?r|against)|ruled|summary\s+judgment|"
        r"(?:default\s+|final\s+)?judgment|appeals?\s+court|circuit|injunction|vacat\w+|"
        r"overturn\w*|reverses?|reversed|jury|verdict|motion\s+to\s+dismiss|dismissal|"
        r"ordered\s+to\s+pay|monetary\s+relief|court\s+order"
    ),
    "settlement": _words(
        r"settle[sd]?|settlements?|settling|agree[sd]?\s+to\s+(?:pay|settle|forfeit)|"
        r"consent\s+(?:order|judgment|decree)|to\s+pay\s+(?:a\s+)?(?:\$|us\$|usd|£|€)|"
        r"fine[sd]?|fines|civil\s+(?:monetary\s+)?penalt\w+|penalt(?:y|ies)|disgorgement|"
        r"resolution|resolves?|enforcement\s+action|concludes?\s+proceedings|refunds?|"
        r"pays\s+(?:\$|us\$|usd|£|€)|approv\w+\s+(?:a\s+)?settlement"
    ),
    "charges": _words(
        r"charge[sd]?|charging|sues|sued|suing|lawsuit|complaint|indict\w*|arrest\w*|"
        r"accus\w+|files?\s+(?:\w+\s+)?(?:suit|action|case)|filed\s+(?:\w+\s+)?(?:suit|action|"
        r"complaint)|brings?\s+(?:action|case)|extradit\w*|unseal\w*|red\s+notice|"
        r"action\s+against|statement\s+of\s+charges"
    ),
    "investigation": _words(
        r"investigat\w*|probes?|probing|subpoena\w*|wells\s+notices?|inquiry|inquiries|"
        r"examination|audit|raid\w*|scrutin\w+|looking\s+into|takes?\s+down|takedown|"
        r"seiz\w+|shut\w*\s+down|dismantl\w+"
    ),
    "licensing": _words(
        r"licen[cs]\w*|registration|registers|deregist\w*|approv\w+|authori[sz]\w+|"
        r"revok\w*|revocation|suspend\w*|suspension|trading\s+suspension|"
        r"desist[\s-]+and[\s-]+refrain|cease[\s-]+and[\s-]+desist|cease\s+trade|"
        r"warning\s+list|bitlicense|charter|bars?|barred|bans?|banned|halt\w*|"
        r"stop\s+\w+ing|scam\s+tracker|illegal|unregistered|unlicensed|clone"
    ),
    "guidance": _words(
        r"rules?|rulemaking|proposals?|proposed|proposes|guidance|guidelines?|"
        r"statement(?!\s+of\s+charges)|"
        r"staff\s+(?:bulletin|says)|framework|report|results|testimony|testif\w+|speech|"
        r"remarks|roundtable|requests?\s+(?:public\s+)?(?:comment|information)|faqs?|"
        r"frequently\s+asked|policy|advisory|regulation|clarif\w+|no-action|roadmap|"
        r"priorities|sunset|letter\s+to|says|said|calls?\s+for|warns?|reminds?|"
        r"listening\s+tour|task\s+force|disbands?|interpretive|exemptive|consultation"
    ),
    "other": _words(
        r"sanction\w*|designat\w+|delist\w*|whistleblower|blacklist\w*|crackdown|"
        r"drops?|dropped|abandons?|pardon\w*|prison|released|freed|mou|"
        r"memorandum\s+of\s+understanding|cooperation\s+agreement|"
        r"appeal\w*|new\s+trial|names?\s+(?:new\s+)?(?:director|chief|head)|appoint\w*|"
        r"enforcement"
    ),
}
# Words that make an item about enforcement at all, when no agency acts in it.
_CRIMINAL = _words(
    r"sentenc\w*|pleads?\s+guilty|pleaded\s+guilty|guilty|convicted|indict\w*|arrest\w*|"
    r"extradit\w*|prison|prosecutors?|usa\s+v\.|united\s+states\s+v\.|charged\s+with|"
    r"jailed|gets\s+\d+\s+(?:years|months)"
)
# A regulator the catalog cannot name ("Malta regulator", "Iowa AG", "French authorities")
# still makes an item about enforcement.
_GENERIC_AUTHORITY = re.compile(
    r"\b(?:regulators?|watchdogs?|authorities|attorneys?\s+general|prosecutors?|police|"
    r"supervisors?|securities\s+(?:board|division|commission|regulator))\b"
)
_STATE_AG = re.compile(r"\b[A-Z][a-z]+\s+AG\b")  # "Iowa AG", in the original case
_ENFORCEMENT = _words(
    r"enforcement|sanction\w*|violat\w+|fraud\w*|illegal\w*|unregistered|unlicensed|"
    r"penalt\w+|fine[sd]?|order\w*|charge[sd]?|lawsuit|sue[sd]?|probe|investigat\w*|"
    r"prison|court|judge|settle\w*|ban\w*|warn\w*|licen[cs]\w*|rule\w*|guidance|"
    r"regulat\w+|comply|compliance|supervis\w+"
)
# An agency dropping its own case is "other", not the court ruling or the charges it names.
_SIGNALS = re.compile(
    f"(?P<criminal>{_CRIMINAL.pattern})|(?P<authority>{_GENERIC_AUTHORITY.pattern})"
)
_AGENCY_DROPS = _words(
    r"(?:drops?|dropped|abandons?|withdraws?|ends|ending)\s+(?:its\s+|the\s+)?"
    r"(?:\w+\s+){0,3}(?:lawsuit|case|charges|action|suit)|"
    r"announces\s+dismissal|dismissal\s+of\s+(?:its\s+)?(?:civil\s+)?(?:enforcement\s+)?"
    r"(?:action|case)|terminat\w+\s+(?:of\s+)?(?:\w+\s+){0,4}(?:order|action|agreement)"
)
_STRONG_SETTLEMENT = _words(
    r"agree[sd]?\s+to\s+settle|settled|consent(?:ed|ing)?\s+to|without\s+admitting|"
    r"agree[sd]?\s+to\s+pay"
)


_REVERSAL = re.compile(r"overturn|vacat|revers")


def _events(text: str) -> list[tuple[int, str, re.Match[str]]]:
    """The first mention of each kind of event, in the order they appear. (Eight searches are
    faster than one search of the eight patterns joined: the joined one defeats the engine's
    prefix optimisations.)"""
    found = []
    for name, pattern in _ACTION_PATTERNS.items():
        match = pattern.search(text)
        if match:
            found.append((match.start(), name, match))
    return sorted(found, key=lambda item: item[0])


def _evidence(name: str, match: re.Match[str], original: str, where: str) -> Evidence:
    """Evidence in the text's own case (the match ran on the lower-cased text)."""
    text = match.group()
    if len(original) == len(match.string):
        text = original[match.start() : match.end()]
    return Evidence("action", name, text, where)


def _action(
    title: str, summary: str, acting: bool, publisher: bool
) -> tuple[str | None, Evidence | None]:
    """The principal event: the first kind of event the title names (the summary's when the
    title names none). Without an acting agency only criminal-justice events count."""
    original = {"title": title, "summary": summary}
    title, summary = title.lower(), summary.lower()
    whole = title + " " + summary
    criminal: bool | None = None  # worked out only when needed: a search of the whole text
    if not acting:
        signals: set[str | None] = set()
        for signal in _SIGNALS.finditer(whole):
            signals.add(signal.lastgroup)
            if len(signals) == 2:
                break  # both known: the rest of the text cannot change them
        criminal = "criminal" in signals
        acting = "authority" in signals or bool(_STATE_AG.search(original["title"]))
        if not acting and not criminal:
            return None, None
    drop = _AGENCY_DROPS.search(title)
    if drop and acting:
        return "other", _evidence("other", drop, original["title"], "title")
    for where, text in (("title", title), ("summary", summary)):
        events = [e for e in _events(text) if acting or e[1] in ("sentencing", "charges", "other")]
        if not events:
            continue
        names = {name for _, name, _ in events}
        _, name, match = events[0]
        if "sentencing" in names and not _REVERSAL.search(text):
            name, match = next((n, m) for _, n, m in events if n == "sentencing")
        elif name == "charges" and where == "title" and "settlement" not in names:
            # "SEC Charges X" over a release whose body says X settled: a settlement.
            settled = _STRONG_SETTLEMENT.search(summary)
            if settled:
                return "settlement", _evidence(
                    "settlement", settled, original["summary"], "summary"
                )
        elif name == "licensing" and "settlement" in names and "bank" in whole:
            name, match = next((n, m) for _, n, m in events if n == "settlement")
        return name, _evidence(name, match, original[where], where)
    if criminal is None:
        # As the criminal group of _SIGNALS: no generic-authority word can hide a criminal one
        # (none starts inside "attorneys general", "securities commission" or the like, and at
        # the same place the criminal alternative comes first).
        criminal = bool(_CRIMINAL.search(whole))
    if publisher or _ENFORCEMENT.search(whole) or criminal:
        return "other", None
    return None, None


# -- penalties ---------------------------------------------------------------------------------

_MULTIPLIERS = {
    "trillion": 1e12, "tn": 1e12, "billion": 1e9, "bn": 1e9, "b": 1e9, "bln": 1e9,
    "million": 1e6, "mln": 1e6, "mn": 1e6, "m": 1e6, "mm": 1e6, "thousand": 1e3, "k": 1e3,
}  # fmt: skip
_CURRENCY_SYMBOLS = {
    "$": "USD", "us$": "USD", "usd": "USD", "£": "GBP", "gbp": "GBP", "€": "EUR", "eur": "EUR",
    "hk$": "HKD", "hkd": "HKD", "s$": "SGD", "sgd": "SGD", "a$": "AUD", "aud": "AUD",
    "c$": "CAD", "ca$": "CAD", "cad": "CAD", "¥": "JPY", "jpy": "JPY", "₹": "INR", "inr": "INR",
    "rs.": "INR", "chf": "CHF", "aed": "AED", "₩": "KRW", "krw": "KRW", "r$": "BRL",
    "brl": "BRL", "nz$": "NZD", "nzd": "NZD",
}  # fmt: skip
_MONEY = re.compile(
    r"(?P<cur>us\$|hk\$|s\$|a\$|c\$|ca\$|nz\$|r\$|\$|£|€|¥|₹|₩|rs\.|"
    r"\b(?:usd|gbp|eur|hkd|sgd|aud|cad|jpy|inr|chf|aed|krw|brl|nzd)\b)\s?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<mult>trillion|billion|million|thousand|bln|mln|bn|tn|mn|mm|[mbk])\b)?"
    r"|(?P<num2>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s?"
    r"(?P<mult2>trillion|billion|million|thousand)?\s?"
    r"(?P<cur2>\b(?:dollars|usd|pounds|gbp|euros?|eur|hkd|sgd|aud|cad|jpy|yen|inr|rupees|"
    r"chf|francs|aed|dirhams|krw|won)\b)",
    re.IGNORECASE,
)
_MONEY_LOWER = re.compile(_MONEY.pattern)  # on lower-cased text
_DIGIT = re.compile(r"\d")
_WORD_CURRENCIES = {
    "dollars": "USD", "pounds": "GBP", "euro": "EUR", "euros": "EUR", "yen": "JPY",
    "rupees": "INR", "francs": "CHF", "dirhams": "AED", "won": "KRW",
}  # fmt: skip
_PENALTY_CONTEXT = re.compile(
    r"\b(?:penalt\w+|fine[sd]?|fining|disgorge\w*|restitution|forfeit\w*|pay|pays|paying|"
    r"paid|settle\w*|judgment|ordered|order|sanction\w*|resolution|resolve[sd]?|damages|"
    r"agree[sd]?|monetary\s+relief|plea)\b",
    re.IGNORECASE,
)
_NOT_PENALTY = re.compile(
    r"\b(?:rais\w+|funding|valuation|valued|market\s+cap\w*|worth|hack\w*|stole\w*|stolen|"
    r"exploit\w*|drain\w*|loss\w*|lost|price[sd]?|volume|inflows?|outflows?|assets\s+under|"
    r"revenue|profit|earnings|invest\w*|bought|buys?|purchas\w+|acquir\w+|deal|loan\w*|"
    r"scheme|fraud\s+of|defraud\w*|bilk\w*|swindl\w*|ponzi|bail|bond|salary|bonus|"
    r"tvl|reserves?|treasury|holdings?|mint\w*|issued|supply|etf)\b",
    re.IGNORECASE,
)


# Cheap first looks: most texts hold no amount and no case number, and the full patterns are
# the slowest part of tagging.
_MONEY_HINT = re.compile(
    r"[$£€¥₹₩]|\b(?:usd|gbp|eur|hkd|sgd|aud|cad|jpy|inr|chf|aed|krw|brl|nzd|dollars|pounds|"
    r"euros?|yen|rupees|francs|dirhams|won|rs)\b"
)  # on lower-cased text
_CASE_HINT = re.compile(r"\d-|\blr-?\d|release")  # on lower-cased text


def _money_hint(lowered: str) -> bool:
    """_MONEY_HINT.search(lowered), its symbols looked for as substrings first (faster)."""
    return any(symbol in lowered for symbol in "$£€¥₹₩") or bool(_MONEY_HINT.search(lowered))


def _case_hint(lowered: str) -> bool:
    """_CASE_HINT.search(lowered), without the search when a substring settles it."""
    if "release" in lowered:
        return True
    return ("-" in lowered or "lr" in lowered) and bool(_CASE_HINT.search(lowered))


def _amounts(text: str) -> list[tuple[float, str, int, int, str]]:
    lowered = text.lower()
    if not _money_hint(lowered):
        return []
    found = []
    # The lower-case pattern on lower-cased text: IGNORECASE made this the slowest search of
    # tagging. The amount is shown as the text writes it.
    pattern, subject = (_MONEY_LOWER, lowered) if len(lowered) == len(text) else (_MONEY, text)
    # An amount holds a digit, at most four characters after its start ("us$ 5"): the text
    # before that cannot hold one, and is not searched.
    digit = _DIGIT.search(subject)
    if digit is None:
        return []
    for match in pattern.finditer(subject, max(0, digit.start() - 4)):
        number = match.group("num") or match.group("num2")
        multiplier = (match.group("mult") or match.group("mult2") or "").lower()
        currency_text = (match.group("cur") or match.group("cur2") or "").lower()
        currency = _CURRENCY_SYMBOLS.get(currency_text) or _WORD_CURRENCIES.get(currency_text)
        if not currency:
            continue
        if multiplier in ("m", "b", "k") and match.group("mult") and not match.group("cur"):
            continue
        value = float(number.replace(",", "")) * _MULTIPLIERS.get(multiplier, 1)
        found.append(
            (value, currency, match.start(), match.end(), text[match.start() : match.end()])
        )
    return found


def _penalty(title: str, summary: str) -> tuple[Money | None, Evidence | None]:
    best: tuple[float, str, str, str] | None = None
    for where, text in (("title", title), ("summary", summary)):
        for value, currency, start, end, shown in _amounts(text):
            clause_start = max(text.rfind(sep, 0, start) for sep in (". ", "; ", ": ", ", and "))
            clause_end = min(
                (i for i in (text.find(sep, end) for sep in (". ", "; ")) if i != -1),
                default=len(text),
            )
            before = text[max(clause_start, start - 80, 0) : start]
            after = text[end : min(clause_end, end + 60)]
            near_before = text[max(0, start - 30) : start]
            near_after = text[end : end + 30]
            if _NOT_PENALTY.search(near_before[-25:]) or _NOT_PENALTY.search(near_after[:25]):
                continue
            if not (_PENALTY_CONTEXT.search(before) or _PENALTY_CONTEXT.search(after)):
                continue
            if (
                best is None
                or (where == best[2] == "title" and value > best[0])
                or (best[2] != "title" and value > best[0])
            ):
                best = (value, currency, where, shown)
        if best is not None and best[2] == "title":
            break
    if best is None:
        return None, None
    value, currency, where, shown = best
    return Money(value, currency), Evidence("penalty", f"{value:g} {currency}", shown, where)


# -- case numbers ------------------------------------------------------------------------------

# Each with a word it cannot match without (looked for in the lower-cased text first: most
# texts that pass _CASE_HINT hold no case number, and these searches are slow).
_CASE_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"\bLitigation\s+Release\s+No\.?\s*(\d{4,6})\b", re.I), "LR-{0}", "litigation"),
    (re.compile(r"\bLR-?(\d{4,6})\b"), "LR-{0}", "lr"),
    (re.compile(r"\bFile\s+Nos?\.?\s*(3-\d{4,6})\b", re.I), "{0}", "file"),
    (
        re.compile(r"\bAdministrative\s+Proceeding\s+(3-\d{4,6})\b", re.I),
        "{0}",
        "administrative",
    ),
    (
        re.compile(r"\bRelease\s+Nos?\.?\s*((?:33|34|IA|IC|AAER|40|ICA|FR|BD)-\d{3,6})\b", re.I),
        "{0}",
        "release",
    ),
    (re.compile(r"\b(\d{1,2}:\d{2}-(?:cv|cr|mj|mc|md|bk|ap|po)-\d{3,6})\b", re.I), "{0}", ":"),
    (re.compile(r"\bCFTC\s+Docket\s+Nos?\.?\s*(\d{2}-\d{1,4})\b", re.I), "CFTC {0}", "docket"),
)


def _case_numbers(texts: Iterable[tuple[str, str]]) -> tuple[list[str], list[Evidence]]:
    numbers: list[str] = []
    evidence: list[Evidence] = []
    for where, text in texts:
        lowered = text.lower()
        # The key words before the hint: most texts hold none of them, and then nothing can
        # match whatever the hint says.
        patterns = [(pattern, form) for pattern, form, needs in _CASE_PATTERNS if needs in lowered]
        if not patterns or not _case_hint(lowered):
            continue
        for pattern, form in patterns:
            for match in pattern.finditer(text):
                value = form.format(match.group(1))
                if ":" in value:
                    value = re.sub(r"-([A-Za-z]{2})-", lambda m: f"-{m.group(1).lower()}-", value)
                if value not in numbers:
                    numbers.append(value)
                    evidence.append(Evidence("case_number", value, match.group(), where))
    return numbers, evidence


# -- parties the catalog does not know -----------------------------------------------------------

_SUFFIX = (
    r"(?:Inc|INC|LLC|L\.L\.C|Ltd|LTD|Limited|LIMITED|Corp|CORP|Corporation|CORPORATION|L\.P|"
    r"LP|LLP|PLC|plc|GmbH|S\.A|N\.V|B\.V|Pte\.?\s+Ltd|Pty\.?\s+Ltd|Co\.,?\s+Ltd)\.?"
)
_NAME_TOKEN = r"(?:[A-Z][\w'.-]*|[0-9][A-Za-z][\w'.-]*|&)"
# "Harbor & Vine Securities, LLC", "QUANTUM PARALLAX CORP.": a run of capitalised words ended
# by a legal suffix names a firm, whether or not the catalog knows it.
_ORG = re.compile(
    rf"(?<![\w&])(?P<name>{_NAME_TOKEN}(?:\s+{_NAME_TOKEN}){{0,7}}),?\s+{_SUFFIX}(?![\w])"
)
# Headline words that start or join a title but are never part of a firm's name.
_NOT_NAME = frozenset(
    """a an the and or of in on at to for by with from against over after before as into via
    sec cftc doj finra fca charges charged sues sued fines fined settles settled orders ordered
    suspends suspended trading bars barred obtains obtained files filed judgment order orders
    proceedings instituting pursuant section matter re re: v v. announces announced halts
    approves approved revokes revoked sanctions sanctioned designates designated agrees
    reaches secures secured wins loses says said court judge operator operators founder ceo
    former ex issuers issuer promoters firm firms company exchange platform three two four
    five against""".split()  # noqa: SIM905 - a word list reads better as text
)
_CAPTION = re.compile(r"(?:^|\s)(?P<left>[^\s].*?)\s+v\.?\s+(?P<right>.+?)(?:,?\s+et\s+al\.?)?$")
_IN_MATTER = re.compile(r"\b(?:In\s+the\s+Matter\s+of|In\s+re:?)\s+(?P<name>.+)$", re.I)
_LIST_SPLIT = re.compile(r",\s+and\s+|,\s+|\s+and\s+|\s+&\s+(?=[A-Z][a-z]+\s+[A-Z])")
_PERSON = re.compile(
    r"^[A-Z][a-z'’-]+(?:\s+(?:[A-Z]\.|[A-Z][a-z'’-]+)){1,3}(?:\s+(?:Jr|Sr|II|III|IV)\.?)?$"
)
_DESIGNATIONS = re.compile(r",?\s+(?:CPA|Esq\.?|CFA|CFP|J\.D\.)$")


def _clean_name(name: str, *, cut: bool = True) -> str | None:
    words = name.split()
    while words and words[0].lower().rstrip(",:") in _NOT_NAME:
        words = words[1:]
    # Cut at the last headline word inside the run ("Suspends Trading in Bluegrass ...").
    for index in range(len(words) - 1 if cut else -1, -1, -1):
        if words[index].lower().rstrip(",:") in _NOT_NAME and words[index] != "&":
            words = words[index + 1 :]
            break
    while words and words[-1].rstrip(".,") in ("Pte", "Pty", "Co"):
        words = words[:-1]
    if not words or all(w == "&" for w in words):
        return None
    text = " ".join(words).strip(" ,")
    if text.isupper() and len(text) > 4:
        text = text.title()
    return text if len(text) >= 3 else None


# A literal that every _SUFFIX holds: without one of them _ORG cannot match. (A plain
# alternation of literals starting with capitals is searched far faster than one behind "\b".)
_SUFFIX_HINT = re.compile(
    r"Inc|INC|LLC|L\.L\.C|Ltd|LTD|Limited|LIMITED|Corp|CORP|L\.P|LP|PLC|plc|GmbH|S\.A|N\.V|B\.V"
)


def _organisations(text: str) -> list[tuple[str, int, int]]:
    """(name, start, end) of each suffixed firm name; the span covers the kept words only."""
    if not _SUFFIX_HINT.search(text):
        return []
    found = []
    for match in _ORG.finditer(text):
        name = _clean_name(match.group("name"))
        if not name:
            continue
        words = list(re.finditer(r"\S+", match.group("name")))
        kept = len(name.split())
        start = match.start("name") + words[len(words) - kept].start() if kept <= len(words) else 0
        found.append((name, start, match.end()))
    return found


# Lower-case words _name_list lets through (or removes: "and" splits, "plc" is a suffix).
_LOWER_IN_NAME_LIST = frozenset({"of", "de", "van", "and", "plc"})


def _name_list(title: str) -> list[str]:
    """A release titled only with its respondents' names: "Brenna Lott and Quantive Capital
    Partners LLC", "Tobias R. Lindqvist, Maren Oduya, and Priya Santhanam"."""
    if any(
        word[0].islower() and word.rstrip(".,") not in _LOWER_IN_NAME_LIST for word in title.split()
    ):
        # Most titles are sentences: a word in lower case that none of the steps below removes
        # ends up in a part and makes it "an ordinary sentence", so say so straight away.
        return []
    title = _DESIGNATIONS.sub("", title.strip())
    suffixed = {
        m.group(1).strip()
        for m in re.finditer(rf"(?:^|,\s+|\band\s+)([^,]+?),?\s+{_SUFFIX}(?=,|\s+and\b|$)", title)
    }
    title = re.sub(rf",?\s+{_SUFFIX}(?=,|\s+and\b|$)", "", title)
    title = re.sub(r",\s+(Jr|Sr|II|III|IV)\.?", r" \1.", title)
    parts = [p.strip() for p in _LIST_SPLIT.split(title) if p.strip()]
    names = []
    for part in parts:
        words = part.split()
        if not words or any(w[0].islower() for w in words if w not in ("&", "of", "de", "van")):
            return []  # an ordinary sentence, not a list of names
        if any(w.lower().rstrip(",:") in _NOT_NAME for w in words):
            return []
        name = part.title() if part.isupper() and len(part) > 4 else part
        if not (_PERSON.match(name) or part in suffixed):
            return []  # a headline in title case, not a list of names
        names.append(name)
    return names


@dataclass(frozen=True, slots=True)
class _Party:
    name: str
    where: str
    start: int = 0
    end: int = 0


# In running text (summaries are sentence case, unlike headlines): a firm named by its kind
# ("Pinewood Valley Bank", "Quantive Capital Partners"), and a person named by a role or as the
# object of an enforcement verb ("founder Jane Roe", "charged Wade Hollis").
_FIRM_WORDS = (
    r"Bank|Bancorp|Bancshares|Capital|Partners|Advisors|Advisers|Securities|Markets|Labs|"
    r"Fund|Holdings|Trust|Financial|Investments|Management|Exchange|Protocol|Digital|Ventures"
)
_INSTITUTION_WORDS = (
    r"Commission|Authority|Board|Agency|Department|Division|Bureau|Unit|Office|Directorate|"
    r"Service|Council|Committee|Ministry|Regulator|Corp|Inc|LLC|Ltd|Limited|Corporation|Co"
)
# (The first capital comes before the check that no word character or "&" precedes it, which
# lets the engine skip from capital to capital: twice as fast as "(?<![\w&])" in front.)
_PROSE_FIRM = re.compile(
    rf"(?P<name>[A-Z](?<![\w&][A-Z])[\w'-]*\s+(?:[A-Z][\w'-]*\s+){{0,3}}(?:{_FIRM_WORDS}))"
    rf"(?![\w])(?!\s+(?:{_INSTITUTION_WORDS}|[A-Z]|of\s+[A-Z]))"
)
_NAME_WORD = r"[A-Z][a-z']+(?:-[A-Z][a-z']+)?"
_PERSON_NAME = rf"{_NAME_WORD}(?:\s+[A-Z]\.)?(?:\s+{_NAME_WORD}){{1,2}}(?:,?\s+(?:Jr|Sr)\.)?"
_ROLE = (
    r"founder|co-founder|chief\s+executive(?:\s+officer)?|CEO|CFO|COO|CTO|president|"
    r"chairman|director|trader|promoter|operator|manager|executive|officer|owner|principal|"
    r"partner|developer|defendant|adviser|advisor|broker"
)
_PERSON_VERBS = (
    r"charged|charges|sued|sues|against|barred|bars|sentenced|fined|fines|indicted|"
    r"arrested|suspended|convicted|extradited|named|ordered"
)
_PERSON_AFTER_VERB = re.compile(
    r"\b(?:" + _PERSON_VERBS + r")\s+(?:(?:its|his|her|their|the|a|"
    r"former|ex-|onetime|\w+-based)\s+)*(?:(?:" + _ROLE + r")\s+)?(?P<name>" + _PERSON_NAME + r")"
    r"(?![\w'])(?!\s+[A-Z&])"
)
_PERSON_WITH_ROLE = re.compile(
    r"\b(?:" + _ROLE + r")\s+(?P<name>" + _PERSON_NAME + r")(?![\w'])(?!\s+[A-Z&])|"
    r"(?P<name2>" + _PERSON_NAME + r"),\s+(?:the\s+|a\s+|its\s+|who\s+(?:was|is)\s+)?"
    r"(?:former\s+)?(?:\w+\s+)?(?:" + _ROLE + r")\b"
)
_PROSE_STOP = frozenset(
    {"The", "A", "An", "In", "On", "At", "For", "By", "With", "From", "This", "That", "Its",
     "His", "Her", "Their", "Federal", "U.S.", "United", "States", "Court", "District"}
)  # fmt: skip


# Without one of its firm words _PROSE_FIRM cannot match (searched as plain literals, as above).
_FIRM_HINT = re.compile(_FIRM_WORDS)


def _leading_words(alternation: str) -> list[str]:
    """The word each alternative of a flat ``alternation`` starts with ("chief" of
    "chief\\s+executive"): a text without any of them cannot match it."""
    return [re.match(r"[\w-]+", alternative).group() for alternative in alternation.split("|")]  # type: ignore[union-attr]


# A person's role or verb is looked for as a plain word first: few summaries have a role, and
# the searches behind "\b" cost as much as the patterns they guard.
_ROLE_HINT = re.compile(_emit(_trie(_leading_words(_ROLE))))
_PERSON_VERB_WORDS = tuple(_leading_words(_PERSON_VERBS))


def _prose_parties(text: str) -> list[tuple[str, int, int]]:
    found = []
    firms = _PROSE_FIRM.finditer(text) if _FIRM_HINT.search(text) else ()
    for match in firms:
        words = match.group("name").split()
        while words and (words[0] in _PROSE_STOP or words[0].lower() in _NOT_NAME):
            words = words[1:]
        if len(words) >= 2:
            name = " ".join(words)
            found.append((name, match.end() - len(name), match.end()))
    patterns = [_PERSON_AFTER_VERB] if any(verb in text for verb in _PERSON_VERB_WORDS) else []
    if _ROLE_HINT.search(text):
        patterns.append(_PERSON_WITH_ROLE)
    for pattern in patterns:
        for match in pattern.finditer(text):
            group = "name" if match.group("name") else "name2"
            name = re.sub(r",\s+(Jr|Sr)\.", r" \1.", match.group(group))
            words = name.split()
            if any(w in _PROSE_STOP or w.lower() in _NOT_NAME for w in words) or re.search(
                rf"\b(?:{_FIRM_WORDS}|{_INSTITUTION_WORDS})\b", name
            ):
                continue
            found.append((name, match.start(group), match.end(group)))
    return found


_EDGAR_TITLE = re.compile(r"\(\d{10}\)\s+\((?:Filer|Subject|Reporting|Filed\s+by)\)")


def _is_agency_name(text: str) -> bool:
    return bool(re.search(r"\b(?:Commission|Department|Bureau|Authority|Agency)$", text))


def _parties(texts: dict[str, str], regulator: bool) -> list[_Party]:
    """Firms and people the catalog may not know: named with a legal suffix, in a court
    caption ("Westmark Capital LLC v. Doe", "In the Matter of X"), or listed as the whole title
    of a regulator's release."""
    found: list[_Party] = []
    title = texts["title"]
    caption = re.sub(r"^\d{1,2}:\d{2}-[a-z]{2}-\d+(?:-\w+)?\s+", "", title)
    matter = _IN_MATTER.search(caption) if " re" in caption or "Matter" in caption else None
    caption_match = _CAPTION.match(caption) if " v. " in caption or " v " in caption else None
    if matter:
        name = _clean_name(re.sub(rf",?\s+{_SUFFIX}.*$", "", matter.group("name")), cut=False)
        if name:
            found.append(_Party(name, "title"))
    elif caption_match:
        for side in ("left", "right"):
            raw = re.sub(rf",?\s+{_SUFFIX}.*$", "", caption_match.group(side)).strip(" ,")
            if _is_agency_name(raw):
                continue
            if len(raw.split()) >= 2 and not _US_CAPTION.match(raw + " v. "):
                name = _clean_name(raw)
                if name:
                    found.append(_Party(name, "title"))
    if regulator and not found:
        found.extend(_Party(name, "title") for name in _name_list(title) if len(name.split()) >= 2)
    for where, text in texts.items():
        found.extend(_Party(name, where, start, end) for name, start, end in _organisations(text))
    found.extend(
        _Party(name, "summary", start, end) for name, start, end in _prose_parties(texts["summary"])
    )
    return found


def _add_parties(
    catalog: Catalog,
    compiled: _Compiled,
    texts: dict[str, str],
    regulator: bool,
    accepted: list[_Match],
    entities: dict[str, None],
    evidence: list[Evidence],
) -> None:
    parties = _parties(texts, regulator)
    # "Navy Capital Green Management, LLC ('Navy Capital')": the short form is the same firm.
    parties.sort(key=lambda party: -len(party.name))
    longer: list[str] = []
    # A filing list names every filer; only the ones the catalog knows are worth a tag.
    known_only = bool(_EDGAR_TITLE.search(texts["title"]))
    for party in parties:
        known = catalog.entity(party.name) or catalog.entity(
            re.sub(r"\s+(?:Holdings|Group|Global|International|Technologies)$", "", party.name)
        )
        if known is None and (
            compiled.exact.get(party.name) or compiled.folded.get(party.name.lower())
        ):
            continue  # an agency's name, not a party
        name = known.name if known else party.name
        # A catalog alias inside a longer firm name ("Ledger" in "Alta Ledger Corp.") is not
        # that catalog entity.
        for match in accepted:
            if (
                match.alias.kind == "entity"
                and match.where == party.where
                and party.start <= match.start
                and match.end <= party.end
                and match.alias.key != name
                and party.end > party.start
                and match.alias.key in entities
            ):
                del entities[match.alias.key]
        if known is None and known_only:
            continue
        if known is None and any(_has_phrase(other, party.name) for other in longer):
            continue
        longer.append(party.name)
        if name not in entities:
            entities[name] = None
            evidence.append(Evidence("entity", name, party.name, party.where))


def _has_phrase(text: str, phrase: str) -> bool:
    """Whether ``phrase`` stands in ``text`` as whole words (a regex per party name missed
    the regex cache every time: a tenth of tagging)."""
    at = text.find(phrase)
    while at != -1:
        end = at + len(phrase)
        if (at == 0 or not _is_word_char(text[at - 1])) and (
            end == len(text) or not _is_word_char(text[end])
        ):
            return True
        at = text.find(phrase, at + 1)
    return False


def _is_word_char(character: str) -> bool:
    return character.isalnum() or character == "_"  # what the regex \w matches


# -- the tagger --------------------------------------------------------------------------------


def tag_article(
    title: str,
    summary: str,
    *,
    catalog: Catalog,
    kind: FeedKind | str | None = None,
    agency: str | None = None,
) -> Tags:
    """Tag one article. ``kind`` and ``agency`` describe the publishing feed: in a regulator's
    own release the publisher is always an acting agency."""
    compiled = _compile(catalog)
    texts = {"title": _normalise(title or ""), "summary": _normalise(summary or "")}
    matches = _find(compiled, texts["title"], "title") + _find(
        compiled, texts["summary"], "summary"
    )
    whole = texts["title"] + " \n " + texts["summary"]
    confirmed_keys = {(m.alias.kind, m.alias.key) for m in matches if not m.alias.ambiguous}
    evidence: list[Evidence] = []
    acting: dict[str, None] = {}
    mentioned: dict[str, None] = {}
    entities: dict[str, None] = {}
    publisher = agency.upper() if agency and str(kind) == FeedKind.REGULATOR.value else None
    if publisher and catalog.agency(publisher) is not None:
        acting[publisher] = None
        mentioned[publisher] = None
        evidence.append(Evidence("agency", publisher, "(publisher)", "feed"))
    accepted = [m for m in matches if _accepted(compiled, m, texts, whole, confirmed_keys)]
    for where, text in texts.items():
        caption = _US_CAPTION.search(text) if _may_be_caption(text) else None
        if caption and catalog.agency("DOJ") is not None:
            for target in (mentioned, acting):
                target.setdefault("DOJ", None)
            evidence.append(Evidence("agency", "DOJ", caption.group().strip(), where))
    title_actors = publisher is not None or any(
        m.alias.kind == "agency" and m.where == "title" and not _is_passing(m, texts["title"])
        for m in accepted
    )
    previous: _Match | None = None
    caption_party = False  # an agency named as a party in a court caption ("SEC v. Doe")
    for match in accepted:
        if (
            publisher
            and match.alias.kind == "agency"
            and publisher.startswith(match.alias.key + "-")
        ):
            # In the Philippine SEC's own release, "SEC" is the Philippine SEC.
            match = replace(match, alias=_Alias("agency", publisher, False))
        if match.alias.kind == "entity":
            previous = match
            if match.alias.key not in entities:
                entities[match.alias.key] = None
                evidence.append(Evidence("entity", match.alias.key, match.text, match.where))
            continue
        code = match.alias.key
        if code not in mentioned:
            mentioned[code] = None
            evidence.append(Evidence("mentioned_agency", code, match.text, match.where))
        text = texts[match.where]
        if code in acting or _is_passing(match, text):
            previous = match
            continue
        party = bool(_CAPTION_PARTY.match(text[match.end : match.end + 5]))
        caption_party = caption_party or party
        if match.where == "summary" and title_actors and not party:
            joint = _JOINT_BEFORE.search(text[max(0, match.start - 40) : match.start])
            listed = (
                previous is not None
                and previous.where == match.where
                and previous.alias.key in acting
                and _LIST_GAP.match(text[previous.end : match.start])
            )
            if not (joint or listed or _ACTS_AFTER.match(text[match.end : match.end + 120])):
                previous = match
                continue
        acting[code] = None
        evidence.append(Evidence("agency", code, match.text, match.where))
        previous = match
    masked = {
        where: _mask(text, [m for m in matches if m.where == where])
        for where, text in texts.items()
    }
    action, action_evidence = _action(
        masked["title"], masked["summary"], bool(acting), publisher is not None or caption_party
    )
    if action is None:
        # No enforcement or regulatory event: nobody acts, agencies are only mentioned.
        evidence = [e for e in evidence if e.field != "agency"]
        acting = {}
    if action_evidence is not None:
        evidence.append(action_evidence)
    penalty, penalty_evidence = _penalty(texts["title"], texts["summary"])
    if penalty_evidence is not None:
        evidence.append(penalty_evidence)
    _add_parties(catalog, compiled, texts, publisher is not None, accepted, entities, evidence)
    cases, case_evidence = _case_numbers(texts.items())
    evidence.extend(case_evidence)
    return Tags(
        agencies=tuple(acting),
        mentioned_agencies=tuple(mentioned),
        entities=tuple(entities),
        action=action,
        penalty_usd=penalty.amount if penalty and penalty.currency == "USD" else None,
        penalty=penalty,
        case_numbers=tuple(cases),
        evidence=tuple(evidence),
        version=tag_version(catalog),
    )


def tag_version(catalog: Catalog) -> str:
    """Stored with each article's tags: tags of another version are stale."""
    return f"{TAGGER_VERSION}:{catalog.fingerprint}"


def tag_articles(
    articles: Iterable[Article],
    *,
    catalog: Catalog,
    kind: FeedKind | str | None,
    agency: str | None,
) -> tuple[Article, ...]:
    """The articles of one feed, each with its tags."""
    return tuple(
        replace(
            article,
            tags=tag_article(
                article.title, article.summary_text, catalog=catalog, kind=kind, agency=agency
            ),
        )
        for article in articles
    )
