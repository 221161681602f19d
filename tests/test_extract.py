"""html_to_text reads sanitised HTML with a regular expression; it must read it exactly as
an HTML parser does (BeautifulSoup, which it replaced for speed)."""

from __future__ import annotations

import re

import feedparser
import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.extract import (
    _BLOCK_TAGS,
    _CONTROL,
    _INVISIBLE,
    MAX_SUMMARY_TEXT,
    html_to_text,
    sanitize_html,
)
from tests.conftest import CORPUS
from tests.test_hostile import FUZZ_EXAMPLES, HOSTILE_HTML


def parser_text(sanitised: str) -> str:
    """The reference reading: html.parser's tree, a space around every block element."""
    soup = BeautifulSoup(sanitised, "html.parser")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before(" ")
        tag.insert_after(" ")
    text = _INVISIBLE.sub("", _CONTROL.sub(" ", soup.get_text()))
    return re.sub(r"\s+", " ", text).strip()[:MAX_SUMMARY_TEXT]


SAMPLES = [
    "<p>One</p><p>two</p>",
    "Stable<em>coin</em> <b>rules</b>",
    '<a href="https://x.test/?a=1&amp;b=2" title="a &gt; b and &quot;c&quot;">link</a> text',
    "5 &lt; 6 &amp;&amp; 7 &gt; 3 &nbsp;&nbsp;x",
    "<ul><li>a</li><li>b<br>c</li></ul><table><tr><td>d</td><td>e</td></tr></table>",
    "&amp;nbsp; doubly &amp;amp; escaped &#8217; &#x2019;",
    "<div>Line<br/>break</div>text\u200bwith\u2028separators",
    *HOSTILE_HTML,
]

HTML_PIECES = st.sampled_from(
    [
        "<p>", "</p>", "<b>", "</b>", "<br>", "<a href='https://a.test/x?y=1&z=2'>", "</a>",
        '<a title="x>y">', "<li>", "<ul>", "</ul>", "<div class=x>", "</div>", "<em>",
        "&amp;", "&lt;", "&gt;", "&nbsp;", "&#169;", "&bogus;", "<", ">", "&", '"', "'",
        "<!-- c -->", "<script>s()</script>", "<td>", "<table>", "<![CDATA[x]]>", "\u2028",
    ]
)  # fmt: skip


@pytest.mark.parametrize("html", SAMPLES, ids=[f"s{i}" for i in range(len(SAMPLES))])
def test_html_to_text_reads_like_a_parser(html: str) -> None:
    sanitised = sanitize_html(html)
    assert html_to_text(sanitised) == parser_text(sanitised)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.lists(st.one_of(HTML_PIECES, st.text(max_size=8)), max_size=40))
def test_html_to_text_property(pieces: list[str]) -> None:
    sanitised = sanitize_html("".join(pieces))
    assert html_to_text(sanitised) == parser_text(sanitised)


def test_html_to_text_on_every_corpus_summary() -> None:
    """Every summary of every real feed in ../shared/corpus reads the same both ways."""
    documents = sorted((CORPUS / "feeds").glob("**/*")) if CORPUS.exists() else []
    documents = [path for path in documents if path.is_file() and path.suffix != ".md"]
    if not documents:
        pytest.skip("../shared/corpus is not here (a fresh clone)")
    compared = 0
    for path in documents:
        for entry in feedparser.parse(path.read_bytes()).entries:
            for value in (
                entry.get("summary"),
                *(c.get("value") for c in entry.get("content", [])),
            ):
                if not value:
                    continue
                sanitised = sanitize_html(value)
                assert html_to_text(sanitised) == parser_text(sanitised), (path.name, value[:200])
                compared += 1
    assert compared > 500
