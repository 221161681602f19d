"""The command line: wiring only. Loads config, opens the store, calls the library, prints.

Exit codes: 0 done, 1 failure, 2 bad usage or bad config. Errors are one line on stderr naming
the feed, file, key or option; a traceback only with ``-v``.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, NoReturn
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aggregator import __version__
from aggregator._dates import isoformat, parse_moment, utcnow
from aggregator._urls import absolute_http_url
from aggregator.atom import render_atom
from aggregator.catalog import Catalog, load_catalog
from aggregator.config import (
    Config,
    add_feeds,
    check_address,
    find_config_path,
    load_config,
    remove_feed,
    resolve_db_url,
    write_starter_config,
)
from aggregator.digest import build_configured_digest, default_day, render_html, render_text
from aggregator.errors import AggregatorError, ConfigError, FeedError, UsageError
from aggregator.extract import clean_text, html_to_text, sanitize_html
from aggregator.fetch import Fetcher
from aggregator.mail import build_message, message_id, send_digest
from aggregator.opml import parse_opml, render_opml
from aggregator.parse import parse_feed
from aggregator.records import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    ArticleFilter,
    FeedKind,
    FeedOutcome,
    FeedSource,
    FetchStatus,
    StoredArticle,
    Tags,
)
from aggregator.schedule import TICK_SECONDS, Service
from aggregator.search import MAX_TERMS, expand_entities, parse_query
from aggregator.store import Store, open_store
from aggregator.tag import ACTIONS, tag_article, tag_version
from aggregator.update import Updater, find_documents, import_document, retag

log = logging.getLogger("aggregator.cli")

EXPORT_FIELDS = (
    "id", "source", "title", "url", "published", "published_estimated", "author", "categories",
    "guid", "summary_text", "summary_html", "first_seen", "updated", "agencies", "entities",
    "action", "penalty_usd", "story_id",
)  # fmt: skip


# -- plumbing ----------------------------------------------------------------------------------


class _Failure(click.ClickException):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class App:
    """What every command needs, loaded on first use."""

    config_option: str | None
    db_option: str | None
    verbosity: int
    _config: Config | None = None
    _catalog: Catalog | None = None
    _stores: list[Store] = field(default_factory=list)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            catalog = load_catalog(self.config.entities)
            for name in self.config.watchlist:
                if catalog.entity(name) is None:
                    raise ConfigError(
                        f"{name!r} is not a known entity; add it with [[entities]]",
                        path=str(self.config.path),
                        key="watchlist.entities",
                    )
            self._catalog = catalog
        return self._catalog

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(find_config_path(self.config_option))
        return self._config

    def db_url(self) -> str:
        return resolve_db_url(self.db_option, self.config)

    def store(self, *, migrate: bool = True) -> Store:
        store = open_store(self.db_url(), migrate_schema=migrate)
        self._stores.append(store)
        return store

    def close(self) -> None:
        for store in self._stores:
            store.close()


class _Group(click.Group):
    """Translates AggregatorError into click's exit-code contract, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AggregatorError as exc:
            app = ctx.obj if isinstance(ctx.obj, App) else None
            if app is not None and app.verbosity > 0:
                traceback.print_exc()
            raise _Failure(str(exc), exc.exit_code) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except BrokenPipeError:
            # The reader went away (`aggregator export | head`): stop quietly, as Unix tools
            # do; pointing stdout at /dev/null keeps the interpreter's last flush from failing.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(0) from None
        except Exception as exc:
            app = ctx.obj if isinstance(ctx.obj, App) else None
            if app is not None and app.verbosity > 0:
                traceback.print_exc()
            message = " ".join(str(exc).split())[:300]
            raise _Failure(
                f"internal error: {type(exc).__name__}: {message} (run with -v for details)", 1
            ) from exc
        finally:
            app = ctx.obj if isinstance(ctx.obj, App) else None
            if app is not None:
                app.close()


class _JsonFormatter(logging.Formatter):
    """One JSON object per line; key=value pairs of the message become fields."""

    _PAIR = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S+)")

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        item: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for key, value in self._PAIR.findall(message):
            item.setdefault(key, value.strip("'\""))
        if record.exc_info:
            item["exception"] = self.formatException(record.exc_info)
        return json.dumps(item, ensure_ascii=False)


def _setup_logging(verbosity: int, log_format: str = "text", level: int | None = None) -> None:
    if level is None:
        level = {0: logging.ERROR, 1: logging.INFO}.get(verbosity, logging.DEBUG)
        if verbosity < 0:
            level = logging.CRITICAL
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        # journald adds its own timestamp; key=value fields stay greppable either way.
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("aggregator")
    logger.handlers = [h for h in logger.handlers if isinstance(h, logging.NullHandler)]
    logger.addHandler(handler)
    logger.setLevel(level)


def _stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=not _stdout_is_tty())


def _emit_json(items: Iterable[Any]) -> None:
    """A JSON array, streamed so that a large listing never sits in memory."""
    out = sys.stdout
    out.write("[")
    empty = True
    for index, item in enumerate(items):
        out.write(",\n" if index else "\n")
        out.write(json.dumps(item, ensure_ascii=False))
        empty = False
    out.write("]\n" if empty else "\n]\n")


def _moment(value: str | None, option: str) -> Any:
    if value is None:
        return None
    try:
        return parse_moment(value, utcnow())
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _article_json(article: StoredArticle) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "source": article.feed,
        "source_kind": article.feed_kind.value,
        "published": isoformat(article.published),
        "published_estimated": article.published_estimated,
        "author": article.author,
        "categories": list(article.categories),
        "guid": article.guid,
        **_tags_json(article.tags),
        "story_id": article.story_id,
        "summary_text": article.summary_text,
        "summary_html": article.summary_html,
        "first_seen": isoformat(article.first_seen),
        "updated": isoformat(article.updated),
    }


def _tags_json(tags: Tags) -> dict[str, Any]:
    return {
        "agencies": list(tags.agencies),
        "mentioned_agencies": list(tags.mentioned_agencies),
        "entities": list(tags.entities),
        "action": tags.action,
        "penalty_usd": tags.penalty_usd,
        "penalty": (
            {"amount": tags.penalty.amount, "currency": tags.penalty.currency}
            if tags.penalty
            else None
        ),
        "case_numbers": list(tags.case_numbers),
    }


def _filter_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The article filters shared by search, export and timeline."""
    options = [
        click.option(
            "--agency",
            "agencies",
            multiple=True,
            metavar="CODE",
            help="Only articles in which this agency acts (repeatable). Example: --agency SEC",
        ),
        click.option(
            "--entity",
            "entities",
            multiple=True,
            metavar="NAME",
            help="Only articles about this firm or person, by name or alias (repeatable). "
            "Example: --entity CZ",
        ),
        click.option(
            "--watchlist",
            is_flag=True,
            help="Only articles about an entity of [watchlist] entities in config.toml.",
        ),
        click.option(
            "--action",
            "actions",
            multiple=True,
            type=click.Choice(ACTIONS),
            help="Only articles of this action type (repeatable). Example: --action settlement",
        ),
        click.option(
            "--source",
            "sources",
            multiple=True,
            metavar="NAME",
            help="Only articles of this feed (repeatable). Example: --source sec-press-releases",
        ),
        click.option(
            "--since",
            metavar="D",
            help="Only articles published on or after D: a date (2024-06-01) or an age (7d, 24h).",
        ),
        click.option(
            "--until",
            metavar="D",
            help="Only articles published before D: a date or an age (7d, 24h).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _article_filter(app: App, filters: dict[str, Any], limit: int | None) -> ArticleFilter:
    catalog = app.catalog
    agencies = []
    for code in filters.get("agencies", ()):
        if catalog.agency(code) is None:
            raise UsageError(f"--agency: unknown agency code {code!r} (see README: Tagging)")
        agencies.append(code.upper())
    entities = [_entity_name(catalog, name, "--entity") for name in filters.get("entities", ())]
    if filters.get("watchlist"):
        if not app.config.watchlist:
            raise UsageError("--watchlist: [watchlist] entities is empty in config.toml")
        entities += [_entity_name(catalog, name, "watchlist") for name in app.config.watchlist]
    return ArticleFilter(
        since=_moment(filters.get("since"), "--since"),
        until=_moment(filters.get("until"), "--until"),
        sources=tuple(filters.get("sources", ())),
        agencies=tuple(agencies),
        entities=tuple(dict.fromkeys(entities)),
        actions=tuple(filters.get("actions", ())),
        limit=limit,
    )


def _entity_name(catalog: Catalog, name: str, option: str) -> str:
    record = catalog.entity(name)
    if record is None:
        raise UsageError(
            f"{option}: no entity named {name!r} in the catalog (add it with [[entities]] "
            "in config.toml)"
        )
    return record.name


# -- the group ---------------------------------------------------------------------------------


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="aggregator")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file (else $AGGREGATOR_CONFIG, else ./config.toml, else the user config dir).",
)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    help="Database URL or SQLite file (else $AGGREGATOR_DB_URL, else [store] url, "
    "else a SQLite file in the user data dir).",
)
@click.option(
    "-v", "--verbose", count=True, help="Log each feed update; -vv for debug; tracebacks."
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but results and fatal errors.")
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, db_url: str | None, verbose: int, quiet: bool
) -> None:
    """Regulatory-enforcement news: regulator and crypto-news feeds fetched, stored and searchable.

    \b
    Quick start:
      aggregator fetch                 # poll the feeds of config.toml that are due
      aggregator search binance        # ranked search with highlighted snippets
      aggregator show 42               # one article
    """
    verbosity = -1 if quiet else verbose
    _setup_logging(verbosity)
    ctx.obj = App(config_path, db_url, verbosity)


# -- fetch -------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--feed",
    "feed_names",
    multiple=True,
    metavar="NAME",
    help="Fetch this feed now, due or not (repeatable). Example: --feed sec-press-releases",
)
@click.option("--all", "fetch_all", is_flag=True, help="Fetch every feed now, due or not.")
@click.option("--strict", is_flag=True, help="Exit 1 when any feed failed (default: exit 0).")
@click.option("--json", "as_json", is_flag=True, help="Print the per-feed outcomes as JSON.")
@click.pass_obj
def fetch(
    app: App, feed_names: tuple[str, ...], fetch_all: bool, strict: bool, as_json: bool
) -> None:
    """Poll the configured feeds that are due and store their new and changed articles.

    Failing feeds are reported and recorded (see `aggregator feeds list`) and never stop the
    others. Example: aggregator fetch --feed sec-press-releases --feed coindesk
    """
    config = app.config
    if not config.feeds:
        where = str(config.path) if config.path else "no config file found"
        raise ConfigError("no [[feeds]] configured; add some (see README)", path=where)
    sources = [config.feed(name) for name in feed_names] if feed_names else list(config.feeds)
    if config.http.user_agent == config.__class__().http.user_agent and sys.stderr.isatty():
        click.echo(
            "note: set [http] user_agent to name yourself and a contact e-mail; "
            "SEC.gov blocks anonymous bots",
            err=True,
        )
    store = app.store()
    interactive = sys.stderr.isatty() and not as_json and app.verbosity >= 0
    with Fetcher(config.http) as fetcher, _progress(interactive) as progress:
        updater = Updater(store, fetcher, app.catalog, processes=config.ingest.processes)
        outcomes = updater.update(
            sources,
            only_due=not (fetch_all or feed_names),
            explicit=bool(feed_names),
            workers=config.http.concurrency,
            on_start=progress.start,
            on_outcome=progress.advance,
        )
    failed = [outcome for outcome in outcomes if outcome.status is FetchStatus.ERROR]
    if as_json:
        _emit_json(_outcome_json(outcome) for outcome in outcomes)
    elif _stdout_is_tty():
        _print_outcomes(outcomes, "feed")
    else:
        _print_errors(failed, app)
    if strict and failed:
        raise _Failure(f"{len(failed)} of {len(outcomes)} feeds failed", 1)


class _NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, outcome: FeedOutcome) -> None:
        pass

    def advance_by(self, count: int, description: str) -> None:
        pass


class _BarProgress(_NoProgress):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None

    def start(self, total: int) -> None:
        self.task = self.progress.add_task("fetching", total=total)

    def advance(self, outcome: FeedOutcome) -> None:
        self.advance_by(1, outcome.feed[:30])

    def advance_by(self, count: int, description: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=count, description=description)


@contextmanager
def _progress(enabled: bool) -> Iterator[_NoProgress]:
    if not enabled:
        yield _NoProgress()
        return
    with Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        yield _BarProgress(progress)


def _outcome_json(outcome: FeedOutcome) -> dict[str, Any]:
    return {
        "feed": outcome.feed,
        "url": outcome.url,
        "status": outcome.status.value,
        "new": outcome.new,
        "updated": outcome.updated,
        "skipped": outcome.skipped,
        "error": outcome.error,
        "seconds": outcome.seconds,
    }


def _print_outcomes(outcomes: list[FeedOutcome], first_column: str) -> None:
    console = _console()
    if not outcomes:
        console.print("nothing to do: no feed is due (use --all to fetch every feed now)")
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column(first_column)
    table.add_column("status")
    table.add_column("new", justify="right")
    table.add_column("updated", justify="right")
    table.add_column("detail", overflow="fold")
    for outcome in sorted(outcomes, key=lambda o: (o.status is not FetchStatus.ERROR, o.feed)):
        style = {"ok": "green", "not_modified": "dim", "error": "red"}[outcome.status.value]
        detail = outcome.error or (
            f"{outcome.skipped} unusable items skipped" if outcome.skipped else ""
        )
        table.add_row(
            escape(outcome.feed or outcome.url),
            f"[{style}]{outcome.status.value.replace('_', ' ')}[/]",
            str(outcome.new),
            str(outcome.updated),
            escape(detail),
        )
    console.print(table)
    new = sum(o.new for o in outcomes)
    updated = sum(o.updated for o in outcomes)
    failed = sum(o.status is FetchStatus.ERROR for o in outcomes)
    console.print(f"{len(outcomes)} done: {new} new, {updated} updated, {failed} failed")


def _print_errors(failed: list[FeedOutcome], app: App) -> None:
    if app.verbosity < 0:
        return
    for outcome in failed:
        click.echo(f"error: {outcome.feed or outcome.url}: {outcome.error}", err=True)


# -- import ------------------------------------------------------------------------------------


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--feed",
    "feed_name",
    metavar="NAME",
    help="Store every document under this feed (a configured one, or a new name).",
)
@click.option(
    "--kind",
    type=click.Choice([kind.value for kind in FeedKind]),
    default=FeedKind.NEWS.value,
    show_default=True,
    help="Kind of a feed created for a document that matches no known feed.",
)
@click.option("--strict", is_flag=True, help="Exit 1 when any document failed.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-document outcomes as JSON.")
@click.pass_obj
def import_(
    app: App,
    paths: tuple[Path, ...],
    feed_name: str | None,
    kind: str,
    strict: bool,
    as_json: bool,
) -> None:
    """Ingest saved feed documents (files, or folders searched for .xml/.rss/.atom/.rdf/.json
    files) through the same parse-and-store path as fetch: offline backfill from archives.

    A document joins the configured feed whose URL it names as its own (rel=self or channel
    link), else a feed named "import:<its title>". Example: aggregator import archive/2024/
    """
    config = app.config
    documents = list(find_documents(paths))
    if not documents:
        raise UsageError("no feed documents found under " + ", ".join(map(str, paths)))
    store = app.store()
    now = utcnow()
    store.sync_feeds(config.feeds, now)
    if feed_name:
        source = next((s for s in config.feeds if s.name == feed_name), None)
        if source is None:
            source = FeedSource(
                name=feed_name, url=documents[0].resolve().as_uri(), kind=FeedKind(kind)
            )
        store.ensure_feed(source, now)
    interactive = sys.stderr.isatty() and not as_json and app.verbosity >= 0
    outcomes: list[FeedOutcome] = []
    with _progress(interactive) as progress:
        progress.start(len(documents))
        for path in documents:
            outcome = import_document(
                store,
                path,
                catalog=app.catalog,
                sources=config.feeds,
                feed=feed_name,
                kind=FeedKind(kind),
                now=now,
            )
            outcomes.append(outcome)
            progress.advance(outcome)
    failed = [o for o in outcomes if o.status is FetchStatus.ERROR]
    if as_json:
        _emit_json(_outcome_json(outcome) for outcome in outcomes)
    elif _stdout_is_tty():
        _print_outcomes(outcomes, "feed")
    else:
        _print_errors(failed, app)
        if app.verbosity >= 0:
            new = sum(o.new for o in outcomes)
            click.echo(
                f"{len(outcomes) - len(failed)} documents imported, {new} new articles, "
                f"{len(failed)} failed"
            )
    if failed and (strict or len(failed) == len(outcomes)):
        raise _Failure(f"{len(failed)} of {len(outcomes)} documents failed", 1)


# -- search, show, export ----------------------------------------------------------------------


def _refuse_mistyped_options(query: tuple[str, ...]) -> None:
    """Search takes unknown options as query words, so that "-bitcoin" excludes; a word
    that starts with "--" is a mistyped option ("--limti 3" was searched for, silently)."""
    context = click.get_current_context()
    known = [name for param in context.command.params for name in param.opts]
    for word in query:
        if re.fullmatch(r"--[A-Za-z][\w-]*(=.*)?", word):
            option = word.split("=", 1)[0]
            close = difflib.get_close_matches(option, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(
                f"no such option: {option}{hint}; to search for it, quote it: '\"{word}\"'"
            )


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1, required=True)
@_filter_options
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="At most this many results.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array with snippet and score.")
@click.pass_obj
def search(app: App, query: tuple[str, ...], limit: int, as_json: bool, **filters: Any) -> None:
    """Ranked full-text search over titles and summaries, newest and regulators first at equal
    relevance, with the matches highlighted.

    \b
    Query language (anything else is taken literally, never a syntax error):
      binance penalty        every word must match
      "wells notice"         a phrase
      -bitcoin               must not match
      sec OR cftc            either
      crypt*                 a prefix
    Example: aggregator search '"wells notice"' --since 30d
    """
    _refuse_mistyped_options(query)
    parsed, truncated = parse_query(" ".join(query))
    if truncated:
        click.echo(f"note: only the first {MAX_TERMS} words of the query are used", err=True)
    where = _article_filter(app, filters, limit)
    store = app.store()
    _note_stale_tags(app, store)
    hits = store.search(expand_entities(parsed, app.catalog), where, utcnow())
    if as_json:
        _emit_json(
            {
                **_article_json(hit.article),
                "snippet": _highlight(hit.snippet, "**", "**"),
                "score": round(hit.score, 6),
            }
            for hit in hits
        )
        return
    console = _console()
    tty = _stdout_is_tty()
    if not hits:
        click.echo("no matches", err=True)
        return
    for hit in hits:
        article = hit.article
        date = article.published.strftime("%Y-%m-%d")
        snippet = hit.snippet
        if _highlight(snippet, "", "") == article.title:
            # The match is in the title, printed already; show the start of the summary.
            snippet = article.summary_text[:200] + ("…" if len(article.summary_text) > 200 else "")
        if tty:
            console.print(
                f"[bold]{escape(article.title)}[/]\n"
                f"  [dim]#{article.id} · {date} · {escape(article.feed)}[/]"
            )
            if snippet:
                console.print("  " + _highlight(escape(snippet), "[bold yellow]", "[/]"))
            if article.url:
                console.print(f"  [blue]{escape(article.url)}[/]")
            console.print()
        else:
            click.echo(f"#{article.id}\t{date}\t{article.feed}\t{article.title}")
            if snippet:
                click.echo("  " + _highlight(snippet, "", ""))
            if article.url:
                click.echo("  " + article.url)


def _note_stale_tags(app: App, store: Store) -> None:
    if not sys.stderr.isatty() or app.verbosity < 0:
        return
    stale = store.count_stale_tags(tag_version(app.catalog))
    if stale:
        click.echo(
            f"note: {stale} articles carry tags from another catalog; run: aggregator retag",
            err=True,
        )


def _highlight(snippet: str, start: str, end: str) -> str:
    return snippet.replace(HIGHLIGHT_START, start).replace(HIGHLIGHT_END, end)


@cli.command()
@click.argument("article_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array holding the article.")
@click.pass_obj
def show(app: App, article_id: int, as_json: bool) -> None:
    """Show one stored article: its source, dates, link and summary. Example: aggregator show 42"""
    article = app.store().get_article(article_id)
    if as_json:
        _emit_json([_article_json(article)])
        return
    lines = [
        article.title,
        "",
        f"id:         {article.id}",
        f"source:     {article.feed} ({article.feed_kind.value}"
        + (f", {article.feed_agency})" if article.feed_agency else ")"),
        f"published:  {isoformat(article.published)}"
        + ("  (no date in the feed: first seen)" if article.published_estimated else ""),
        f"url:        {article.url or '-'}",
    ]
    if article.author:
        lines.append(f"author:     {article.author}")
    if article.categories:
        lines.append(f"categories: {', '.join(article.categories)}")
    tags = article.tags
    if tags.mentioned_agencies:
        mentioned = [c for c in tags.mentioned_agencies if c not in tags.agencies]
        lines.append(
            f"agencies:   {', '.join(tags.agencies) or '-'}"
            + (f" (also mentioned: {', '.join(mentioned)})" if mentioned else "")
        )
    if tags.entities:
        lines.append(f"entities:   {', '.join(tags.entities)}")
    if tags.action:
        lines.append(f"action:     {tags.action}")
    if tags.penalty:
        lines.append(f"penalty:    {_money(tags)}")
    if tags.case_numbers:
        lines.append(f"cases:      {', '.join(tags.case_numbers)}")
    lines += ["", article.summary_text or "(no summary)"]
    click.echo("\n".join(lines))


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="JSON Lines (one article per line) or CSV with a header row.",
)
@_filter_options
@click.option("--limit", type=click.IntRange(min=1), help="At most this many articles.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.pass_obj
def export(app: App, fmt: str, limit: int | None, output: Path | None, **filters: Any) -> None:
    """Dump stored articles, newest first, with every field.

    In CSV, a cell that a spreadsheet would run as a formula (starting with = + - @) is
    prefixed with a single quote. Example: aggregator export --format csv --since 30d -o out.csv
    """
    where = _article_filter(app, filters, limit)
    store = app.store()
    _note_stale_tags(app, store)
    try:
        handle: IO[str] = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    except OSError as exc:
        raise UsageError(f"--output {output}: {exc.strerror or exc}") from exc
    count = 0
    try:
        if fmt == "jsonl":
            for article in store.get_articles(where):
                handle.write(json.dumps(_article_json(article), ensure_ascii=False) + "\n")
                count += 1
        else:
            writer = csv.DictWriter(handle, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
            writer.writeheader()
            for article in store.get_articles(where):
                writer.writerow({k: _csv_cell(v) for k, v in _article_json(article).items()})
                count += 1
    finally:
        if output:
            handle.close()
    if output and app.verbosity >= 0:
        click.echo(f"{count} articles written to {output}", err=True)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# -- tagging -----------------------------------------------------------------------------------


@cli.command("tag")
@click.option("--evidence", is_flag=True, help="Add the matched text behind each tag.")
@click.pass_obj
def tag_(app: App, evidence: bool) -> None:
    """Tag JSON Lines from standard input: each object needs "title" and "summary" (optional
    "source", the name of a configured feed, or "agency", the publishing regulator's code) and
    is written back with agencies, mentioned_agencies, entities, action, penalty_usd, penalty
    and case_numbers added. A line that is not such an object is reported and skipped (exit 1).

    Example: echo '{"title": "SEC charges Binance", "summary": ""}' | aggregator tag
    """
    catalog = app.catalog
    feeds = {source.name: source for source in app.config.feeds}
    failed = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            click.echo(f"error: stdin line {number}: not JSON ({exc.msg})", err=True)
            failed += 1
            continue
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("title", ""), str)
            or not (isinstance(item.get("summary", ""), str))
        ):
            click.echo(
                f"error: stdin line {number}: expected an object with string title/summary",
                err=True,
            )
            failed += 1
            continue
        source = feeds.get(str(item.get("source") or ""))
        agency = item.get("agency") or (source.agency if source else None)
        kind = item.get("kind") or (
            source.kind.value if source else ("regulator" if agency else "news")
        )
        # The same clean text the pipeline tags: entities decoded, markup removed.
        tags = tag_article(
            clean_text(item.get("title") or ""),
            html_to_text(sanitize_html(item.get("summary") or "")),
            catalog=catalog,
            kind=str(kind),
            agency=str(agency) if agency else None,
        )
        item.update(_tags_json(tags))
        if evidence:
            item["evidence"] = [
                {"field": e.field, "value": e.value, "text": e.text, "where": e.where}
                for e in tags.evidence
            ]
        sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
    if failed:
        raise _Failure(f"{failed} input lines could not be tagged", 1)


@cli.command("retag")
@click.option(
    "--all", "everything", is_flag=True, help="Re-tag every article, not only stale ones."
)
@click.pass_obj
def retag_(app: App, everything: bool) -> None:
    """Run the tagger again over stored articles whose tags an older catalog made (after an
    upgrade, or a change to [[entities]] in config.toml). Safe to interrupt and run again.

    Example: aggregator retag
    """
    catalog = app.catalog
    store = app.store()
    total = store.count_articles() if everything else store.count_stale_tags(tag_version(catalog))
    interactive = sys.stderr.isatty() and app.verbosity >= 0
    with _progress(interactive) as progress:
        progress.start(total)
        done = retag(
            store,
            catalog,
            everything=everything,
            on_batch=lambda n: progress.advance_by(n, "tagging"),
        )
    if app.verbosity >= 0:
        click.echo(f"{_count(done, 'article')} re-tagged")


@cli.command()
@click.argument("entity")
@_filter_options
@click.option("--limit", type=click.IntRange(min=1), help="At most this many items.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of articles.")
@click.pass_obj
def timeline(app: App, entity: str, limit: int | None, as_json: bool, **filters: Any) -> None:
    """One firm's or person's tagged items in date order, oldest first, across agencies and
    outlets: what was done, by whom, and any penalty. ENTITY is a name or an alias.

    Example: aggregator timeline CZ --agency SEC
    """
    name = _entity_name(app.catalog, entity, "ENTITY")
    filters["entities"] = (name,)
    where = _article_filter(app, filters, limit)
    store = app.store()
    _note_stale_tags(app, store)
    items = store.get_articles(replace(where, oldest_first=True))
    if as_json:
        _emit_json(_article_json(article) for article in items)
        return
    count = 0
    for article in items:
        count += 1
        tags = article.tags
        agencies = ",".join(tags.agencies) or "-"
        penalty = _money(tags) or ""
        click.echo(
            f"{article.published:%Y-%m-%d}  {agencies:<10} {tags.action or '-':<13} "
            f"{penalty:>14}  {article.title}  [{article.feed}]"
        )
    if not count:
        click.echo(f"no tagged items about {name}", err=True)


def _money(tags: Tags) -> str | None:
    if tags.penalty is None:
        return None
    amount = tags.penalty.amount
    for size, suffix in ((1e9, " bn"), (1e6, " m")):
        if amount >= size:
            return f"{tags.penalty.currency} {amount / size:,.4g}{suffix}"
    return f"{tags.penalty.currency} {amount:,.0f}"


# -- digest ------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--date",
    "day_text",
    metavar="D",
    help="The day to report, in [digest] timezone: YYYY-MM-DD, 'today' or 'yesterday' "
    "(default: yesterday).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "html", "eml"]),
    default="text",
    show_default=True,
    help="Plain text, e-mail HTML, or a complete RFC 5322 message.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.option("--send", is_flag=True, help="Mail it to the recipients, once per day each.")
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="ADDR",
    help="Send to this address instead of [digest] recipients (repeatable).",
)
@click.option("--force", is_flag=True, help="With --send: send again even if already sent.")
@click.option("--json", "as_json", is_flag=True, help="With --send: print outcomes as JSON.")
@click.pass_obj
def digest(
    app: App,
    day_text: str | None,
    fmt: str,
    output: Path | None,
    send: bool,
    to: tuple[str, ...],
    force: bool,
    as_json: bool,
) -> None:
    """Build the briefing of one day: per agency the regulators' releases, then the press
    stories about them ("also covered by ..."), watch-list hits, penalty totals, the count
    against the 7-day average, and sources that are failing or silent.

    --send mails it (multipart text + HTML) to each recipient exactly once: running it again
    does nothing, a failed send is retried on the next run, --force sends again.

    Example: aggregator digest --date 2026-11-23 --format html -o digest.html
    """
    config = app.config
    settings = config.digest
    now = utcnow()
    day = _digest_day(day_text, now, settings.timezone)
    recipients = list(to) or list(settings.recipients)
    for address in to:
        check_address(address, lambda key, message: UsageError(f"{key}: {message}"), "--to")
    store = app.store()
    if send:
        if not recipients:
            raise ConfigError(
                "no recipients: set [digest] recipients or pass --to",
                path=str(config.path) if config.path else None,
                key="digest.recipients",
            )
        outcomes = send_digest(
            store, config, app.catalog, day=day, recipients=recipients, force=force, now=utcnow
        )
        if as_json:
            _emit_json(
                {"day": day.isoformat(), "recipient": o.recipient, "status": o.status,
                 "detail": o.detail}
                for o in outcomes
            )  # fmt: skip
        elif app.verbosity >= 0:
            for outcome in outcomes:
                line = f"{day.isoformat()} {outcome.recipient}: {outcome.status}"
                click.echo(line + (f" ({outcome.detail})" if outcome.detail else ""))
        bad = [o for o in outcomes if o.status in ("failed", "unknown")]
        if bad:
            raise _Failure(f"{len(bad)} of {len(outcomes)} digests not delivered", 1)
        return
    built = build_configured_digest(store, config, app.catalog, day=day, now=now)
    text = render_text(built)
    html = render_html(built)
    if fmt == "eml":
        recipient = recipients[0] if recipients else settings.sender
        content = build_message(
            subject=settings.subject.format(date=day.isoformat(), count=built.story_count),
            sender=settings.sender,
            recipient=recipient,
            text=text,
            html=html,
            message_id=message_id(day.isoformat(), recipient, settings.sender),
            date=now,
        )
        data = content.as_bytes()
        if output:
            _write_file(output, data)
        else:
            sys.stdout.buffer.write(data)
        return
    rendered = html if fmt == "html" else text
    if output:
        _write_file(output, rendered.encode("utf-8"))
    else:
        click.echo(rendered, nl=False)


def _digest_day(text: str | None, now: datetime, zone: str) -> date:
    if text is None or text == "yesterday":
        return default_day(now, zone)
    if text == "today":
        return default_day(now, zone) + timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--date: not a date: {text!r} (use YYYY-MM-DD)") from None


def _write_file(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"--output {path}: {exc.strerror or exc}") from exc


# -- service and health ------------------------------------------------------------------------


@cli.command()
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event on stderr: key=value text, or JSON objects.",
)
@click.option(
    "--tick",
    type=click.IntRange(5, 3600),
    default=TICK_SECONDS,
    show_default=True,
    help="Seconds between asking the store which feeds are due.",
)
@click.pass_obj
def serve(app: App, log_format: str, tick: int) -> None:
    """Run in the foreground: fetch feeds as they fall due, send the digest at [digest] time
    (a digest missed while down is sent on return the same day), and keep house daily.
    SIGTERM or SIGINT stops it cleanly within seconds. Runs beside cron-driven `fetch` and
    `digest --send` without fetching a feed twice or sending a digest twice.

    Example: aggregator serve --log-format json
    """
    config = app.config
    if not config.feeds:
        where = str(config.path) if config.path else "no config file found"
        raise ConfigError("no [[feeds]] configured; add some (see README)", path=where)
    # A service logs every feed update (INFO) unless -q; -vv adds debug.
    level = logging.WARNING if app.verbosity < 0 else logging.INFO
    _setup_logging(app.verbosity, log_format, logging.DEBUG if app.verbosity > 1 else level)
    service = Service(config=config, store=app.store(), catalog=app.catalog, tick=tick)
    service.run()
    app.close()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Fetches still waiting on the network hold no lock and no open write; do not wait for
    # their timeouts.
    os._exit(0)


def _health(app: App) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    store = app.store()
    now = utcnow()
    configured = {source.name for source in app.config.feeds}
    feeds = []
    problems = []
    for state in store.get_feeds():
        if state.name not in configured:
            continue
        healthy = state.last_status is not FetchStatus.ERROR and not state.disabled_reason
        if state.disabled_reason:
            problems.append(f"feed {state.name}: disabled: {state.disabled_reason}")
        elif state.last_status is FetchStatus.ERROR:
            failures = state.consecutive_failures
            count = _count(failures, "failure")
            problems.append(f"feed {state.name}: {count}; last: {state.last_error}")
        elif state.last_success is None:
            healthy = False
            problems.append(f"feed {state.name}: never fetched successfully")
        feeds.append(
            {
                "name": state.name,
                "healthy": healthy,
                "last_success": isoformat(state.last_success),
                "last_fetched": isoformat(state.last_fetched),
                "last_status": state.last_status.value if state.last_status else None,
                "last_error": state.last_error,
                "consecutive_failures": state.consecutive_failures,
                "next_check": isoformat(state.next_check),
                "disabled": state.disabled_reason,
                "being_fetched_by": state.lease_owner,
                "articles": state.article_count,
                "latest_article": isoformat(state.latest_article),
            }
        )
    deliveries = []
    recent = (now - timedelta(days=7)).date().isoformat()
    for delivery in store.get_deliveries():
        if delivery.day < recent:
            break
        if delivery.status in ("failed", "unknown", "sending"):  # sending: interrupted mid-DATA
            problems.append(
                f"digest {delivery.day} to {delivery.recipient}: {delivery.status}: "
                f"{delivery.last_error}"
            )
        deliveries.append(
            {
                "day": delivery.day,
                "recipient": delivery.recipient,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "last_error": delivery.last_error,
                "sent_at": isoformat(delivery.sent_at),
            }
        )
    return feeds, deliveries, problems


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print feeds, digests and problems as JSON.")
@click.option("--check", is_flag=True, help="Exit 1 when a feed or a digest is unhealthy.")
@click.pass_obj
def status(app: App, as_json: bool, check: bool) -> None:
    """Health: per feed the last success, last error, consecutive failures and next check;
    the digests of the last week and their delivery. For monitoring: --check exits 1 and lists
    the problems when something is unhealthy.

    Example: aggregator status --check
    """
    feeds, deliveries, problems = _health(app)
    if as_json:
        click.echo(json.dumps({"feeds": feeds, "digests": deliveries, "problems": problems},
                              ensure_ascii=False, indent=2))  # fmt: skip
    else:
        for feed in feeds:
            mark = "ok " if feed["healthy"] else "BAD"
            detail = feed["disabled"] or feed["last_error"] or ""
            click.echo(
                f"{mark} {feed['name']:<34} last ok {feed['last_success'] or 'never':<20} "
                f"next {feed['next_check'] or 'now':<20} {detail}"
            )
        for delivery in deliveries:
            click.echo(f"digest {delivery['day']} {delivery['recipient']}: {delivery['status']}")
        if problems:
            click.echo(f"{_count(len(problems), 'problem')}:", err=True)
            for problem in problems:
                click.echo(f"  {problem}", err=True)
    if check and problems:
        raise _Failure(f"unhealthy: {_count(len(problems), 'problem')}", 1)


def _count(number: int, noun: str) -> str:
    """ "1 problem", "2 problems"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


# -- feeds -------------------------------------------------------------------------------------


@cli.group()
def feeds() -> None:
    """Manage the feeds: list, add, remove, health (status), OPML import and export."""


@feeds.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print feeds, digests and problems as JSON.")
@click.option("--check", is_flag=True, help="Exit 1 when a feed or a digest is unhealthy.")
@click.pass_context
def feeds_status(ctx: click.Context, as_json: bool, check: bool) -> None:
    """The same as `aggregator status`. Example: aggregator feeds status --check"""
    ctx.invoke(status, as_json=as_json, check=check)


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of feeds.")
@click.pass_obj
def feeds_list(app: App, as_json: bool) -> None:
    """List the feeds in the store (those of config.toml first synced): kind, agency, articles,
    last status. Example: aggregator feeds list --json"""
    store = app.store()
    store.sync_feeds(app.config.feeds, utcnow())
    states = store.get_feeds()
    configured = {source.name for source in app.config.feeds}
    rows = [
        {
            "name": s.name,
            "url": s.url,
            "kind": s.kind.value,
            "agency": s.agency,
            "configured": s.name in configured,
            "articles": s.article_count,
            "last_status": s.last_status.value if s.last_status else None,
            "last_error": s.last_error,
            "last_fetched": isoformat(s.last_fetched),
            "last_success": isoformat(s.last_success),
            "consecutive_failures": s.consecutive_failures,
            "next_check": isoformat(s.next_check),
            "moved_to": s.permanent_url,
        }
        for s in states
    ]
    if as_json:
        _emit_json(rows)
        return
    if not _stdout_is_tty():
        for row in rows:
            click.echo(
                "\t".join(
                    str(row[k] if row[k] is not None else "-")
                    for k in ("name", "kind", "agency", "articles", "last_status", "url")
                )
            )
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("name", "kind", "agency", "articles", "status", "url"):
        table.add_column(column, justify="right" if column == "articles" else "left")
    for row in rows:
        status = row["last_status"] or "never fetched"
        if row["last_error"]:
            status = f"[red]error[/]: {escape(row['last_error'])}"
        if row["moved_to"]:
            status += f" [yellow](moved to {escape(row['moved_to'])}: update config.toml)[/]"
        table.add_row(
            escape(row["name"]),
            row["kind"],
            row["agency"] or "",
            str(row["articles"]),
            status,
            escape(row["url"]),
        )
    _console().print(table)


# -- init, feed sources, Atom ------------------------------------------------------------------


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.pass_obj
def init(app: App, force: bool) -> None:
    """Write a commented starter config.toml (at --config, else ./config.toml) listing the real
    regulator and crypto-news feeds, and create the store.

    Example: aggregator init && aggregator fetch
    """
    path = Path(app.config_option or "config.toml")
    write_starter_config(path, force=force)
    app._config = load_config(path)
    store = app.store()
    click.echo(f"wrote {path} ({len(app.config.feeds)} feeds) and created {store.display_url}")
    click.echo("next: set [http] user_agent to your name and e-mail, then run: aggregator fetch")


def _config_file(app: App) -> Path:
    path = app.config.path
    if path is None:
        raise ConfigError(
            "no config file to edit; create one with: aggregator init", key="--config"
        )
    return path


@feeds.command("add")
@click.argument("url")
@click.option("--name", metavar="NAME", help="Short unique name (default: from the feed's title).")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in FeedKind]),
    default="news",
    show_default=True,
    help="A regulator's own releases, or press coverage.",
)
@click.option(
    "--agency", metavar="CODE", help="The publishing agency of a regulator feed (e.g. SEC)."
)
@click.option(
    "--no-check", is_flag=True, help="Save without first fetching the URL to see it is a feed."
)
@click.pass_obj
def feeds_add(
    app: App, url: str, name: str | None, kind: str, agency: str | None, no_check: bool
) -> None:
    """Add a feed to config.toml, after fetching it once to check that it is a feed.

    Example: aggregator feeds add https://www.sec.gov/news/pressreleases.rss --kind regulator
    --agency SEC
    """
    path = _config_file(app)
    if absolute_http_url(url) is None:
        raise UsageError(f"URL: must be an http(s) URL, not {url!r}")
    if kind == "regulator" and not agency:
        raise UsageError("--agency: required for a regulator feed")
    if agency and app.catalog.agency(agency) is None:
        raise UsageError(f"--agency: unknown agency code {agency!r}")
    title = None
    if not no_check:
        with Fetcher(app.config.http) as fetcher:
            try:
                result = fetcher.fetch(url)
                parsed = parse_feed(
                    result.content or b"", url=result.url, content_type=result.content_type
                )
            except FeedError as exc:
                raise _Failure(f"not added: {exc}", 1) from exc
        title = clean_text(parsed.title) or None
        click.echo(f"{url}: a {parsed.version} feed with {len(parsed.entries)} items", err=True)
    chosen = (
        name
        or re.sub(r"[^a-z0-9]+", "-", (title or urlsplit(url).hostname or "feed").lower()).strip(
            "-"
        )[:60]
    )
    source = FeedSource(
        name=chosen, url=url, kind=FeedKind(kind), agency=agency.upper() if agency else None
    )
    if not add_feeds(path, [source]):
        raise UsageError(f"{path}: a feed named {chosen!r} or with this URL is already there")
    click.echo(f"added feed {chosen!r} to {path}")


@feeds.command("remove")
@click.argument("name")
@click.pass_obj
def feeds_remove(app: App, name: str) -> None:
    """Remove a feed from config.toml. Its stored articles are kept (and still searchable);
    it is simply no longer fetched. Example: aggregator feeds remove coindesk"""
    path = _config_file(app)
    remove_feed(path, name)
    click.echo(f"removed feed {name!r} from {path}; its stored articles are kept")


@feeds.command("import-opml")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice([k.value for k in FeedKind]),
    default="news",
    show_default=True,
    help="Kind of the feeds whose OPML says none.",
)
@click.pass_obj
def feeds_import_opml(app: App, file: Path, kind: str) -> None:
    """Add the feeds of an OPML file (another reader's export) to config.toml; feeds already
    there are skipped. Example: aggregator feeds import-opml subscriptions.opml"""
    path = _config_file(app)
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: {exc.strerror or exc}") from exc
    found = parse_opml(content, path=str(file))
    sources = []
    for item in found:
        item_kind = item.kind or FeedKind(kind)
        agency = item.agency if item.agency and app.catalog.agency(item.agency) else None
        if item_kind is FeedKind.REGULATOR and agency is None:
            item_kind = FeedKind.NEWS  # a regulator feed needs its agency; keep it as press
        sources.append(FeedSource(name=item.name, url=item.url, kind=item_kind, agency=agency))
    added = add_feeds(path, sources)
    click.echo(f"{len(added)} feeds added to {path}, {len(found) - len(added)} already there")


@feeds.command("export-opml")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.pass_obj
def feeds_export_opml(app: App, output: Path | None) -> None:
    """Write the configured feeds as OPML 2.0, for another feed reader (kind and agency kept
    in attributes of their own). Example: aggregator feeds export-opml -o feeds.opml"""
    data = render_opml(app.config.feeds, now=utcnow())
    if output:
        _write_file(output, data)
    else:
        sys.stdout.buffer.write(data)


@cli.command("feed")
@click.option(
    "--query",
    metavar="TEXT",
    help="A search query (as for `search`); without it, the newest articles.",
)
@_filter_options
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="At most this many entries.",
)
@click.option("--title", metavar="TEXT", help="The feed's title (default: from the filters).")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.pass_obj
def feed_(
    app: App, query: str | None, limit: int, title: str | None, output: Path | None, **filters: Any
) -> None:
    """An Atom 1.0 feed of any search or filter, to follow in your own feed reader (serve the
    file, or regenerate it from cron).

    Example: aggregator feed --agency SEC --watchlist -o sec-watchlist.xml
    """
    where = _article_filter(app, filters, limit)
    store = app.store()
    if query:
        parsed, _ = parse_query(query)
        items = [
            hit.article
            for hit in store.search(expand_entities(parsed, app.catalog), where, utcnow())
        ]
    else:
        items = list(store.get_articles(where))
    described = " ".join(
        f"{k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in sorted(filters.items()) if v
    )
    name = title or "aggregator: " + (
        " ".join(part for part in (query, described) if part) or "newest articles"
    )
    identity = "urn:aggregator:feed:" + hashlib.sha256(name.encode()).hexdigest()[:24]
    data = render_atom(items, title=name, feed_id=identity, now=utcnow())
    if output:
        _write_file(output, data)
    else:
        sys.stdout.buffer.write(data)


# -- db ----------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema migrations (also applied automatically on first use)."""


@db.command()
@click.pass_obj
def upgrade(app: App) -> None:
    """Migrate the store to the newest schema. Example: aggregator --db store.sqlite db upgrade"""
    store = app.store(migrate=False)
    before, after = store.upgrade()
    if before == after:
        click.echo(f"{store.display_url}: already at revision {after}")
    else:
        click.echo(f"{store.display_url}: upgraded from {before or 'empty'} to {after}")


@db.command()
@click.pass_obj
def current(app: App) -> None:
    """Print the store's schema revision and whether it is the newest.

    Example: aggregator db current
    """
    store = app.store(migrate=False)
    revision, head = store.revision()
    if revision is None:
        click.echo(f"{store.display_url}: empty (no schema yet; created on first use)")
    elif revision == head:
        click.echo(f"{store.display_url}: {revision} (head)")
    else:
        click.echo(f"{store.display_url}: {revision} (head is {head}; run: aggregator db upgrade)")


@db.command("copy")
@click.option("--to", "to_url", metavar="URL", help="Copy this store (--db) into URL.")
@click.option("--from", "from_url", metavar="URL", help="Copy URL into this store (--db).")
@click.pass_obj
def db_copy(app: App, to_url: str | None, from_url: str | None) -> None:
    """Move a whole store between databases, e.g. from SQLite to PostgreSQL or back: feeds,
    articles, tags, stories and the digest ledger, ids kept, row counts checked. The target
    is migrated first and must be empty.

    Example: aggregator --db store.sqlite db copy --to postgresql+psycopg://me@db/aggregator
    """
    if bool(to_url) == bool(from_url):
        raise UsageError("give exactly one of --to URL or --from URL")
    here = app.db_url()
    source_url, target_url = (here, to_url) if to_url else (from_url, here)
    assert source_url and target_url
    source = open_store(resolve_db_url(source_url, app.config))
    target = open_store(resolve_db_url(target_url, app.config))
    app._stores += [source, target]
    interactive = sys.stderr.isatty() and app.verbosity >= 0
    with _progress(interactive) as progress:
        progress.start(source.count_articles())
        copied = source.copy_to(
            target,
            on_rows=lambda table, n: progress.advance_by(n, table) if table == "articles" else None,
        )
    if app.verbosity >= 0:
        summary = ", ".join(f"{count} {table}" for table, count in copied.items())
        click.echo(f"copied {summary} from {source.display_url} to {target.display_url}")


def main(argv: list[str] | None = None) -> NoReturn:
    """The console script."""
    cli.main(args=argv, prog_name="aggregator")
    sys.exit(0)
