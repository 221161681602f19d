"""E-mail: build the digest message and send it once per (day, recipient).

The ledger row is claimed before anything is sent; it is marked "sending" just before the
DATA command and "sent" after the server accepts the message. A failure before DATA is
"failed" and retried on the next run; a connection lost during DATA is "unknown" and is not
sent again without ``--force``, because the server may have delivered it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from aggregator.catalog import Catalog
from aggregator.config import Config, SmtpConfig
from aggregator.digest import build_configured_digest, render_html, render_text
from aggregator.errors import MailError
from aggregator.store import Store

# Characters that must never reach a header: controls, line and paragraph separators,
# bidi overrides.
_HEADER_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def header_text(value: str, limit: int = 200) -> str:
    """Text fit for a header: no control characters or line breaks, whitespace collapsed, and
    no RFC 2047 encoded words. The email package decodes "=?utf-8?q?...=0D=0A...?=" in a
    value it is given and writes the decoded line break out as a new header, so encoded words
    are decoded here first and what is left of their syntax is broken up."""
    with contextlib.suppress(HeaderParseError, LookupError, ValueError, UnicodeDecodeError):
        value = str(make_header(decode_header(value)))
    text = " ".join(_HEADER_UNSAFE.sub(" ", value).split())
    return text.replace("=?", "= ?").replace("?=", "? =")[:limit]


def message_id(day: str, recipient: str, sender: str) -> str:
    """The same (day, recipient) always gets the same Message-ID, so a resend is recognisable."""
    digest = hashlib.sha256(f"{day}\0{recipient.lower()}".encode()).hexdigest()[:24]
    domain = Address(addr_spec=sender).domain or "localhost"
    return f"<digest.{day}.{digest}@{domain}>"


def build_message(
    *,
    subject: str,
    sender: str,
    recipient: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """A complete RFC 5322 message: multipart/alternative, plain text then HTML."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = header_text(subject)
    message["From"] = Address(addr_spec=sender)
    message["To"] = Address(addr_spec=recipient)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    recipient: str
    status: str  # sent | failed | unknown | skipped
    detail: str = ""


def deliver(
    store: Store,
    smtp: SmtpConfig,
    *,
    day: str,
    sender: str,
    recipients: Sequence[str],
    make_message: Callable[[str, str], EmailMessage],
    now: Callable[[], datetime],
    force: bool = False,
    worker: str | None = None,
) -> list[DeliveryOutcome]:
    """Send ``day``'s digest to each recipient at most once (``force`` sends again).

    ``make_message(recipient, message_id)`` builds the message for one recipient.
    """
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    password = _password(smtp)
    outcomes = []
    for recipient in recipients:
        identifier = message_id(day, recipient, sender)
        claimed, row = store.claim_delivery(
            day, recipient, identifier, worker=worker, now=now(), force=force
        )
        if not claimed:
            reason = {
                "sent": "already sent",
                "unknown": "delivery unknown (connection lost during sending); --force resends",
                "sending": "being sent by another process, or interrupted during sending",
                "claimed": "being sent by another process",
            }.get(row.status, row.status)
            outcomes.append(DeliveryOutcome(recipient, "skipped", reason))
            continue
        message = make_message(recipient, identifier)
        status, detail = _send_one(store, smtp, password, day, sender, recipient, message, now)
        store.mark_delivery(day, recipient, status, now(), None if status == "sent" else detail)
        outcomes.append(DeliveryOutcome(recipient, status, detail))
    return outcomes


def _password(smtp: SmtpConfig) -> str | None:
    if not smtp.username:
        return None
    name = smtp.password_env
    if not name:
        raise MailError("digest.smtp.password_env: set it to the name of the variable that "
                        "holds the SMTP password for digest.smtp.username")  # fmt: skip
    password = os.environ.get(name)
    if not password:
        raise MailError(f"digest.smtp.password_env: the environment variable {name} is not set")
    return password


def _connect(smtp: SmtpConfig, password: str | None) -> smtplib.SMTP:
    if smtp.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    try:
        client.ehlo()
        if smtp.security == "starttls":
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if smtp.username and password:
            client.login(smtp.username, password)
    except BaseException:
        client.close()
        raise
    return client


def _send_one(
    store: Store,
    smtp: SmtpConfig,
    password: str | None,
    day: str,
    sender: str,
    recipient: str,
    message: EmailMessage,
    now: Callable[[], datetime],
) -> tuple[str, str]:
    payload = message.as_bytes(policy=SMTP)
    try:
        client = _connect(smtp, password)
    except (OSError, smtplib.SMTPException) as exc:
        return "failed", f"{smtp.host}:{smtp.port}: {_reason(exc)}"
    try:
        code, reply = client.mail(sender)
        if code != 250:
            return "failed", f"MAIL FROM refused: {code} {_text(reply)}"
        code, reply = client.rcpt(recipient)
        if code not in (250, 251):
            return "failed", f"recipient refused: {code} {_text(reply)}"
        store.mark_delivery(day, recipient, "sending", now())
        try:
            code, reply = client.data(payload)
        except smtplib.SMTPDataError as exc:
            return "failed", f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}"
        except (OSError, smtplib.SMTPException) as exc:
            return "unknown", f"connection lost during sending: {_reason(exc)}"
        if code != 250:
            return "failed", f"message refused: {code} {_text(reply)}"
        return "sent", f"{code} {_text(reply)}"
    except (OSError, smtplib.SMTPException) as exc:
        return "failed", _reason(exc)
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())[:200]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def send_digest(
    store: Store,
    config: Config,
    catalog: Catalog,
    *,
    day: date,
    recipients: Sequence[str] | None = None,
    force: bool = False,
    now: Callable[[], datetime],
) -> list[DeliveryOutcome]:
    """Build ``day``'s digest and mail it to each recipient at most once."""
    settings = config.digest
    built = build_configured_digest(store, config, catalog, day=day, now=now())
    text, html = render_text(built), render_html(built)
    subject = settings.subject.format(date=day.isoformat(), count=built.story_count)

    def make_message(recipient: str, identifier: str) -> EmailMessage:
        return build_message(
            subject=subject,
            sender=settings.sender,
            recipient=recipient,
            text=text,
            html=html,
            message_id=identifier,
            date=now(),
        )

    return deliver(
        store,
        settings.smtp,
        day=day.isoformat(),
        sender=settings.sender,
        recipients=list(recipients) if recipients is not None else list(settings.recipients),
        make_message=make_message,
        now=now,
        force=force,
    )
