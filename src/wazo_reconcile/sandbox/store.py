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
)

_NAME_ALPHABET = string.ascii_lowercase + string.digits


class Store:
    """Tables of records plus the singletons (PJSIP global/system, live reload)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tables: dict[str, dict[Any, Record]] = {name: {} for name in TABLES}
        self.pjsip: dict[str, dict[str, str]] = {"global": {}, "system": {}}
        self.live_reload = True
        self._sequences: dict[str, int] = {}

    def table(self, name: str) -> dict[Any, Record]:
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

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of everything, JSON-serialisable (for ``GET /_sandbox/state``)."""
        state: dict[str, Any] = {name: list(rows.values()) for name, rows in self.tables.items()}
        state["pjsip"] = self.pjsip
        state["live_reload"] = self.live_reload
        return copy.deepcopy(state)
