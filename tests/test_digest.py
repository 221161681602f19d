"""Stories and the daily digest: grouping, rendering, safety, and sending exactly once."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from aggregator.mail import build_message, header_text
from tests.conftest import DroppingSmtpServer, FeedServer, SmtpSink


@pytest.fixture
def db_url(db_url_on_both: str) -> str:
    """These commands run on SQLite and on PostgreSQL."""
    return db_url_on_both


SEC = """<?xml version="1.0"?><rss version="2.0"><channel><title>SEC</title>
<item><title>SEC Charges Lumora Finance Founder With Defrauding Investors</title>
<guid>sec-1</guid><link>https://sec.test/lumora</link><pubDate>Tue, 03 Mar 2026 14:00:00 GMT</pubDate>
<description>The Commission charged Marcus Ellery, founder of Lumora Finance, with defrauding investors of $48 million.</description></item>
<item><title>SEC Charges Adviser &lt;script&gt;alert(1)&lt;/script&gt; Over Cherry-Picking</title>
<guid>sec-2</guid><link>javascript:alert(1)</link><pubDate>Tue, 03 Mar 2026 16:00:00 GMT</pubDate>
<description>Harbor Ridge Capital agreed to pay a $3.1 million civil penalty.</description></item>
</channel></rss>"""

NEWS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>Lumora Finance founder charged by SEC over $48M crypto lending fraud</title>
<guid>n-1</guid><link>https://wire.test/lumora?utm_source=rss</link><pubDate>Tue, 03 Mar 2026 18:30:00 GMT</pubDate>
<description>Marcus Ellery, who founded Lumora Finance, faces SEC fraud charges over $48 million.</description></item>
<item><title>Bitcoin rallies to a record as ETF inflows surge</title>
<guid>n-2</guid><link>https://wire.test/btc</link><pubDate>Tue, 03 Mar 2026 19:00:00 GMT</pubDate>
<description>Traders cheered.</description></item>
</channel></rss>"""


@pytest.fixture
def config(
    feed_server: FeedServer, write_config: Callable[[str], Path], smtp_sink: SmtpSink
) -> Path:
    sec = feed_server.add("/sec.xml", SEC)
    wire = feed_server.add("/wire.xml", NEWS)
    gone = feed_server.add("/gone.xml", "gone", status=410, content_type="text/plain")
    return write_config(
        f'[[feeds]]\nname = "sec"\nurl = "{sec}"\nkind = "regulator"\nagency = "SEC"\n'
        f'[[feeds]]\nname = "wire"\nurl = "{wire}"\n'
        f'[[feeds]]\nname = "old-fed"\nurl = "{gone}"\nkind = "regulator"\nagency = "FRB"\n'
        '[[entities]]\nname = "Marcus Ellery"\ntype = "person"\n'
        '[watchlist]\nentities = ["Marcus Ellery"]\n'
        '[digest]\ntimezone = "America/New_York"\nrecipients = ["ops@example.test", "cco@example.test"]\n'
        'sender = "digest@example.test"\n'
        f'[digest.smtp]\nhost = "127.0.0.1"\nport = {smtp_sink.port}\nsecurity = "none"\n'
    )


def test_digest_groups_by_agency_and_story(run: Callable[..., Result], config: Path) -> None:
    assert run("fetch", config=config).exit_code == 0
    text = run("digest", "--date", "2026-03-03", config=config).stdout
    assert "U.S. SECURITIES AND EXCHANGE COMMISSION (SEC)" in text
    section = text.split("U.S. SECURITIES AND EXCHANGE COMMISSION (SEC)", 1)[1]
    assert section.count("SEC Charges Lumora Finance Founder") == 1
    assert "Also covered by wire:" in text  # the press story folded under the release
    assert "Bitcoin rallies" not in text  # not about enforcement
    assert "1 other articles not shown" in text
    assert "WATCH LIST" in text
    assert "old-fed: failing" in text and "410" in text
    assert "$3.1 million" in text  # penalty total of the SEC section
    lumora = [
        a
        for a in map(json.loads, run("export", config=config).stdout.splitlines())
        if "Lumora" in a["title"]
    ]
    assert len({a["story_id"] for a in lumora}) == 1


def test_quiet_day(run: Callable[..., Result], config: Path) -> None:
    run("fetch", config=config)
    text = run("digest", "--date", "2026-01-15", config=config).stdout
    assert "Quiet day" in text
    html = run("digest", "--date", "2026-01-15", "--format", "html", config=config).stdout
    assert "Quiet day." in html


def test_html_is_safe(run: Callable[..., Result], config: Path) -> None:
    run("fetch", config=config)
    html = run("digest", "--date", "2026-03-03", "--format", "html", config=config).stdout
    lowered = html.lower()
    assert "<script" not in lowered
    assert "javascript:" not in lowered
    assert "Over Cherry-Picking" in html  # the hostile title is shown, its markup gone
    for external in ("<img", "<link", "<iframe", "src=", "@import", "url("):
        assert external not in lowered
    assert 'href="https://wire.test/lumora"' in html
    assert "style=" in html  # inline styles, no <style> block needed by clients
    assert "<style" not in lowered


def test_eml_is_a_complete_message(run: Callable[..., Result], config: Path) -> None:
    run("fetch", config=config)
    raw = run("digest", "--date", "2026-03-03", "--format", "eml", config=config).stdout_bytes
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    for header in ("Date", "From", "To", "Subject", "Message-ID"):
        assert message[header], header
    assert message["To"] == "ops@example.test"
    assert message["Message-ID"].startswith("<digest.2026-03-03.")


@pytest.mark.parametrize(
    "subject",
    [
        "Digest\r\nBcc: victim@example.test",
        "Digest\nX-Injected: yes",
        "Digest\u2028Bcc: victim@example.test",
        "=?utf-8?q?Digest=0D=0ABcc:_victim@example.test?=",
        "Digest\x00\x1b[31m",
    ],
    ids=["crlf", "lf", "u2028", "encoded-word", "controls"],
)
def test_hostile_subject_never_adds_a_header(subject: str) -> None:
    message = build_message(
        subject=subject,
        sender="digest@example.test",
        recipient="ops@example.test",
        text="t",
        html="<p>h</p>",
        message_id="<x@example.test>",
        date=__import__("datetime").datetime(2026, 3, 4, tzinfo=__import__("datetime").UTC),
    )
    raw = message.as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None
    headers = raw.split(b"\r\n\r\n", 1)[0].decode()
    names = [
        line.split(":", 1)[0] for line in headers.split("\r\n") if line and not line[0].isspace()
    ]
    assert names == [
        "Subject",
        "From",
        "To",
        "Date",
        "Message-ID",
        "Auto-Submitted",
        "MIME-Version",
        "Content-Type",
    ]
    assert "\n" not in header_text(subject) and "\u2028" not in header_text(subject)


def _send(run: Callable[..., Result], config: Path, *extra: str) -> list[dict]:
    result = run("digest", "--date", "2026-03-03", "--send", "--json", *extra, config=config)
    return json.loads(result.stdout)


def test_send_once_per_recipient(
    run: Callable[..., Result], config: Path, smtp_sink: SmtpSink
) -> None:
    run("fetch", config=config)
    first = _send(run, config)
    assert {o["status"] for o in first} == {"sent"}
    assert sorted(to for _, tos, _ in smtp_sink.messages for to in tos) == [
        "cco@example.test",
        "ops@example.test",
    ]
    again = _send(run, config)
    assert {(o["status"], o["detail"]) for o in again} == {("skipped", "already sent")}
    assert len(smtp_sink.messages) == 2
    forced = _send(run, config, "--force", "--to", "ops@example.test")
    assert [o["status"] for o in forced] == ["sent"]
    assert len(smtp_sink.messages) == 3
    ids = {
        email.message_from_bytes(raw)["Message-ID"]
        for _, tos, raw in smtp_sink.messages
        if tos == ["ops@example.test"]
    }
    assert len(ids) == 1  # the resend carries the same Message-ID


def test_failed_send_is_retried_next_run(
    run: Callable[..., Result], config: Path, refusing_smtp: SmtpSink, smtp_sink: SmtpSink
) -> None:
    run("fetch", config=config)
    refusing = config.read_text().replace(
        f"port = {smtp_sink.port}", f"port = {refusing_smtp.port}"
    )
    refused = config.with_name("refusing.toml")
    refused.write_text(refusing)
    result = run("digest", "--date", "2026-03-03", "--send", config=refused)
    assert result.exit_code == 1
    assert "recipient refused: 550" in result.stdout
    # The mail server is fixed: the next run delivers, the one after does nothing.
    assert {o["status"] for o in _send(run, config)} == {"sent"}
    assert {o["status"] for o in _send(run, config)} == {"skipped"}
    assert len(smtp_sink.messages) == 2


def test_three_runs_first_failing_deliver_exactly_once(
    run: Callable[..., Result], config: Path, smtp_sink: SmtpSink
) -> None:
    run("fetch", config=config)
    closed = config.with_name("closed.toml")
    closed.write_text(config.read_text().replace(f"port = {smtp_sink.port}", "port = 1"))
    assert run("digest", "--date", "2026-03-03", "--send", config=closed).exit_code == 1
    assert run("digest", "--date", "2026-03-03", "--send", config=config).exit_code == 0
    assert run("digest", "--date", "2026-03-03", "--send", config=config).exit_code == 0
    recipients = sorted(to for _, tos, _ in smtp_sink.messages for to in tos)
    assert recipients == ["cco@example.test", "ops@example.test"]


def test_connection_lost_during_data_is_unknown_and_not_resent(
    run: Callable[..., Result], config: Path, smtp_sink: SmtpSink, dropping_smtp: DroppingSmtpServer
) -> None:
    run("fetch", config=config)
    dropping = config.with_name("dropping.toml")
    dropping.write_text(
        config.read_text().replace(f"port = {smtp_sink.port}", f"port = {dropping_smtp.port}")
    )
    outcomes = _send(run, dropping, "--to", "ops@example.test")
    assert [o["status"] for o in outcomes] == ["unknown"]
    assert dropping_smtp.data_started == 1
    later = _send(run, config, "--to", "ops@example.test")
    assert later[0]["status"] == "skipped" and "unknown" in later[0]["detail"]
    assert smtp_sink.messages == []
    assert [o["status"] for o in _send(run, config, "--to", "ops@example.test", "--force")] == [
        "sent"
    ]


def test_missing_password_is_a_config_error(run: Callable[..., Result], config: Path) -> None:
    run("fetch", config=config)
    text = config.read_text() + 'username = "bot"\npassword_env = "AGGREGATOR_TEST_NO_SUCH_VAR"\n'
    with_login = config.with_name("login.toml")
    with_login.write_text(text)
    result = run("digest", "--send", config=with_login)
    assert result.exit_code == 2
    assert "AGGREGATOR_TEST_NO_SUCH_VAR is not set" in result.stderr
