"""The fast path of :mod:`aggregator.parse`: RSS 2.0 and Atom 1.0 documents read with lxml into
the same ``feed`` and ``entries`` dicts that feedparser builds, or None, and then feedparser reads
the document. Contains no business logic.

It mirrors what feedparser 6's strict (expat) parser does with each element parse.py reads
(``pop`` in feedparser/mixin.py, the handlers in feedparser/namespaces/), in document order, and
calls feedparser's own helpers where there are quirks: character encodings, URL joining, dates,
author strings, tags and the re-serialisation of HTML. It declines anything else: an XML error,
a DTD, RSS 0.9x/1.0, xml:base, inline XHTML, other content types, and any element that
feedparser has a handler for but that is not mirrored here.
"""

from __future__ import annotations

import contextlib
import functools
import html.entities
import io
import logging
import re
from collections.abc import Callable, Container
from typing import Any

import feedparser
from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.html import _BaseHTMLProcessor, _cp1252
from feedparser.mixin import _FeedParserMixin as _Mixin
from feedparser.sanitizer import replace_doctype
from feedparser.urls import RelativeURIResolver, _urljoin, make_safe_absolute_uri
from feedparser.urls import resolve_relative_uris as _resolve_relative_uris
from feedparser.util import FeedParserDict
from lxml import etree

log = logging.getLogger(__name__)

FeedData = tuple[str, dict[str, Any], list[dict[str, Any]]]  # version, feed, entries
Context = dict[str, Any]

# Never expand entities or fetch anything. Comments and PIs go with the text on both sides
# joined, as expat's SAX events give it to feedparser.
_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
    "recover": False, "remove_comments": True, "remove_pis": True,
}  # fmt: skip
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_KNOWN = {uri.lower(): prefix for uri, prefix in _Mixin.namespaces.items()}
_KNOWN_PREFIXES = {prefix.lower() for prefix in _KNOWN.values()}
_ATOM = "http://www.w3.org/2005/atom"
_RSS1 = {"http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"}
# Keys an element feedparser does not know must not land on: read by parse.py or by handlers.
_RESERVED = {
    "id", "link", "links", "title", "summary", "content", "author", "authors", "tags",
    "published", "updated", "created", "guidislink", "source", "href", "contributors",
    "publisher", "image", "textinput", "category", "enclosures", "license", "language",
    "generator", "cloud", "subtitle", "rights", "media_content", "media_thumbnail", "feed",
}  # fmt: skip
_QUERY_FIX = re.compile("&([A-Za-z0-9_]+);")  # feedparser's fix of "&amp;" in links
_C1 = re.compile("[\x80-\x9f]")
# An absolute http(s) URL that feedparser's URL joining gives back unchanged, whatever the base:
# scheme in lowercase, no parameters (";"), empty query or fragment, spaces or non-ASCII.
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[-!$&'()*+,./0-9:=@A-Z_a-z~%]*)?"
    r"(?:\?[-!$&'()*+,./0-9:;=?@A-Z_a-z~%]+)?"
)
# What is mirrored is feedparser 6.0's behaviour: another version reads every document itself
# until tests/test_fastfeed.py passes with it.
_MIRRORED = feedparser.__version__.startswith("6.0.")
_parse_date_once = functools.lru_cache(maxsize=256)(_parse_date)  # Atom: updated == published


class _Decline(Exception):
    """The document holds something feedparser reads differently from this module."""


class _People:
    """feedparser's own author and tag bookkeeping, run on one of our context dicts."""

    _save_author = _Mixin._save_author
    _sync_author_detail = _Mixin._sync_author_detail
    _add_tag = _Mixin._add_tag

    def __init__(self, context: Context) -> None:
        self._context = context

    def _get_context(self) -> Context:
        return self._context


def read_fast(content: bytes, *, headers: dict[str, str]) -> FeedData | None:
    """feedparser's version, ``feed`` and ``entries`` for ``content`` (as fetched with HTTP
    ``headers``), or None when feedparser must read it."""
    if not _MIRRORED:
        return None
    try:
        return _Reader(content, headers).run()
    except (_Decline, etree.LxmlError) as why:
        log.debug("fast path declined: %s", why)
    except Exception:  # a feedparser helper failing as it will in feedparser, or a bug here
        log.warning("fast path failed; feedparser reads the document", exc_info=True)
    return None


class _Reader:
    def __init__(self, content: bytes, headers: dict[str, str]) -> None:
        result: dict[str, Any] = {}
        data = convert_to_utf8(headers, content, result)
        if not result.get("encoding"):
            raise _Decline("encoding unknown: feedparser's loose parser reads it")
        doctype_version, data, entities = replace_doctype(data)
        if doctype_version or entities:
            raise _Decline("a DOCTYPE")
        events = etree.iterparse(io.BytesIO(data), events=("start-ns",), **_PARSER_OPTIONS)
        self.prefixes = _unknown_prefixes([declared for _, declared in events])
        self.root = events.root
        if self.root.getroottree().docinfo.doctype:
            raise _Decline("a DOCTYPE")
        self.base = _document_base(headers.get("content-location", ""), self.root.get(_XML_BASE))
        self.version = ""
        self.feed: Context = {}
        self.entries: list[Context] = []
        self.title_depth = -1
        self.guidislink = False
        self.has_content = False
        self.depths: dict[str, int] = {}  # of what an entry holds: deeper elements do not replace
        self._names: dict[str, str] = {}

    def run(self) -> FeedData:
        root = self.root
        name = self.name(root)
        if name == "rss":
            version = _attrs(root, {"version", _XML_BASE.lower()}).get("version", "")
            if not version.startswith("2."):
                raise _Decline(f"RSS version {version!r}")
            self.version = "rss20"
            if len(root) != 1 or self.name(root[0]) != "channel":
                raise _Decline("not one <channel> in <rss>")
            _attrs(root[0])
            self.children(root[0], self.feed, False, 3, _FEED)
        elif name == "feed" and root.tag.lower().startswith("{" + _ATOM + "}"):
            _attrs(root, {_XML_BASE.lower()})
            self.version = "atom10"
            self.children(root, self.feed, False, 2, _FEED)
        else:
            raise _Decline(f"root element {root.tag}")
        return self.version, self.feed, self.entries

    def name(self, el: Any) -> str:
        """The element's name as feedparser dispatches on it: ``title``, ``dc:creator``..."""
        tag = el.tag
        name = self._names.get(tag)
        if name is None:
            if not isinstance(tag, str):
                raise _Decline("an entity reference")
            uri, _, local = tag[1:].rpartition("}") if tag[0] == "{" else ("", "", tag)
            prefix = _known_prefix(uri) if uri else ""
            if prefix is None:
                prefix = self.prefixes[uri]
            name = self._names[tag] = (f"{prefix}:{local}" if prefix else local).lower()
        return name

    def children(self, parent: Any, context: Context, entry: bool, depth: int,
                 table: dict[str, Handler]) -> None:  # fmt: skip
        for el in parent:
            name = self.name(el)
            handler = table.get(name)
            if handler is None:
                self.unknown(el, name)
            else:
                handler(self, el, name, context, entry, depth)

    def unknown(self, el: Any, name: str) -> None:
        """feedparser files an element it has no handler for under its name; nothing reads it."""
        method = name.replace(":", "_", 1)
        if hasattr(_Mixin, "_start_" + method) or hasattr(_Mixin, "_end_" + method):
            raise _Decline(f"<{name}>")
        key = FeedParserDict.keymap.get(method, method)
        key = key[0] if isinstance(key, list) else key
        if key in _RESERVED or key.endswith(("_detail", "_parsed")):
            raise _Decline(f"<{name}> would land on {key!r}")
        _attrs(el, None)
        for child in el:
            self.unknown(child, self.name(child))

    def pop(self, name: str, text: str, context: Context, entry: bool, depth: int,
            ctype: str | None = None) -> tuple[str, str | None]:  # fmt: skip
        """feedparser's ``pop`` of an element expecting text; ``ctype`` for content elements."""
        output = text.strip()
        if output and name in _Mixin.can_be_relative_uri and (name != "id" or self.guidislink):
            output = _join(self.base, output)
        if ctype == "text/plain" and self.version != "atom10" and _looks_like_html(output):
            ctype = "text/html"
        if ctype == "text/html" and name in _Mixin.can_contain_relative_uris:
            output = _resolve_html(output, self.base)
        if not output.isascii():
            with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                # feedparser's repair of UTF-8 that was read as ISO-8859-1
                output = output.encode("iso-8859-1").decode("utf-8")
            if _C1.search(output):
                output = output.translate(_cp1252)
        if name == "category" or (name == "title" and -1 < self.title_depth <= depth):
            return output, ctype
        if entry and name == "content":
            context.setdefault("content", []).append({"type": ctype, "value": output})
        elif name == "link":
            if entry:
                output = output.replace("&amp;", "&")
            output = context["link"] = _QUERY_FIX.sub(r"&\g<1>", output)
            if output or not entry:
                context["links"][-1]["href"] = output
        else:
            key = ("summary" if entry else "subtitle") if name == "description" else name
            if not entry or self.depths.get(key, depth) >= depth:
                self.depths[key] = depth
                context[key] = output
            if ctype:
                context[key + "_detail"] = {"type": ctype}
        return output, ctype

    def pop_content(self, name: str, el: Any, context: Context, entry: bool, depth: int,
                    default: str) -> tuple[str, str | None]:  # fmt: skip
        ctype = _Mixin.map_content_type(_attrs(el, {"type"}).get("type", default))
        if ctype not in ("text/plain", "text/html"):
            raise _Decline(f"content of type {ctype}")  # XHTML, base64, XML...
        return self.pop(name, _text(el), context, entry, depth, ctype)

    # -- handlers, as feedparser's _start_X/_end_X pairs; (el, name, context, entry, depth) --

    def title(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        if self.pop_content("title", el, context, entry, depth, "text/plain")[0]:
            self.title_depth = depth

    def description(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        if "summary" in context and not self.has_content:  # a second one is content
            self.content(el, "content", context, entry, depth)
        else:
            pushed, default = (
                ("summary", "text/plain") if name == "summary" else ("description", "text/html")
            )
            self.pop_content(pushed, el, context, entry, depth, default)

    def media_title(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        title_depth = self.title_depth
        self.title(el, name, context, entry, depth)
        self.title_depth = title_depth

    def media(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        """<media:content> and <media:group>: what they hold counts as the entry's, one deeper."""
        _attrs(el, None)
        self.children(el, context, entry, depth + 1, _MEDIA)

    def content(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        self.has_content = True
        default = "text/html" if name == "content:encoded" else "text/plain"
        value = self.pop_content("content", el, context, entry, depth, default)[0]
        context.setdefault("summary", value)

    def prose(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        pushed = {"copyright": "rights", "dc:rights": "rights", "tagline": "subtitle"}
        self.pop_content(pushed.get(name, name), el, context, entry, depth, "text/plain")

    def link(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        attrs = _attrs(el, {"rel", "type", "href", "hreflang", "title", "length"})
        text = _text(el)
        rel = attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        if "href" in attrs:
            attrs["href"] = _join(self.base, attrs["href"])
        context.setdefault("links", []).append(attrs)
        if "href" not in attrs:
            self.pop("link", text, context, entry, depth)
        elif rel == "alternate" and _Mixin.map_content_type(attrs["type"]) in _Mixin.html_types:
            context["link"] = attrs["href"]

    def guid(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        self.guidislink = _attrs(el, {"ispermalink"}).get("ispermalink", "true") == "true"
        value = self.pop("id", _text(el), context, entry, depth)[0]
        context.setdefault("guidislink", self.guidislink and "link" not in context)
        if self.guidislink:  # a permalink guid is the link when there is none yet
            context.setdefault("link", value)

    def date(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        _attrs(el)
        key = _DATES[name]
        value = self.pop(key, _text(el), context, entry, depth)[0]
        context[key + "_parsed"] = _parse_date_once(value)

    def author(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        _attrs(el)
        context.setdefault("authors", []).append(FeedParserDict())
        people = _People(context)
        for child in el:
            part = self.name(child)
            _attrs(child)
            if part in ("name", "email"):
                people._save_author(part, _text(child).strip())
            elif part in ("uri", "url", "homepage"):
                people._save_author("href", self.pop("href", _text(child), context, entry,
                                                     depth + 1)[0])  # fmt: skip
            else:
                raise _Decline(f"<{part}> in <{name}>")
        self.pop("author", _own_text(el), context, entry, depth)
        people._sync_author_detail()

    def category(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        attrs = _attrs(el, {"term", "scheme", "domain", "label"})
        people = _People(context)
        scheme = attrs.get("scheme", attrs.get("domain"))
        people._add_tag(attrs.get("term"), scheme, attrs.get("label"))
        value = self.pop("category", _text(el), context, entry, depth)[0]
        if value:
            tags = context["tags"]
            if tags and not tags[-1]["term"]:
                tags[-1]["term"] = value
            else:
                people._add_tag(value, None, None)

    def keywords(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        _attrs(el)  # feedparser fails on a <media:keywords> with attributes
        value = self.pop("media_keywords", _text(el), context, entry, depth)[0]
        people = _People(context)
        for term in value.split(","):
            if term.strip():
                people._add_tag(term.strip(), None, None)

    def item(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        _attrs(el)
        self.entries.append({})
        self.depths = {}
        self.guidislink = False
        self.title_depth = -1
        self.children(el, self.entries[-1], True, depth + 1, _ENTRY)
        self.has_content = False

    def image(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        _attrs(el)
        self.title_depth = -1
        image: Context = {}  # its title and link are not the feed's
        for child in el:
            part = self.name(child)
            if part not in _IMAGE:  # another element ends feedparser's "in an image" state
                raise _Decline(f"<{part}> in <image>")
            _IMAGE[part](self, child, part, image, False, depth + 1)

    def leaf(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        """Elements with handlers that only file what parse.py never reads."""
        _attrs(el, None)
        _text(el)
        if name == "source":
            self.title_depth = -1

    def people(self, el: Any, name: str, context: Context, entry: bool, depth: int) -> None:
        _attrs(el)
        for child in el:
            if self.name(child) not in ("name", "email", "uri", "url", "homepage"):
                raise _Decline(f"<{self.name(child)}> in <{name}>")
            self.leaf(child, name, context, entry, depth + 1)


Handler = Callable[[_Reader, Any, str, Context, bool, int], None]
_DATES = dict.fromkeys(("pubdate", "published", "issued", "dcterms:issued"), "published")
_DATES |= dict.fromkeys(
    ("updated", "modified", "lastbuilddate", "dc:date", "dcterms:modified"), "updated"
)
_DATES |= dict.fromkeys(("created", "dcterms:created"), "created")
_COMMON: dict[str, Handler] = {
    "title": _Reader.title, "dc:title": _Reader.title, "link": _Reader.link,
    "description": _Reader.description, "dc:description": _Reader.description,
    "rights": _Reader.prose, "copyright": _Reader.prose, "dc:rights": _Reader.prose,
    "guid": _Reader.guid, "id": _Reader.guid, **dict.fromkeys(_DATES, _Reader.date),
    "author": _Reader.author, "dc:creator": _Reader.author, "dc:author": _Reader.author,
    "managingeditor": _Reader.author, "category": _Reader.category,
    "dc:subject": _Reader.category, "contributor": _Reader.people,
    **dict.fromkeys(("webmaster", "dc:publisher", "language", "dc:language", "generator",
                     "cloud", "dc:contributor"), _Reader.leaf),
}  # fmt: skip
_FEED: dict[str, Handler] = {
    **_COMMON, "subtitle": _Reader.prose, "tagline": _Reader.prose,
    "item": _Reader.item, "entry": _Reader.item, "image": _Reader.image,
}  # fmt: skip
_ENTRY: dict[str, Handler] = {
    **_COMMON, "summary": _Reader.description, "content": _Reader.content,
    "content:encoded": _Reader.content, "media:keywords": _Reader.keywords,
    "media:title": _Reader.media_title, "media:content": _Reader.media,
    "media:group": _Reader.media,
    **dict.fromkeys(("media:thumbnail", "media:credit", "enclosure", "source"), _Reader.leaf),
}  # fmt: skip
_MEDIA: dict[str, Handler] = {
    "media:description": _Reader.description, "media:title": _Reader.media_title,
    "media:content": _Reader.media, "media:keywords": _Reader.keywords,
    **dict.fromkeys(("media:thumbnail", "media:credit"), _Reader.leaf),
}  # fmt: skip
_IMAGE: dict[str, Handler] = {
    "title": _Reader.title, "link": _Reader.link, "description": _Reader.description,
    **dict.fromkeys(("url", "width", "height"), _Reader.leaf),
}  # fmt: skip


def _attrs(el: Any, allowed: Container[str] | None = ()) -> dict[str, str]:
    """The attributes as feedparser sees them (names lowercased, and rel and type values);
    declines any not ``allowed`` (None: any but a base URI, which feedparser takes from any
    namespace) and any namespaced one but xml:lang."""
    attrs: dict[str, str] = {}
    for key, value in el.items():
        if key == _XML_LANG:
            continue
        key = key.lower()
        if key in attrs or (
            key.rpartition("}")[2] == "base" if allowed is None else key not in allowed
        ):
            raise _Decline(f"attribute {key} on {el.tag}")
        attrs[key] = value.lower() if key in ("rel", "type") else value
    return attrs


def _text(el: Any) -> str:
    if len(el):
        raise _Decline(f"markup inside {el.tag}")
    return el.text or ""


def _own_text(el: Any) -> str:
    return (el.text or "") + "".join(child.tail or "" for child in el)


def _known_prefix(uri: str) -> str | None:
    low = uri.lower()
    return "" if "backend.userland.com/rss" in low else _KNOWN.get(low)


def _unknown_prefixes(declared: list[tuple[str, str]]) -> dict[str, str]:
    """Namespace URI → the prefix feedparser names the elements of an unknown namespace with:
    the first one declared for it, which is the only one here (else decline)."""
    bound: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    for prefix, uri in declared:
        if not uri:  # xmlns="": no namespace, for feedparser too
            continue
        if uri.lower() in _RSS1:
            raise _Decline("an RSS 1.0 or 0.90 namespace")
        if bound.setdefault(prefix.lower(), uri) != uri:
            raise _Decline(f"prefix {prefix!r} bound to two namespaces")
        known = _known_prefix(uri)
        if known is None:
            if not prefix or prefix.lower() in _KNOWN_PREFIXES:
                raise _Decline(f"unknown namespace {uri} as {prefix or 'default'}")
            if prefixes.setdefault(uri, prefix) != prefix:
                raise _Decline(f"two prefixes for {uri}")
        elif prefix and prefix.lower() in _KNOWN_PREFIXES and prefix.lower() != known.lower():
            raise _Decline(f"prefix {prefix!r} of another known namespace")
    return prefixes


def _document_base(location: str, xml_base: str | None) -> str:
    """The base URI of every element: feedparser derives each element's from its parent's and
    its xml:base (allowed on the root only), which settles after the root."""
    base = _next_base(location, xml_base or location)
    if _next_base(base, base) != base:
        raise _Decline("a base URI that does not settle")
    return base


def _next_base(base: str, given: str) -> str:
    return (make_safe_absolute_uri(base, given) or base) if base else str(_urljoin(base, given))


def _join(base: str, uri: str) -> str:
    """feedparser's _urljoin, skipped where it changes nothing."""
    return uri if _PLAIN_URL.fullmatch(uri) else str(_urljoin(base, uri))


def _looks_like_html(text: str) -> bool:
    return ("<" in text or "&" in text) and bool(_Mixin.looks_like_html(text))


# -- HTML: feedparser re-serialises it with an SGML parser to make links absolute ---------------

_VOID = _BaseHTMLProcessor.elements_no_end_tag
_URI_ATTRIBUTES = RelativeURIResolver.relative_uris
# HTML that feedparser's resolver writes back unchanged: text, entity and character references,
# start tags with sorted lowercase attributes in double quotes (" />" for void elements), end
# tags. Possessive quantifiers: no backtracking on long text.
_CANONICAL = re.compile(
    r"(?:[^<&]++|&(?:[a-zA-Z][a-zA-Z0-9]*+|#[0-9]++|#x[0-9a-f]++);"
    r'|<[a-z][a-z0-9]*+(?: [a-z][a-z0-9_-]*+="[^"<>]*+")*+(?: /)?>|</[a-z][a-z0-9]*+>)*+'
)
_REFERENCE = re.compile(r"&(?:([a-zA-Z][a-zA-Z0-9]*)|#([0-9]+)|#x([0-9a-f]+));")
_TAG = re.compile(r'<([a-z][a-z0-9]*)((?: [a-z][a-z0-9_-]*="[^"<>]*")*)( /)?>|</([a-z][a-z0-9]*)>')
_ATTRIBUTE = re.compile(r' ([a-z][a-z0-9_-]*)="([^"<>]*)"')


def _resolve_html(text: str, base: str) -> str:
    """feedparser's resolve_relative_uris, skipped where it would change nothing."""
    if ("<" in text or "&" in text) and not _unchanged_by_resolver(text, base):
        return str(_resolve_relative_uris(text, base, "utf-8", "text/html"))
    return text


def _unchanged_by_resolver(text: str, base: str) -> bool:
    if not _CANONICAL.fullmatch(text):
        return False
    references = _REFERENCE.findall(text)
    if len(references) != text.count("&"):  # a bare "&" in an attribute value
        return False
    for name, decimal, hexadecimal in references:
        if name:
            if name not in html.entities.name2codepoint and name != "apos":
                return False  # written back as "&amp;name"
        elif (
            decimal in ("39", "34")
            or int(decimal or hexadecimal, 16 if hexadecimal else 10) in _cp1252
        ):
            return False  # replaced by a quote or by the windows-1252 character
    for tag, attributes, slash, end_tag in _TAG.findall(text):
        if end_tag:
            if end_tag in _VOID:
                return False  # dropped
            continue
        if (tag in _VOID) != bool(slash):
            return False
        previous = ""
        for key, value in _ATTRIBUTE.findall(attributes):
            if key <= previous or (key in ("rel", "type") and value != value.lower()):
                return False  # sorted, deduplicated, lowercased
            previous = key
            if (
                (tag, key) in _URI_ATTRIBUTES
                and not _PLAIN_URL.fullmatch(value)
                and (make_safe_absolute_uri(base, value.strip()) or value) != value
            ):
                return False
    return True
