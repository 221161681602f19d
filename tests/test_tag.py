"""The tagger: catalogs, alias matching, precision cases, actions, penalties, case numbers."""

from __future__ import annotations

import tomllib

import pytest

from aggregator.catalog import ENTITY_TYPES, HERE, UserEntity, load_catalog
from aggregator.records import Money
from aggregator.tag import ACTIONS, tag_article

CATALOG = load_catalog()


def tag(title: str, summary: str = "", *, kind: str = "news", agency: str | None = None):  # type: ignore[no-untyped-def]
    return tag_article(title, summary, catalog=CATALOG, kind=kind, agency=agency)


def test_catalogs_are_big_enough_and_consistent() -> None:
    agencies = tomllib.loads((HERE / "agencies.toml").read_text())["agency"]
    entities = tomllib.loads((HERE / "entities.toml").read_text())["entity"]
    assert len(agencies) >= 60
    assert len(entities) >= 250
    assert len({a["code"] for a in agencies}) == len(agencies)
    assert len({e["id"] for e in entities}) == len(entities)
    assert len({e["name"] for e in entities}) == len(entities)
    ids = {e["id"] for e in entities}
    for entity in entities:
        assert entity["type"] in ENTITY_TYPES, entity["id"]
        assert set(entity.get("related", [])) <= ids, entity["id"]
    for agency in agencies:
        assert agency["name"] and agency["jurisdiction"], agency["code"]


@pytest.mark.parametrize(
    ("title", "summary", "agencies", "entities"),
    [
        (
            "SEC Faces Setback in Binance Case as Judge Delays Software Examination",
            "The SEC's case against Binance.US operator BAM Trading Services and Changpeng Zhao continues.",
            {"SEC"},
            {"Binance", "Binance.US", "Changpeng Zhao"},
        ),
        ("CZ steps down after plea", "", set(), {"Changpeng Zhao"}),
        ("Binance's new CEO speaks", "", set(), {"Binance"}),
        (
            "SBF sentenced to 25 years",
            "Sam Bankman-Fried was sentenced in New York.",
            set(),
            {"Sam Bankman-Fried"},
        ),
        ("Alabama clinches SEC Championship", "The SEC title game sold out.", set(), set()),
        ("Race times: 9.58 sec over 100 m", "He ran it in 9.58 secs.", set(), set()),
        (
            "Google's Gemini 2.5 model tops coding benchmark",
            "The Gemini app now writes code.",
            set(),
            set(),
        ),
        (
            "FCA US recalls 100,000 Jeep SUVs",
            "Fiat Chrysler Automobiles (FCA) said the fix is free.",
            set(),
            set(),
        ),
        ("Bitmain ships new ASIC miners", "The ASIC chips double hash rate.", set(), {"Bitmain"}),
        (
            "Validators race for the next block reward",
            "A city block away, miners met.",
            set(),
            set(),
        ),
        ("The debate came full circle", "Circle K stores sell snacks.", set(), set()),
    ],
    ids=[
        "binance-setback",
        "cz-alone",
        "possessive",
        "sbf",
        "sec-football",
        "seconds",
        "gemini-ai",
        "fca-carmaker",
        "asic-miners",
        "block-word",
        "circle-word",
    ],
)
def test_agencies_and_entities(
    title: str, summary: str, agencies: set[str], entities: set[str]
) -> None:
    tags = tag(title, summary)
    assert set(tags.agencies) == agencies
    assert set(tags.entities) == entities


def test_publisher_is_an_acting_agency_and_the_commission_is_it() -> None:
    tags = tag(
        "Company Settles Charges",
        "The Commission's order finds violations.",
        kind="regulator",
        agency="CFTC",
    )
    assert tags.agencies == ("CFTC",)
    assert tags.action == "settlement"


def test_passing_mentions_are_mentioned_not_acting() -> None:
    tags = tag(
        "Exchange hires former SEC lawyer as general counsel",
        "The SEC-registered broker said the hire starts in May.",
    )
    assert tags.agencies == ()
    assert tags.mentioned_agencies == ("SEC",)


def test_foreign_secs_are_not_the_us_sec() -> None:
    tags = tag("Philippine SEC blocks access to unregistered exchanges", "")
    assert "SEC" not in tags.mentioned_agencies
    assert "SEC-PH" in tags.agencies


@pytest.mark.parametrize(
    ("title", "summary", "action"),
    [
        ("SEC Charges Trader With Fraud", "", "charges"),
        ("Exchange Agrees to Pay $5 Million to Settle CFTC Charges", "", "settlement"),
        ("Judge dismisses SEC lawsuit against exchange", "", "court_ruling"),
        ("Founder sentenced to 25 years in prison", "", "sentencing"),
        ("Exchange receives Wells notice from SEC", "", "investigation"),
        ("NYDFS grants BitLicense to custody firm", "", "licensing"),
        ("SEC issues staff statement on stablecoins", "", "guidance"),
        ("Bitcoin climbs above $100,000", "Traders cheered.", None),
    ],
    ids=["charges", "settlement", "ruling", "sentencing", "wells", "licence", "guidance", "market"],
)
def test_action(title: str, summary: str, action: str | None) -> None:
    assert action is None or action in ACTIONS
    assert tag(title, summary).action == action


@pytest.mark.parametrize(
    ("text", "usd", "money"),
    [
        ("Binance agrees to pay $4.3 billion to resolve DOJ probe", 4.3e9, Money(4.3e9, "USD")),
        ("Firm fined $50M by regulator", 5e7, Money(5e7, "USD")),
        ("Court orders restitution of USD 1.2 million", 1.2e6, Money(1.2e6, "USD")),
        ("FCA fines bank £3.5 million over AML failings", None, Money(3.5e6, "GBP")),
        ("Startup raises $50 million to build exchange", None, None),
        ("Hackers drain $200 million from bridge", None, None),
        ("Defendants to pay $1,250,000 civil penalty", 1.25e6, Money(1.25e6, "USD")),
    ],
    ids=["billion", "M-suffix", "USD-prefix", "GBP", "fundraise", "hack", "commas"],
)
def test_penalty(text: str, usd: float | None, money: Money | None) -> None:
    tags = tag(text)
    assert tags.penalty_usd == usd
    assert tags.penalty == money


def test_case_numbers() -> None:
    tags = tag(
        "SEC Obtains Judgment",
        "Litigation Release No. 26039 (LR-26040); Administrative Proceeding File No. 3-21543; "
        "Release No. 34-99876; SEC v. Doe, 1:23-CV-01599 (S.D.N.Y.); CFTC Docket No. 24-15.",
        kind="regulator",
        agency="SEC",
    )
    assert tags.case_numbers == (
        "LR-26039",
        "LR-26040",
        "3-21543",
        "34-99876",
        "1:23-cv-01599",
        "CFTC 24-15",
    )


def test_user_entities_extend_the_catalog() -> None:
    catalog = load_catalog(
        [
            UserEntity("Acme Exchange", ("Acme", "Acme Ltd")),
            UserEntity("Binance", ("BNB Chain exchange",)),
        ]
    )
    tags = tag_article("Acme Ltd halts withdrawals", "", catalog=catalog)
    assert tags.entities == ("Acme Exchange",)
    assert tag_article("BNB Chain exchange grows", "", catalog=catalog).entities == ("Binance",)
    assert catalog.fingerprint != CATALOG.fingerprint


def test_evidence_keeps_matched_text() -> None:
    tags = tag("SEC sues Binance's US arm", "")
    assert any(
        e.field == "entity" and e.text == "Binance" and e.where == "title" for e in tags.evidence
    )
    assert any(e.field == "agency" and e.value == "SEC" for e in tags.evidence)
