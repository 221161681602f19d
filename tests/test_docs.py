"""Docs that cannot drift: every command and config key is documented where users look."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click
import pytest

from aggregator.cli import cli
from aggregator.config import TABLES

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
CONFIG_TEXT = (REPO / "config.toml").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found += _commands(command, full + " ")
        else:
            found.append((full, command))
    return found


COMMANDS = _commands(cli)


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_command_is_in_readme_with_help(name: str, command: click.Command) -> None:
    assert f"aggregator {name}" in README
    assert command.help and command.help.strip()
    for parameter in command.params:
        if isinstance(parameter, click.Option):
            assert parameter.help, f"{name} {parameter.opts} has no help"
            for opt in parameter.opts:
                if opt.startswith("--"):
                    assert opt in README, f"{name} {opt} is not in the README"


ARRAYS = {"feeds", "entities"}  # [[tables]]
KEYS = [(table, key) for table, keys in TABLES.items() for key in keys]


@pytest.mark.parametrize(("table", "key"), KEYS, ids=[f"{t}.{k}" for t, k in KEYS])
def test_config_key_is_in_config_toml_and_readme(table: str, key: str) -> None:
    header = f"[[{table}]]" if table in ARRAYS else f"[{table}]"
    assert header in CONFIG_TEXT
    assert re.search(rf"^#?\s*{key}\s*=|^#\s+{key}\s", CONFIG_TEXT, re.MULTILINE), key
    assert f"{header} {key}" in README


def test_config_toml_holds_only_keys_the_code_reads() -> None:
    data = tomllib.loads(CONFIG_TEXT)
    assert set(data) <= {name.split(".")[0] for name in TABLES}
    for table in set(TABLES) - ARRAYS:
        node = data
        for part in table.split("."):
            node = node.get(part, {})
        subtables = {name.split(".")[-1] for name in TABLES if name.startswith(table + ".")}
        assert set(node) <= set(TABLES[table]) | subtables, table
    for table in ARRAYS:
        for item in data.get(table, []):
            assert set(item) <= set(TABLES[table])


def test_readme_names_the_ci_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.strip().splitlines()[-1]
    assert command in README
