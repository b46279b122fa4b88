"""The sandbox's in-memory database: one table (an insertion-ordered dict) per confd table.

Records are plain dicts holding confd's stored values (ids, uuids as strings, option lists);
relations are stored as keys (``endpoint_sip_uuid``, ``trunk_ids``), as in confd's schema.
Integer ids come from per-table sequences that start at 1, like PostgreSQL's.
"""

from __future__ import annotations

import copy
import random
import string
import uuid as uuidlib
from collections.abc import Callable, Iterator
from typing import Any

Record = dict[str, Any]
Key = int | str  # a row's key in its table: an integer id or a uuid

TABLES = (
    "tenants",
    "transports",
    "sip",
    "iax",
    "custom",
    "trunks",
    "contexts",
    "extensions",
    "outcalls",
    "users",
    "registers_iax",
)

_NAME_ALPHABET = string.ascii_lowercase + string.digits

# Lookups that writes make at every request are indexed, as a database would (a scan of 5,000
# rows costs about a millisecond): the names of the SIP namespace (endpoints, templates and
# transports share it) and the trunk holding an endpoint. Rows of these tables change these
# columns only through the Store methods below, which keep the indexes.
NAMED_TABLES = ("sip", "transports")
TRUNK_LINKS = ("endpoint_sip_uuid", "endpoint_iax_id", "endpoint_custom_id")
ENDPOINT_TABLES = ("sip", "iax", "custom")  # the tables of TRUNK_LINKS


class Store:
    """Tables of records plus the singletons (PJSIP global/system, live reload)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tables: dict[str, dict[Key, Record]] = {name: {} for name in TABLES}
        self.pjsip: dict[str, dict[str, str]] = {"global": {}, "system": {}}
        self.live_reload = True
        self._sequences: dict[str, int] = {}
        # built from the tables when first needed, then kept up to date
        self._names: dict[str, dict[tuple[str, Key], None]] | None = None
        self._trunk_links: dict[tuple[str, Key], Key] | None = None

    def table(self, name: str) -> dict[Key, Record]:
        return self.tables[name]

    def rows(self, name: str) -> Iterator[Record]:
        return iter(list(self.tables[name].values()))

    def find(self, name: str, predicate: Callable[[Record], bool]) -> Record | None:
        return next((row for row in self.tables[name].values() if predicate(row)), None)

    def next_id(self, name: str) -> int:
        self._sequences[name] = self._sequences.get(name, 0) + 1
        return self._sequences[name]

    def bump_sequence(self, name: str, value: int) -> None:
        self._sequences[name] = max(self._sequences.get(name, 0), value)

    def new_uuid(self) -> str:
        return str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))

    def unused_name(self, *tables: str) -> str:
        """A random 8-character name no row of ``tables`` has (xivo-dao's ``find_unused_hash``)."""
        taken = {row.get("name") for table in tables for row in self.tables[table].values()}
        while (name := "".join(self.rng.choice(_NAME_ALPHABET) for _ in range(8))) in taken:
            pass
        return name

    # -- the SIP namespace

    def named(self, name: str) -> list[tuple[str, Record]]:
        """The rows of ``NAMED_TABLES`` called ``name``, with their table."""
        found = self._named(name)
        if any(row is None or row["name"] != name for _table, row in found):
            self._names = None  # a row was renamed behind the index's back: rebuild it
            found = self._named(name)
        return found  # type: ignore[return-value]

    def _named(self, name: str) -> list[tuple[str, Record | None]]:
        return [(t, self.tables[t].get(key)) for t, key in self._name_index().get(name, ())]

    def put_named(self, table: str, row: Record) -> None:
        """Insert (or replace) a row of ``NAMED_TABLES``, keyed by its uuid."""
        old = self.tables[table].get(row["uuid"])
        if old is not None:
            self._unname(table, old)
        self.tables[table][row["uuid"]] = row
        if self._names is not None:
            self._names.setdefault(row["name"], {})[(table, row["uuid"])] = None

    def rename(self, table: str, row: Record, name: str) -> None:
        self._unname(table, row)
        row["name"] = name
        if self._names is not None:
            self._names.setdefault(name, {})[(table, row["uuid"])] = None

    def delete_named(self, table: str, uuid: str) -> None:
        self._unname(table, self.tables[table].pop(uuid))

    def _unname(self, table: str, row: Record) -> None:
        holders = (self._names or {}).get(row["name"])
        if holders is not None:
            holders.pop((table, row["uuid"]), None)
            if not holders:
                del self._names[row["name"]]  # type: ignore[union-attr]

    def _name_index(self) -> dict[str, dict[tuple[str, Key], None]]:
        if self._names is None:
            self._names = {}
            for table in NAMED_TABLES:
                for key, row in self.tables[table].items():
                    self._names.setdefault(row["name"], {})[(table, key)] = None
        return self._names

    # -- trunks and their endpoints

    def trunk_with(self, column: str, key: Key) -> Record | None:
        """The trunk whose endpoint ``column`` (one of ``TRUNK_LINKS``) is ``key``."""
        for _attempt in (1, 2):
            trunk_id = self._link_index().get((column, key))
            if trunk_id is None:
                return None
            trunk = self.tables["trunks"].get(trunk_id)
            if trunk is not None and trunk[column] == key:
                return trunk
            self._trunk_links = None  # a trunk changed behind the index's back: rebuild it
        return None

    def trunk_endpoint(self, trunk: Record) -> tuple[str, Record] | None:
        """A trunk's endpoint and its table (one of ``ENDPOINT_TABLES``); None without one."""
        for table, column in zip(ENDPOINT_TABLES, TRUNK_LINKS, strict=True):
            if (endpoint := self.tables[table].get(trunk[column])) is not None:
                return table, endpoint
        return None

    def link_trunk(self, trunk: Record, column: str, key: Key | None) -> None:
        """Set a trunk's endpoint ``column`` (``None``: no endpoint)."""
        links = self._trunk_links
        old = trunk[column]
        if links is not None and old is not None and links.get((column, old)) == trunk["id"]:
            del links[(column, old)]
        trunk[column] = key
        if links is not None and key is not None:
            links.setdefault((column, key), trunk["id"])

    def delete_trunk(self, trunk_id: Key) -> None:
        trunk = self.tables["trunks"][trunk_id]
        for column in TRUNK_LINKS:
            self.link_trunk(trunk, column, None)
        del self.tables["trunks"][trunk_id]

    def _link_index(self) -> dict[tuple[str, Key], Key]:
        if self._trunk_links is None:
            self._trunk_links = {}
            for trunk_id, trunk in self.tables["trunks"].items():
                for column in TRUNK_LINKS:
                    if trunk[column] is not None:
                        self._trunk_links.setdefault((column, trunk[column]), trunk_id)
        return self._trunk_links

    def indexes_consistent(self) -> bool:
        """Whether the kept indexes equal indexes built afresh from the tables (for tests)."""
        names, links = self._names, self._trunk_links
        self._names = self._trunk_links = None
        fresh_names, fresh_links = self._name_index(), self._link_index()
        self._names, self._trunk_links = names, links
        return (names is None or names == fresh_names) and (links is None or links == fresh_links)

    def snapshot(self) -> dict[str, object]:
        """A deep copy of everything, JSON-serialisable (for ``GET /_sandbox/state``)."""
        state: dict[str, object] = {name: list(rows.values()) for name, rows in self.tables.items()}
        state["pjsip"] = self.pjsip
        state["live_reload"] = self.live_reload
        return copy.deepcopy(state)
