"""A deterministic synthetic corpus of enforcement news: feeds, items and search queries.

The farm (which serves it over HTTP) and the benchmark (which tags it, writes it straight into
stores and searches it) run in different processes; both derive every item from
``(feed, item)`` with a seeded RNG, so they agree without passing data around. The text mixes
regulator press-release style and crypto-press style, names real firms and agencies sometimes
(so the tagger and the entity-aware parts of search do real work) and synthetic ones otherwise
(so the full-text index has a realistic spread of rare terms).
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

EPOCH = datetime(2026, 3, 1, tzinfo=UTC)  # the newest base item of every feed
ITEM_SPACING = timedelta(hours=3)  # between consecutive items of one feed

AGENCIES = ("SEC", "CFTC", "DOJ", "OFAC", "FINRA", "FCA", "FRB", "OCC", "FINCEN", "NYDFS")
AGENCY_NAMES = {
    "SEC": "the Securities and Exchange Commission",
    "CFTC": "the Commodity Futures Trading Commission",
    "DOJ": "the Justice Department",
    "OFAC": "the Treasury's Office of Foreign Assets Control",
    "FINRA": "FINRA",
    "FCA": "the Financial Conduct Authority",
    "FRB": "the Federal Reserve Board",
    "OCC": "the Office of the Comptroller of the Currency",
    "FINCEN": "FinCEN",
    "NYDFS": "the New York Department of Financial Services",
}
REAL_FIRMS = (
    "Binance", "Coinbase", "Kraken", "Gemini", "Ripple", "Tether", "Circle", "Robinhood",
    "Bitfinex", "OKX", "KuCoin", "Bittrex", "Genesis Global", "Celsius Network",
    "Terraform Labs", "FTX", "Wells Fargo", "TD Bank", "Goldman Sachs", "Crypto.com",
)  # fmt: skip
PEOPLE = (
    "Changpeng Zhao", "Sam Bankman-Fried", "Do Kwon", "Alex Mashinsky", "Justin Sun",
)  # fmt: skip
FIRST = (
    "Daniel", "Maria", "Kevin", "Priya", "Robert", "Elena", "Marcus", "Yuki", "Aisha", "Thomas",
    "Sofia", "Jonah", "Laura", "Victor", "Nadia", "Peter", "Grace", "Omar",
)  # fmt: skip
LAST = ("Hartley", "Okafor", "Lindqvist", "Moreno", "Castellano", "Whitfield", "Brennan",
        "Nakamura", "Petrov", "Delacroix", "Osei", "Abernathy", "Kowalski", "Ferreira")  # fmt: skip
FIRM_A = ("Apex", "Blue Harbor", "Crescent", "Northgate", "Silverline", "Summit", "Ironwood",
          "Meridian", "Keystone", "Redwood", "Atlas", "Cobalt", "Harbor Point", "Lumen",
          "Quantum", "Sterling", "Vantage", "Orion", "Pioneer", "Granite")  # fmt: skip
FIRM_B = ("Capital", "Securities", "Digital Assets", "Trading", "Markets", "Advisors",
          "Exchange", "Holdings", "Financial", "Asset Management", "Labs", "Ventures")  # fmt: skip
FIRM_C = ("LLC", "Inc.", "Ltd.", "LP", "Corp.", "")
# Synthetic names are built from syllables (thousands of distinct words), so that two unrelated
# events rarely share a name: story matching groups articles by the names they share.
SYLLABLE_A = (
    "Vel", "Cor", "Zan", "Mer", "Tal", "Quin", "Bram", "Sol", "Ner", "Kal", "Dra", "Fen", "Lum",
    "Hal", "Ori", "Pax", "Ryn", "Sev", "Tor", "Vix", "Ash", "Bel",
)  # fmt: skip
SYLLABLE_B = ("a", "e", "i", "o", "u", "ar", "en", "il", "or", "un", "ev", "am")
SYLLABLE_C = ("ria", "x", "nt", "ium", "ra", "ix", "on", "ara", "ent", "ova", "is", "eth",
              "wick", "ton", "dale", "ford")  # fmt: skip
EVENTS_PER_SLOT = 400  # distinct events per ITEM_SPACING slot; outlets cover some of the same
TOKENS = ("bitcoin", "ether", "solana", "XRP", "stablecoin", "memecoin", "DeFi token")
VIOLATIONS = (
    "operating an unregistered securities exchange", "misleading investors about yield returns",
    "failing to maintain an anti-money laundering program", "spoofing in futures markets",
    "offering unregistered crypto asset securities", "apparent violations of sanctions programs",
    "recordkeeping failures involving off-channel communications", "wash trading",
    "misappropriating customer funds", "a Ponzi-like scheme", "insider trading ahead of listings",
    "failing to register as a futures commission merchant", "market manipulation",
)  # fmt: skip
REGULATOR_TITLES = (
    "{agency} Charges {firm} with {violation}",
    "{agency} Charges {person} and {firm} in {amount_m} Million Fraud",
    "{firm} to Pay ${amount} Million to Settle {agency} Charges",
    "{agency} Orders {firm} to Pay ${amount} Million for {violation}",
    "{agency} Obtains Final Judgment Against {person}",
    "{agency} Fines {firm} ${amount} Million for Supervisory Failures",
    "Founder of {firm} Pleads Guilty to {violation}",
    "{agency} Settles with {firm} for {violation}",
    "{agency} Announces Termination of Enforcement Action with {firm}",
    "{agency} Bars {person} from the Securities Industry",
    "Statement on the Proposed Rule on Custody of Crypto Assets",
    "{agency} Issues Order Against {firm} Over {violation}",
)  # fmt: skip
NEWS_TITLES = (
    "{firm} Receives Wells Notice From {agency} Over {token} Staking",
    "{firm} Shares Slide After {agency} Lawsuit",
    "{person} Sentenced to {years} Years in Prison",
    "{agency} Sues {firm}, Alleging {violation}",
    "{firm} Wins Partial Victory in {agency} Case",
    "Crypto Exchange {firm} Fined ${amount}M by {agency}",
    "{token} Tops ${price}K as ETF Inflows Surge",
    "{firm} Agrees to ${amount}M Settlement With {agency}",
    "Why the {agency} Case Against {firm} Matters for {token}",
    "{firm} Halts Withdrawals Amid Regulatory Scrutiny",
    "Judge Rejects {firm} Motion to Dismiss {agency} Suit",
    "Market Wrap: {token} Slips as Traders Eye Fed Decision",
)  # fmt: skip
SENTENCES = (
    "The complaint alleges that {firm} {violation_past} between {year} and {year2}.",
    "{agency_name} alleges that investors lost more than ${amount} million.",
    "The order finds that {firm} did not register with {agency_name} as required.",
    "{person}, who founded the company, agreed to the settlement without admitting or denying "
    "the findings.",
    "The {agency} also obtained an asset freeze and other emergency relief in the case, No. "
    "{case}.",
    "{firm}, without admitting or denying the allegations, consented to a cease-and-desist order "
    "and a civil penalty of ${amount} million.",
    "A spokesperson for {firm} said the company had cooperated fully and strengthened its "
    "compliance controls.",
    "The case was brought in the U.S. District Court for the {district} District of {state}.",
    "{token} fell {pct} percent in the hours after the filing, market data show.",
    "Market analysts said the action signals a tougher stance toward {token} platforms.",
    "The investigation was conducted by enforcement staff with assistance from the {office} "
    "office.",
    "In a parallel action, the U.S. Attorney's Office for the {district} District of {state} "
    "announced criminal charges against {person}.",
    "{firm} has until {month} to respond to the Wells notice, people familiar with the matter "
    "said.",
    "The settlement resolves claims that customer funds were commingled with corporate "
    "accounts.",
    "A lawyer for {person} declined to comment on the ruling.",
    "The commission voted {votes} to approve the order, with one commissioner dissenting.",
    "Trading volume on {firm} dropped sharply after the announcement, analysts said.",
    "Regulators have stepped up scrutiny of exchanges that list {token} derivatives.",
)  # fmt: skip
PAST = (
    "misled customers about the safety of their deposits",
    "operated an unregistered exchange, broker and clearing agency",
    "failed to implement adequate know-your-customer checks",
    "sold unregistered securities to retail investors",
    "processed transactions for sanctioned users",
    "manipulated the price of thinly traded tokens",
)  # fmt: skip
DISTRICTS = ("Southern", "Northern", "Eastern", "Western", "Central")
STATES = ("New York", "California", "Illinois", "Texas", "Florida", "Washington")
OFFICES = ("New York", "San Francisco", "Chicago", "Miami", "Boston", "Denver")
MONTHS = ("January", "March", "May", "July", "September", "November")
LINK_HOSTS = ("https://www.sec.gov/litigation/complaints/", "https://www.cftc.gov/media/",
              "https://www.justice.gov/opa/pr/", "https://www.coindesk.com/policy/")  # fmt: skip


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """One feed of the farm: a regulator's releases (RSS) or an outlet's coverage (Atom)."""

    index: int
    name: str
    kind: str  # "regulator" | "news"
    agency: str | None
    atom: bool


@dataclass(frozen=True, slots=True)
class Item:
    """One generated entry, before serialisation."""

    guid: str
    link: str
    title: str
    summary_html: str
    author: str
    categories: tuple[str, ...]
    published: datetime


def feed_info(index: int) -> FeedInfo:
    """Even feeds are regulator RSS 2.0, odd ones press Atom: half and half, as the issue asks."""
    atom = index % 2 == 1
    if atom:
        return FeedInfo(index, f"outlet-{index:05d}", "news", None, True)
    agency = AGENCIES[(index // 2) % len(AGENCIES)]
    return FeedInfo(index, f"{agency.lower()}-{index:05d}", "regulator", agency, False)


def _word(rng: random.Random) -> str:
    return rng.choice(SYLLABLE_A) + rng.choice(SYLLABLE_B) + rng.choice(SYLLABLE_C)


def _firm(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.15:
        return rng.choice(REAL_FIRMS)
    if roll < 0.35:
        return f"{rng.choice(FIRM_A)} {_word(rng)} {rng.choice(FIRM_B)}"
    suffix = rng.choice(FIRM_C)
    return f"{_word(rng)} {rng.choice(FIRM_B)}{' ' + suffix if suffix else ''}"


def _person(rng: random.Random) -> str:
    if rng.random() < 0.08:
        return rng.choice(PEOPLE)
    return f"{rng.choice(FIRST)} {_word(rng)}"


def _fields(rng: random.Random, event: random.Random, agency: str | None) -> dict[str, str]:
    """Template fields: who and how much come from the event (shared by every article that
    covers it), the wording from the item's own ``rng``."""
    code = event.choice(AGENCIES)
    firm, person = html.escape(_firm(event)), _person(event)
    violation, past = event.choice(VIOLATIONS), event.choice(PAST)
    amount = str(event.choice((1, 2, 4, 7, 12, 25, 40, 100, 250, 4300)))
    amount_m = f"${event.randint(2, 900)}"
    case = f"{event.randint(1, 9)}:{event.randint(20, 25)}-cv-{event.randint(1000, 9999):05d}"
    if agency:  # a regulator's own release: the publisher acts
        code = agency
    year = rng.randint(2017, 2024)
    return {
        "agency": code,
        "agency_name": AGENCY_NAMES[code],
        "firm": firm,
        "person": person,
        "violation": violation,
        "violation_past": past,
        "amount": amount,
        "amount_m": amount_m,
        "year": str(year),
        "year2": str(year + rng.randint(1, 3)),
        "years": str(rng.randint(2, 25)),
        "case": case,
        "token": rng.choice(TOKENS),
        "price": str(rng.randint(40, 110)),
        "pct": str(rng.randint(2, 18)),
        "district": event.choice(DISTRICTS),
        "state": event.choice(STATES),
        "office": rng.choice(OFFICES),
        "month": rng.choice(MONTHS),
        "votes": rng.choice(("3-2", "4-1", "5-0")),
    }


def _summary(rng: random.Random, fields: dict[str, str]) -> str:
    """About 120 words in 2-3 paragraphs, with a link, emphasis and sometimes a list."""
    sentences = [s.format(**fields) for s in rng.sample(SENTENCES, rng.randint(6, 8))]
    link = rng.choice(LINK_HOSTS) + f"{rng.randint(10000, 99999)}?utm_source=rss&id={rng.random()}"
    sentences[1] = f'{sentences[1]} The <a href="{html.escape(link)}">complaint</a> is online.'
    sentences[0] = f"<strong>{sentences[0]}</strong>"
    if rng.random() < 0.3:
        sentences[2] = sentences[2].replace(fields["firm"], f"<em>{fields['firm']}</em>", 1)
    cut = len(sentences) // 2
    body = f"<p>{' '.join(sentences[:cut])}</p><p>{' '.join(sentences[cut:])}</p>"
    if rng.random() < 0.2:
        body += "<ul><li>a civil penalty</li><li>disgorgement</li><li>undertakings</li></ul>"
    return body


def make_item(feed: int, number: int) -> Item:
    """Item ``number`` of ``feed``; higher numbers are newer (new items get the next numbers)."""
    info = feed_info(feed)
    rng = random.Random(feed * 1_000_003 + number)
    published = EPOCH + (number - 50) * ITEM_SPACING - timedelta(minutes=feed % 180)
    slot = int((published - EPOCH) / ITEM_SPACING)
    event = random.Random(slot * 7_919 + rng.randrange(EVENTS_PER_SLOT) + 10**9)
    fields = _fields(rng, event, info.agency)
    titles = REGULATOR_TITLES if info.kind == "regulator" else NEWS_TITLES
    title = rng.choice(titles).format(**fields)
    slug = "-".join(title.lower().split()[:6]).replace("$", "").replace(",", "")
    return Item(
        guid=f"https://farm.example/{info.name}/{number}",
        link=f"https://news.example/{info.name}/{number}/{html.escape(slug)}?utm_campaign=feed",
        title=title,
        summary_html=_summary(rng, fields),
        author=_person(rng),
        categories=("Enforcement", fields["agency"]) if rng.random() < 0.7 else ("Markets",),
        published=published,
    )


def _xml(text: str) -> str:
    return html.escape(text, quote=False)


def render_feed(feed: int, first: int, last: int, base_url: str) -> bytes:
    """The feed document holding items ``first..last-1``, newest first."""
    info = feed_info(feed)
    items = [make_item(feed, n) for n in range(last - 1, first - 1, -1)]
    self_url = f"{base_url}/{feed}.xml"
    if info.atom:
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{info.name} crypto policy news</title><id>urn:farm:{info.name}</id>"
            f'<link rel="self" href="{self_url}"/><link href="https://news.example/"/>'
            f"<updated>{(items[0].published if items else EPOCH).isoformat()}</updated>"
        ]
        for item in items:
            categories = "".join(f'<category term="{_xml(c)}"/>' for c in item.categories)
            parts.append(
                f"<entry><id>{item.guid}</id><title>{_xml(item.title)}</title>"
                f'<link rel="alternate" href="{item.link}"/>'
                f"<updated>{item.published.isoformat()}</updated>"
                f"<published>{item.published.isoformat()}</published>"
                f"<author><name>{item.author}</name></author>{categories}"
                f'<summary type="html">{_xml(item.summary_html)}</summary></entry>'
            )
        parts.append("</feed>")
    else:
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
            'xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
            f"<title>{info.agency} press releases ({info.name})</title>"
            f"<link>https://{(info.agency or 'x').lower()}.example/news</link>"
            f'<atom:link rel="self" href="{self_url}"/>'
            f"<description>Enforcement releases</description>"
        ]
        for item in items:
            categories = "".join(f"<category>{_xml(c)}</category>" for c in item.categories)
            parts.append(
                f"<item><title>{_xml(item.title)}</title><link>{item.link}</link>"
                f'<guid isPermaLink="false">{item.guid}</guid>'
                f"<pubDate>{format_datetime(item.published)}</pubDate>"
                f"<author>press@{(info.agency or 'x').lower()}.example ({item.author})</author>"
                f"{categories}<description>{_xml(item.summary_html)}</description></item>"
            )
        parts.append("</channel></rss>")
    return "".join(parts).encode()


def search_queries(count: int, seed: int = 7) -> list[str]:
    """``count`` varied queries in the user's language: words, phrases, OR, exclusions,
    prefixes, and rare and common terms alike (both are slow in different ways)."""
    fixed = [
        "binance", '"wells notice"', "sec OR cftc", "penalty -bitcoin", "crypt*", "coinbase",
        "kraken staking", '"civil penalty"', "binance -pakistan", "sec OR cftc binance",
        "tether", "settlement", '"asset freeze"', "ponzi", "spoof*", "sanctions OR ofac",
        "changpeng zhao", '"cease-and-desist"', "manipulat*", "ripple xrp",
    ]  # fmt: skip
    rng = random.Random(seed)
    words = [
        "fraud", "exchange", "unregistered", "investors", "settle", "judgment", "prison",
        "withdrawals", "stablecoin", "solana", "ether", "compliance", "disgorgement",
        "commingled", "launder*", "court", "complaint", "sentenced", "guilty", "dismiss",
    ]  # fmt: skip
    firms = [f.lower() for f in REAL_FIRMS if " " not in f and "." not in f]
    people = [name.split()[-1].lower() for name in (*FIRST, *LAST)]
    queries = list(fixed)
    while len(queries) < count:
        shape = rng.randrange(7)
        if shape == 0:
            queries.append(rng.choice(firms))
        elif shape == 1:
            queries.append(f"{rng.choice(firms)} {rng.choice(words)}")
        elif shape == 2:
            queries.append(f"{rng.choice(AGENCIES).lower()} OR {rng.choice(AGENCIES).lower()}")
        elif shape == 3:
            queries.append(f'"{rng.choice(FIRM_A).lower()} {rng.choice(FIRM_B).lower()}"')
        elif shape == 4:
            queries.append(f"{rng.choice(words)} -{rng.choice(firms)}")
        elif shape == 5:
            queries.append(rng.choice(words)[:5].rstrip("*") + "*")
        else:
            queries.append(f"{rng.choice(people)} {rng.choice(words)}")
    return queries[:count]
