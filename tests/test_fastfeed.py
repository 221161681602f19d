"""The lxml fast path of parse_feed: for every document it either declines or gives exactly the
ParsedFeed that feedparser gives. Real feeds, the golden fixtures, the benchmark farm's documents,
hand-written quirks and mutated documents are each read both ways and compared field by field."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from feedparser.urls import _urljoin, make_safe_absolute_uri, resolve_relative_uris
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import _fastfeed, parse
from aggregator.errors import ParseError
from aggregator.parse import defuse, parse_feed
from aggregator.records import ParsedFeed
from benchmarks.corpus import render_feed
from tests.conftest import FeedServer

CORPUS_FEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "feeds"
FIXTURES = Path(__file__).parent / "data" / "feeds"
URL = "https://example.test/news/feed"
# Corpus files the fast path leaves to feedparser, and why; any other must be read fast.
EXPECTED_DECLINES = {
    "sec-admin-proceedings-rss-2026-09-03-excerpt-malformed.xml": "xmlParseEntityRef",  # bare &
    "edgar-company-atom-keen-vision-0001889983.xml": "content of type text/xml",
    "edgar-company-atom-maquia-0001844419.xml": "<date> would land on 'updated'",
    "edgar-company-atom-twitter-0001418091-2016-03.xml": "<date> would land on 'updated'",
}
FIXTURE_DECLINES = {"sec_admin_malformed.xml": "xmlParseEntityRef"}


def read_both(
    content: bytes, *, url: str = URL, content_type: str | None = None
) -> tuple[ParsedFeed | None, ParsedFeed | ParseError]:
    """(the fast path's result or None, feedparser's result or its ParseError)."""
    failures: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = failures.append  # type: ignore[method-assign]
    logger = logging.getLogger("aggregator._fastfeed")
    logger.addHandler(handler)
    try:
        fast = parse._read_fast(defuse(content), url=url, content_type=content_type)
    finally:
        logger.removeHandler(handler)
    assert not failures, f"the fast path failed: {failures[0].exc_info!r}"
    try:
        slow: ParsedFeed | ParseError = parse_feed(
            content, url=url, content_type=content_type, fast=False
        )
    except ParseError as exc:
        slow = exc
    return fast, slow


def differences(fast: ParsedFeed, slow: ParsedFeed | ParseError) -> list[str]:
    if isinstance(slow, ParseError):
        return [f"feedparser raised {slow}, the fast path read {len(fast.entries)} entries"]
    found = [
        f"{name}: fast {getattr(fast, name)!r} != feedparser {getattr(slow, name)!r}"
        for name in ("version", "title", "link", "self_url", "skipped")
        if getattr(fast, name) != getattr(slow, name)
    ]
    if len(fast.entries) != len(slow.entries):
        found.append(f"entries: fast {len(fast.entries)} != feedparser {len(slow.entries)}")
    for index, (mine, theirs) in enumerate(zip(fast.entries, slow.entries, strict=False)):
        found += [
            f"entry {index} {name}: fast {getattr(mine, name)!r} != feedparser "
            f"{getattr(theirs, name)!r}"
            for name in mine.__dataclass_fields__
            if getattr(mine, name) != getattr(theirs, name)
        ]
    return found


def check_same(
    label: str, content: bytes, *, url: str = URL, content_type: str | None = None
) -> ParsedFeed | None:
    """The fast path's result, after failing with every field that differs from feedparser's."""
    fast, slow = read_both(content, url=url, content_type=content_type)
    if fast is not None:
        found = differences(fast, slow)
        assert not found, f"{label}:\n  " + "\n  ".join(found)
    return fast


def decline_reason(
    caplog: pytest.LogCaptureFixture,
    content: bytes,
    *,
    url: str = URL,
    content_type: str | None = None,
) -> str:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="aggregator._fastfeed"):
        parse._read_fast(defuse(content), url=url, content_type=content_type)
    return " ".join(r.getMessage() for r in caplog.records) or "(no reason logged)"


# -- real documents ---------------------------------------------------------------------------

READ_AS = [
    pytest.param(URL, None, id="https-no-type"),
    pytest.param("feed.xml", "text/xml", id="file-text-xml"),
    pytest.param("http://example.test/feed", "application/rss+xml; charset=utf-8", id="http-rss"),
]


@pytest.mark.corpus
@pytest.mark.parametrize(("url", "content_type"), READ_AS)
def test_corpus_fast_path_equals_feedparser(
    url: str, content_type: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    if not CORPUS_FEEDS.is_dir():
        pytest.skip(f"no corpus at {CORPUS_FEEDS}")
    paths = sorted(CORPUS_FEEDS.rglob("*.xml"))
    accepted: list[str] = []
    declined: dict[str, str] = {}
    problems: list[str] = []
    items = fast_items = 0
    for path in paths:
        content = path.read_bytes()
        fast, slow = read_both(content, url=url, content_type=content_type)
        assert isinstance(slow, ParsedFeed), f"{path.name}: {slow}"
        items += len(slow.entries)
        if fast is None:
            declined[path.name] = decline_reason(
                caplog, content, url=url, content_type=content_type
            )
        else:
            accepted.append(path.name)
            fast_items += len(slow.entries)
            problems += [f"{path.name}: {found}" for found in differences(fast, slow)]
    assert not problems, "the fast path differs from feedparser:\n  " + "\n  ".join(problems)
    print(f"\nfast path: {len(accepted)} of {len(paths)} files, {fast_items} of {items} items")
    for name, reason in declined.items():
        print(f"  declined {name}: {reason}")
    unexpected = {
        name: reason
        for name, reason in declined.items()
        if EXPECTED_DECLINES.get(name, "\0") not in reason
    }
    assert not unexpected, f"declined, not in EXPECTED_DECLINES: {unexpected}"
    assert len(accepted) >= 0.75 * len(paths)
    assert fast_items >= 0.85 * items


def _fixture_documents() -> list[Path]:
    return sorted(FIXTURES.glob("*.xml"))


@pytest.mark.parametrize("path", _fixture_documents(), ids=lambda path: path.name)
def test_fixture_fast_path_equals_feedparser(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    content = path.read_bytes()
    for url, content_type in ((URL, "application/xml"), ("feed.xml", None)):
        fast = check_same(path.name, content, url=url, content_type=content_type)
        reason = decline_reason(caplog, content, url=url, content_type=content_type)
        if path.name in FIXTURE_DECLINES:
            assert fast is None
            assert FIXTURE_DECLINES[path.name] in reason
        else:
            assert fast is not None, reason


def test_farm_documents_take_the_fast_path() -> None:
    kinds = set()
    for index in range(41):
        content = render_feed(index, 0, 50, "http://127.0.0.1:1/x")
        kind = "application/atom+xml" if index % 2 else "application/rss+xml"
        url = f"http://127.0.0.1:1/x/{index}.xml"
        fast = check_same(f"farm {index}", content, url=url, content_type=f"{kind}; charset=utf-8")
        assert fast is not None, f"farm document {index} declined"
        assert len(fast.entries) == 50
        kinds.add(fast.version)
    assert kinds == {"rss20", "atom10"}


def test_parse_feed_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("feedparser called for a farm document")

    expected = parse_feed(render_feed(1, 0, 5, "http://127.0.0.1:1/x"), url=URL, fast=False)
    monkeypatch.setattr(parse.feedparser, "parse", refuse)
    assert parse_feed(render_feed(1, 0, 5, "http://127.0.0.1:1/x"), url=URL) == expected


# -- quirks of feedparser the fast path mirrors -----------------------------------------------


def rss(items: str, channel: str = "<title>Ferry notes</title>", *, root: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"'
        ' xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        f' xmlns:media="http://search.yahoo.com/mrss/"{root}><channel>{channel}{items}</channel></rss>'
    ).encode()


def atom(entries: str, head: str = "<title>Orchard log</title>", *, root: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{root}>'
        f"{head}{entries}</feed>"
    ).encode()


# id → a document feedparser reads in some particular way, which the fast path must read alike
QUIRKS = {
    "utf16-without-bom": "<?xml version='1.0' encoding='utf-16'?><rss version='2.0'><channel><item><title>Ebb \u00e9</title></item></channel></rss>".encode("utf-16-be"),
    "utf8-declared-latin1": rss("<item><title>Ebb \u00e9</title></item>").replace(b'"utf-8"', b'"iso-8859-1"'),
    "windows-1252": "<?xml version='1.0' encoding='windows-1252'?><rss version='2.0'><channel><item><title>\u201cfog\u201d \u20ac5</title></item></channel></rss>".encode("cp1252"),
    "permalink-guid-is-link": rss("<item><guid>https://ferry.example/n/1</guid><title>t</title></item>"),
    "ispermalink-case": rss('<item><guid isPermaLink="True">/n/1</guid><title>t</title></item>'),
    "relative-guid-and-link": rss("<item><guid>/n/2</guid><link>/n/2/page</link></item>"),
    "link-ampersands": rss("<item><link>https://f.example/?a=1&amp;amp;b=2&amp;c;</link><title>t</title></item>"),
    "cdata-title-looks-like-html": rss("<item><title>  <![CDATA[ Boats & <b>bells</b> ]]>  </title></item>"),
    "escaped-entities": rss("<item><title>Tom &amp;amp; Jerry</title><description>a &amp;lt; b</description></item>"),
    "content-only-no-summary-type": rss("<item><content:encoded>&lt;p&gt;only content&lt;/p&gt;</content:encoded></item>"),
    "content-then-description": rss("<item><content:encoded>c</content:encoded><description>d</description></item>"),
    "second-description-is-content": rss("<item><description>d</description><dc:description>dd</dc:description></item>"),
    "media-description": rss('<item><description>d</description><media:content url="https://i.example/a.jpg"><media:description type="plain">caption</media:description></media:content></item>'),
    "media-title-deeper": rss('<item><media:content url="https://i.example/a.jpg"><media:title>m</media:title></media:content><title>t</title></item>'),
    "media-keywords": rss("<item><title>t</title><media:keywords>sails, knots,, rope </media:keywords><category>rope</category></item>"),
    "category-domain-then-term": rss('<item><title>t</title><category domain="d"></category><category>x</category><category>x</category></item>'),
    "two-authors": rss("<item><author>deck@ferry.example (Mara Lind)</author><dc:creator>Ossian</dc:creator></item>"),
    "author-email-only": rss("<item><author>deck@ferry.example</author><title>t</title></item>"),
    "pubdate-and-dc-date": rss("<item><title>t</title><pubDate>Sun, 09 Mar 2025 01:30:00 EST</pubDate><dc:date>2025-03-10</dc:date></item>"),
    "bad-pubdate-atom-updated": rss("<item><title>t</title><pubDate>the ninth of March</pubDate><atom:updated>2025-03-10T10:00:00.5+01:00</atom:updated></item>"),
    "two-titles": rss("<item><title>first</title><title>second</title></item>"),
    "image-before-title": rss("<item><title>t</title></item>", '<image><title>Logo</title><link>/</link><url>/l.png</url></image><title>Ferry</title><atom:link rel="self" href="/feed"/><link>/home</link>'),
    "channel-repeats": rss("<item><title>t</title></item>", "<title>a</title><title>b</title><link>x</link><link>y</link>"),
    "xml-base-on-root": rss("<item><title>t</title><link>rel/1</link></item>", root=' xml:base="https://base.example/dir/"'),
    "mojibake-and-c1": rss("<item><title>Caf\u00c3\u00a9 \u0096 menu</title></item>"),
    "html-feedparser-rewrites": rss('<item><title>t</title><description>&lt;p class="b" id="a"&gt;x&lt;br&gt;&lt;a href="/rel"&gt;r&lt;/a&gt;&amp;#150;&lt;/p&gt;</description></item>'),
    "html-unchanged": rss('<item><title>t</title><description>&lt;p&gt;&lt;a href="https://ok.example/x?a=1&amp;amp;b=2"&gt;ok&lt;/a&gt;&lt;br /&gt;&amp;nbsp;&lt;/p&gt;</description></item>'),
    "unknown-namespace": rss("<item><title>t</title><x:note xmlns:x='urn:ferry:notes' level='2'><x:line>text</x:line></x:note><comments>/c</comments></item>"),
    "empty-item-skipped": rss("<item><title>t</title></item>" * 3 + "<item></item>"),
    "atom-html-title-relative-link": atom('<entry><id>urn:o:1</id><title type="html">Pears &amp;amp; &lt;i&gt;plums&lt;/i&gt;</title><link href="/o/1"/><updated>2025-06-10T08:00:00Z</updated></entry>'),
    "atom-id-is-link": atom("<entry><id>https://orchard.example/o/2</id><title>no link</title></entry>"),
    "atom-non-html-links": atom('<entry><title>t</title><link rel="enclosure" href="https://o.example/a.mp3"/><link rel="alternate" type="text/plain" href="https://o.example/t"/></entry>'),
    "atom-content-then-summary": atom("<entry><title>t</title><content>c</content><summary>s</summary></entry>"),
    "atom-two-summaries": atom("<entry><title>t</title><summary>s1</summary><summary>s2</summary></entry>"),
    "atom-authors": atom("<entry><title>t</title><author><name> Rowan </name><email>r@o.example</email><uri>/r</uri></author><author><email>q@o.example</email></author></entry>"),
    "atom-categories": atom('<entry><title>t</title><category term="" label="Fruit"/><category scheme="s"/><category term="a b  c"/></entry>'),
    "atom-odd-dates": atom("<entry><title>t</title><published>2025-02-30T00:00:00Z</published><updated>2025-06-10</updated></entry>"),
    "atom-feed-links": atom("<entry><title>t</title></entry>", '<link href="/"/><id>urn:o</id><link rel="self" href="atom.xml"/>'),
    "atom-feed-id-is-link": atom("<entry><title>t</title></entry>", "<id>https://orchard.example/</id><title>T</title>"),
}  # fmt: skip


@pytest.mark.parametrize("content", QUIRKS.values(), ids=QUIRKS.keys())
@pytest.mark.parametrize("url", [URL, "feed.xml"], ids=["https", "relative-url"])
def test_quirk_read_fast_as_feedparser(
    content: bytes, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    fast = check_same("document", content, url=url)
    assert fast is not None, decline_reason(caplog, content, url=url)


# id → (a document the fast path leaves to feedparser, what its reason says)
DECLINED = {
    "rss-091": (b'<rss version="0.91"><channel><item><title>t</title></item></channel></rss>', "RSS version"),
    "rss-10": (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><item><title>t</title></item></rdf:RDF>', "RSS 1.0"),
    "xml-error": (b"<rss version='2.0'><channel><item><title>a & b</title></item></channel></rss>", "xmlParseEntityRef"),
    "undefined-entity": (b"<rss version='2.0'><channel><item><title>a &nbsp; b</title></item></channel></rss>", "declined"),
    "atom-xhtml": (atom('<entry><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></content></entry>'), "declined"),
    "atom-base64": (atom('<entry><title>t</title><content type="application/octet-stream">AAAA</content></entry>'), "content of type"),
    "xml-base-inside": (atom('<entry xml:base="https://elsewhere.example/"><title>t</title></entry>'), "attribute"),
    "media-category": (rss("<item><title>t</title><media:group><media:category>c</media:category></media:group></item>"), "media:category"),
    "itunes": (rss('<item><title>t</title><itunes:author xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">x</itunes:author></item>'), "itunes"),
    "unknown-default-namespace": (rss("<item><title>t</title><foo xmlns='urn:unknown'>x</foo></item>"), "default"),
    "key-parse-reads": (rss("<item><title>t</title><authors xmlns=''>x</authors></item>"), "would land"),
    "markup-in-text": (rss("<item><title>t</title><description>a <b>bold</b> move</description></item>"), "markup inside"),
}  # fmt: skip


@pytest.mark.parametrize(("content", "reason"), DECLINED.values(), ids=DECLINED.keys())
def test_unusual_documents_are_left_to_feedparser(
    content: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert check_same("document", content) is None
    assert reason in decline_reason(caplog, content)


# -- hostile documents: nothing expanded, nothing fetched --------------------------------------


def test_entities_are_never_expanded(feed_server: FeedServer) -> None:
    dtd = feed_server.add(
        "/evil.dtd", b'<!ENTITY remote "FETCHED">', content_type="application/xml-dtd"
    )
    laughs = "".join(f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
    documents = [
        f'<!DOCTYPE rss [<!ENTITY l0 "ha">{laughs}]><rss version="2.0"><channel><title>&l9;</title></channel></rss>',
        f'<!DOCTYPE rss SYSTEM "{dtd}"><rss version="2.0"><channel><title>&remote;</title></channel></rss>',
        f'<!DOCTYPE rss [<!ENTITY remote SYSTEM "{dtd}">]><rss version="2.0"><channel><title>&remote;</title></channel></rss>',
        '<!DOCTYPE rss [<!ENTITY file SYSTEM "file:///etc/hostname">]><rss version="2.0"><channel><title>&file;</title></channel></rss>',
        # feedparser only looks for a DOCTYPE before the first "<name": this one stays.
        f'<!-- <a --><!DOCTYPE rss [<!ENTITY l0 "ha">{laughs}]><rss version="2.0"><channel><title>&l9;</title></channel></rss>',
    ]
    for document in documents:
        started = time.process_time()
        # Not defused: the fast path must be safe on its own.
        assert _fastfeed.read_fast(document.encode(), headers={}) is None
        assert time.process_time() - started < 1.0
        parsed = parse_feed(document.encode(), url=URL)
        assert "haha" not in (parsed.title or "") and "FETCHED" not in (parsed.title or "")
    assert feed_server.requests_to("/evil.dtd") == []


# -- mutated documents: decline, or the same as feedparser --------------------------------------

WORDS = ["lantern", "Quay", "café", "naïve", "—", "“quoted”", "42", "Ölfass", "x"]
TEXT_BITS = [
    "&amp;", "&lt;b&gt;bold&lt;/b&gt;", "&#233;", "&#150;", "&#x2014;", "&#39;", "&quot;", "&gt;",
    "<![CDATA[ kept & <i>as is</i> ]]>", "<![CDATA[]]>", " ", "\n  ", "\t", "&amp;amp;",
    "&amp;nbsp;", "&amp;bogus;", "\u00c3\u00a9", "\u00a0", "\u2028", "\x85", "<!-- note -->",
    "&#x80;", "<?pi data?>",
]  # fmt: skip
HTML_BITS = [
    "<p>", "</p>", '<a href="https://ok.example/x?a=1&amp;b=2">ok</a>', '<a href="/rel/link">r</a>',
    '<img src="pic.png">', '<img src="https://i.example/p.png" />', "<br>", "<br />", "<br/>",
    "<b>", "</b>", "<em>e</em>", "<a href='single.example'>s</a>", '<p class="b" id="a">',
    '<p id="a" class="b">', '<a href="">e</a>', '<a href="HTTPS://UP.EXAMPLE/">u</a>', "&amp;",
    "&nbsp;", "&#150;", "&#39;", "&bogus;", "& loose", "<!-- c -->", "</br>", "<P>", "plain",
    " ", "\n", "5 > 3", '<a rel="NoFollow" href="https://x.example/">n</a>', "<input disabled>",
]  # fmt: skip
LINKS = [
    "https://quay.example/a/1", "https://quay.example/a?x=1&amp;y=2", "/relative/path",
    "relative", "  https://spaced.example/  ", "", "urn:uuid:4f2c", "https://q.example/a/../b",
    "HTTPS://UP.EXAMPLE/P", "https://q.example/p?", "javascript:void(0)", "//proto.example/x",
]  # fmt: skip
DATES = [
    "Tue, 10 Jun 2003 04:00:00 GMT", "Tue, 10 Jun 2003 04:00:00 +0000", "2025-06-10T04:00:00Z",
    "Wed, 11 Jun 2025 09:30:00 +0200", "11 Jun 2025 09:30:00 EST", "2025-06-10T04:00:00+02:00",
    "2025-06-10", "2025-06-10T04:00:00.123-05:00", "soon", "", "Sun, 31 Feb 2021 10:00:00 GMT",
    "2025-13-45T99:00:00Z", "10 Jun 2025", "Tue Jun 10 04:00:00 2003", "1999-12-31T23:59:60Z",
]  # fmt: skip
AUTHORS = ["Wren Alder", "desk@quay.example (Juniper Vale)", "desk@quay.example", ""]

texts = st.lists(st.sampled_from(WORDS + TEXT_BITS), max_size=5).map("".join)
html_text = st.lists(st.sampled_from(HTML_BITS + WORDS), max_size=6).map("".join)
markup = st.one_of(
    html_text.map(lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")),
    html_text.map(lambda s: "<![CDATA[" + s.replace("]]>", "") + "]]>"),
)
links, dates, authors = st.sampled_from(LINKS), st.sampled_from(DATES), st.sampled_from(AUTHORS)
padding = st.sampled_from(["", " ", "\n  ", "\r\n"])
guid_attrs = st.sampled_from(
    ["", ' isPermaLink="false"', ' isPermaLink="true"', ' isPermaLink="True"']
)

RSS_CHILDREN = {
    "title": st.builds("<title>{}</title>".format, texts),
    "link": st.builds("<link>{}{}{}</link>".format, padding, links, padding),
    "guid": st.builds("<guid{}>{}</guid>".format, guid_attrs, links),
    "pubDate": st.builds("<pubDate>{}</pubDate>".format, dates),
    "dc:date": st.builds("<dc:date>{}</dc:date>".format, dates),
    "atom:updated": st.builds("<atom:updated>{}</atom:updated>".format, dates),
    "author": st.builds("<author>{}</author>".format, authors),
    "dc:creator": st.builds("<dc:creator>{}</dc:creator>".format, authors),
    "category": st.builds('<category{}>{}</category>'.format, st.sampled_from(["", ' domain="d"']), texts),
    "description": st.builds("<description>{}</description>".format, markup),
    "content:encoded": st.builds("<content:encoded>{}</content:encoded>".format, markup),
    "dc:description": st.builds("<dc:description>{}</dc:description>".format, markup),
    "media": st.builds('<media:content url="https://i.example/a.jpg"><media:description type="plain">{}</media:description></media:content>'.format, texts),
    "media:keywords": st.builds("<media:keywords>{}, b,, c</media:keywords>".format, texts),
    "atom:link": st.builds('<atom:link rel="alternate" href="{}"/>'.format, links),
    "enclosure": st.just('<enclosure url="https://e.example/a.mp3" length="1" type="audio/mpeg"/>'),
    "unknown": st.builds('<n:note xmlns:n="urn:quay:notes" n:level="1">{}</n:note>'.format, texts),
    "comments": st.builds("<comments>{}</comments>".format, links),
    "Title": st.builds("<Title>{}</Title>".format, texts),
    "html-title": st.builds('<title type="html">{}</title>'.format, markup),
}  # fmt: skip
ATOM_CHILDREN = {
    "title": st.builds("<title{}>{}</title>".format, st.sampled_from(["", ' type="text"']), texts),
    "html-title": st.builds('<title type="html">{}</title>'.format, markup),
    "link": st.builds('<link href="{}"/>'.format, links),
    "alternate": st.builds('<link rel="alternate" type="text/html" href="{}"/>'.format, links),
    "enclosure": st.builds('<link rel="enclosure" href="{}"/>'.format, links),
    "id": st.builds("<id>{}{}</id>".format, padding, links),
    "published": st.builds("<published>{}</published>".format, dates),
    "updated": st.builds("<updated>{}</updated>".format, dates),
    "author": st.builds("<author><name>{}</name>{}</author>".format, authors, st.sampled_from(["", "<email>a@b.example</email>", "<uri>/me</uri>"])),
    "category": st.builds('<category term="{}"{}/>'.format, st.sampled_from(WORDS), st.sampled_from(["", ' label="L"', ' scheme="s"'])),
    "summary": st.builds('<summary type="html">{}</summary>'.format, markup),
    "text-summary": st.builds("<summary>{}</summary>".format, texts),
    "content": st.builds('<content type="html">{}</content>'.format, markup),
    "text-content": st.builds("<content>{}</content>".format, texts),
    "xhtml": st.just('<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div></content>'),
    "unknown": st.builds('<m:meta xmlns:m="urn:orchard:meta" a="1">{}</m:meta>'.format, texts),
}  # fmt: skip


def children(table: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(sorted(table)), max_size=9).flatmap(
        lambda names: st.tuples(*(table[name] for name in names)).map("".join)
    )


rss_documents = st.builds(
    lambda root, head, items: rss("".join(f"<item>{i}</item>" for i in items), head, root=root),
    st.sampled_from(
        ["", ' xml:base="https://base.example/sub/"', ' xmlns:x="http://purl.org/rss/1.0/"']
    ),
    st.builds(
        '<title>{}</title><link>{}</link><atom:link rel="self" href="{}"/>'.format,
        texts,
        links,
        links,
    ),
    st.lists(children(RSS_CHILDREN), max_size=4),
)
atom_documents = st.builds(
    lambda head, entries: atom("".join(f"<entry>{e}</entry>" for e in entries), head),
    st.builds(
        '<title>{}</title><id>{}</id><link href="{}"/><link rel="self" href="{}"/>'.format,
        texts,
        links,
        links,
        links,
    ),
    st.lists(children(ATOM_CHILDREN), max_size=4),
)


@st.composite
def damaged(draw: st.DrawFn, documents: st.SearchStrategy[bytes]) -> bytes:
    """A document, sometimes cut short, with bytes inserted, or re-encoded."""
    content = draw(documents)
    damage = draw(st.sampled_from(["none", "none", "truncate", "insert", "latin-1"]))
    at = draw(st.integers(0, len(content)))
    if damage == "truncate":
        return content[:at]
    if damage == "insert":
        return content[:at] + draw(st.binary(min_size=1, max_size=3)) + content[at:]
    if damage == "latin-1":
        text = content.decode().replace('encoding="utf-8"', 'encoding="iso-8859-1"')
        return text.encode("latin-1", "replace")
    return content


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content=damaged(st.one_of(rss_documents, atom_documents)),
    url=st.sampled_from([URL, "feed.xml", "http://example.test"]),
    content_type=st.sampled_from([None, "application/rss+xml", "text/xml", "text/html"]),
)
def test_mutated_documents_decline_or_equal_feedparser(
    content: bytes, url: str, content_type: str | None
) -> None:
    if content.strip():
        check_same(repr(content), content, url=url, content_type=content_type)


# -- the shortcuts past feedparser's helpers ---------------------------------------------------

URL_BASES = ["https://base.example/dir/feed", "", "http://h.example", "feed.xml"]


@settings(max_examples=300, deadline=None)
@given(
    html=st.lists(st.sampled_from(HTML_BITS + WORDS + TEXT_BITS), max_size=8).map("".join),
    base=st.sampled_from(URL_BASES),
)
def test_html_shortcut_equals_feedparser_resolver(html: str, base: str) -> None:
    assert _fastfeed._resolve_html(html, base) == resolve_relative_uris(
        html, base, "utf-8", "text/html"
    )


@settings(max_examples=300, deadline=None)
@given(
    url=st.builds(
        "{}://{}{}{}".format,
        st.sampled_from(["http", "https", "HTTP", "ftp"]),
        st.sampled_from(
            ["a.example", "A.Example:8080", "x", "[::1]", "h\u00e9.example", "user@h.example"]
        ),
        st.sampled_from(["", "/", "/p/q", "/p;x", "/a/../b", "//double", "/%41", "/sp ace"]),
        st.sampled_from(["", "?", "?q=1&amp;r", "#", "#frag", "?a;b"]),
    ),
    base=st.sampled_from(URL_BASES),
)
def test_url_shortcut_equals_feedparser_join(url: str, base: str) -> None:
    assert _fastfeed._join(base, url) == _urljoin(base, url)
    if _fastfeed._PLAIN_URL.fullmatch(url) and base:
        assert make_safe_absolute_uri(base, url) == url
