"""The built-in catalogs of agencies and entities (data in ``agencies.toml`` and
``entities.toml`` next to this file), extended by the user's ``[[entities]]``."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from aggregator.errors import ConfigError

HERE = Path(__file__).parent
ENTITY_TYPES = frozenset(
    {
        "exchange", "lender", "issuer", "stablecoin", "market-maker", "fund", "fintech", "bank",
        "protocol", "mixer", "custodian", "miner", "person", "other",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    code: str
    name: str
    jurisdiction: str
    level: str
    aliases: tuple[str, ...]
    ambiguous_aliases: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    self_references: tuple[str, ...] = ()
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class EntityRecord:
    id: str
    name: str
    type: str
    aliases: tuple[str, ...]
    ambiguous_aliases: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    related: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UserEntity:
    """An ``[[entities]]`` table of config.toml."""

    name: str
    aliases: tuple[str, ...] = ()
    type: str = "other"


@dataclass(frozen=True, slots=True)
class Catalog:
    agencies: tuple[AgencyRecord, ...]
    entities: tuple[EntityRecord, ...]
    fingerprint: str  # changes whenever any record changes: stored tags older than it are stale

    def agency(self, code: str) -> AgencyRecord | None:
        return _index(self).agencies.get(code.upper())

    def entity(self, name: str) -> EntityRecord | None:
        """An entity by canonical name, id or alias (case-insensitive)."""
        return _index(self).entities.get(name.strip().casefold())


@dataclass(frozen=True, slots=True)
class _Index:
    agencies: dict[str, AgencyRecord]
    entities: dict[str, EntityRecord]


_INDEXES: dict[str, _Index] = {}


def _index(catalog: Catalog) -> _Index:
    # Keyed by fingerprint: hashing the whole frozen catalog on every lookup would cost more
    # than the lookup itself.
    index = _INDEXES.get(catalog.fingerprint)
    if index is None:
        index = _INDEXES[catalog.fingerprint] = _build_index(catalog)
    return index


def _build_index(catalog: Catalog) -> _Index:
    entities: dict[str, EntityRecord] = {}
    for record in catalog.entities:
        for key in (*record.ambiguous_aliases, *record.aliases, record.id, record.name):
            entities[key.casefold()] = record
    return _Index({a.code: a for a in catalog.agencies}, entities)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


@lru_cache(maxsize=1)
def _builtin() -> tuple[tuple[AgencyRecord, ...], tuple[EntityRecord, ...], str]:
    agency_bytes = (HERE / "agencies.toml").read_bytes()
    entity_bytes = (HERE / "entities.toml").read_bytes()
    agencies = tuple(
        AgencyRecord(
            code=item["code"],
            name=item["name"],
            jurisdiction=item.get("jurisdiction", ""),
            level=item.get("level", ""),
            aliases=_strings(item.get("aliases"), f"agency {item['code']}.aliases"),
            ambiguous_aliases=_strings(item.get("ambiguous_aliases"), "ambiguous_aliases"),
            context=_strings(item.get("context"), "context"),
            exclude=_strings(item.get("exclude"), "exclude"),
            self_references=_strings(item.get("self_references"), "self_references"),
            parent=item.get("parent") or None,
        )
        for item in tomllib.loads(agency_bytes.decode("utf-8"))["agency"]
    )
    entities = tuple(
        EntityRecord(
            id=item["id"],
            name=item["name"],
            type=item.get("type", "other"),
            aliases=_strings(item.get("aliases"), f"entity {item['id']}.aliases"),
            ambiguous_aliases=_strings(item.get("ambiguous_aliases"), "ambiguous_aliases"),
            context=_strings(item.get("context"), "context"),
            exclude=_strings(item.get("exclude"), "exclude"),
            related=_strings(item.get("related"), "related"),
        )
        for item in tomllib.loads(entity_bytes.decode("utf-8"))["entity"]
    )
    digest = hashlib.sha256(agency_bytes + b"\0" + entity_bytes).hexdigest()
    return agencies, entities, digest


def load_catalog(user_entities: Sequence[UserEntity] = ()) -> Catalog:
    """The built-in catalog plus the user's entities. A user entity whose name is already in
    the catalog adds its aliases to that entity; otherwise it is a new entity."""
    agencies, entities, digest = _builtin()
    merged = list(entities)
    by_name = {record.name.casefold(): index for index, record in enumerate(merged)}
    for user in user_entities:
        index = by_name.get(user.name.casefold())
        if index is not None:
            known = merged[index]
            extra = tuple(a for a in user.aliases if a not in known.aliases)
            merged[index] = EntityRecord(
                id=known.id,
                name=known.name,
                type=known.type,
                aliases=known.aliases + extra,
                ambiguous_aliases=known.ambiguous_aliases,
                context=known.context,
                exclude=known.exclude,
                related=known.related,
            )
        else:
            slug = "user-" + "-".join(user.name.casefold().split())
            merged.append(
                EntityRecord(id=slug, name=user.name, type=user.type, aliases=user.aliases)
            )
            by_name[user.name.casefold()] = len(merged) - 1
    user_part = repr([(u.name, u.aliases, u.type) for u in user_entities]).encode("utf-8")
    fingerprint = hashlib.sha256(digest.encode() + user_part).hexdigest()[:16]
    return Catalog(agencies=agencies, entities=tuple(merged), fingerprint=fingerprint)
