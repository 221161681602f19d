"""URL normalisation and tracking-parameter stripping. Contains no business logic."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

# Parameters that only say where a click came from; two links differing by them are one page.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "_hs")
_TRACKING_NAMES = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "mkt_tok",
        "_ga",
        "_gl",
        "oly_enc_id",
        "oly_anon_id",
        "vero_id",
        "rb_clickid",
        "s_cid",
        "cmpid",
        "ncid",
        "sr_share",
        "spm",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WHITESPACE = re.compile(r"\s+")


def is_tracking_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def absolute_http_url(link: str | None, base: str | None = None) -> str | None:
    """``link`` made absolute against ``base``; None unless the result is http(s) with a host.

    Whitespace inside the value (feeds put newlines in ``<link>``) is removed.
    """
    if not link:
        return None
    link = _WHITESPACE.sub("", link)
    if not link:
        return None
    if base:
        try:
            link = urljoin(base, link)
        except ValueError:
            return None
    try:
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return link


def canonical_url(url: str) -> str:
    """The form under which two links to the same page compare equal.

    Scheme and host lower-cased, default port and fragment dropped, tracking parameters
    (``utm_*``, ``fbclid``, ``gclid`` ...) removed; the order of the remaining parameters is kept.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += ":" + parts.password
        netloc = f"{userinfo}@{host}"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    # Drop whole "name=value" segments as written, so that what remains keeps its exact bytes
    # (PACER's "DktRpt.pl?492165&10" must not become "492165=&10=").
    query = "&".join(
        segment
        for segment in parts.query.split("&")
        if segment and not is_tracking_parameter(unquote_plus(segment.split("=", 1)[0]))
    )
    path = parts.path or ("/" if host else "")
    return urlunsplit((scheme, netloc, path, query, ""))
