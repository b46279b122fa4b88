"""Collection GETs: confd's list query schema and xivo-dao's search system.

``limit``/``offset``/``search``/``recurse`` are checked by confd's ``ListSchema`` (xivo.mallow
messages), then xivo-dao validates ``offset``/``limit``/``direction`` and applies, in order:
``search``, an accent-insensitive ``ILIKE '%term%'`` (``_`` and ``%`` are wildcards) OR-ed over
the searchable columns cast to text; the exact filters (any query key naming a column; an
integer column compared with a non-integer gives nothing); the sort by ``order`` (a column,
default per resource; NULLs last when ascending, as PostgreSQL does). ``total`` counts the rows
before ``offset``/``limit``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wazo_reconcile.sandbox import problems
from wazo_reconcile.sandbox.mallow import (
    XivoBoolean,
    XivoInteger,
    XivoRange,
    XivoString,
    load,
    schema,
)
from wazo_reconcile.sandbox.store import Record

LIST_SCHEMA = schema(
    {
        "limit": XivoInteger(validate=XivoRange(min=0)),
        "offset": XivoInteger(validate=XivoRange(min=0)),
        "search": XivoString(),
        "recurse": XivoBoolean(),
    }
)


SortKey = tuple[int, int, str]


@dataclass(frozen=True)
class SearchConfig:
    """The searchable/filterable/sortable columns of a resource (xivo-dao ``SearchConfig``):
    each column name maps to a key of the (possibly derived) row; a missing key reads None."""

    columns: Mapping[str, str]
    default_sort: str
    search: Sequence[str] | None = None  # None: every column is searched
    integers: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls,
        *names: str,
        default_sort: str,
        search: Sequence[str] | None = None,
        integers: frozenset[str] = frozenset({"id"}),
    ) -> SearchConfig:
        """Columns stored under their own name (``integers``: by default an ``id`` column)."""
        return cls({name: name for name in names}, default_sort, search, integers)

    def value(self, row: Record, column: str) -> object:
        return row.get(self.columns[column])


@dataclass(frozen=True)
class ListParams:
    limit: int | None
    offset: int
    search: str | None
    recurse: bool
    order: str | None
    direction: str
    filters: Mapping[str, str]


def parse_params(query: Mapping[str, str]) -> ListParams:
    loaded = load(LIST_SCHEMA, dict(query))
    return ListParams(
        limit=loaded.get("limit"),
        offset=loaded.get("offset", 0),
        search=loaded.get("search"),
        recurse=bool(loaded.get("recurse", False)),
        order=query.get("order") or None,
        direction=query.get("direction", "asc"),
        filters=query,
    )


def search(
    rows: Sequence[Record], config: SearchConfig, params: ListParams
) -> tuple[int, list[Record]]:
    """Filter, sort and paginate ``rows``; returns ``(total, page)``."""
    if params.limit is not None and params.limit <= 0:
        raise problems.wrong_type("limit", "positive number")
    if params.direction not in ("asc", "desc"):
        raise problems.input_error("direction: must be 'asc' or 'desc'")
    found = list(rows)
    if params.search:
        found = [row for row in found if _matches_search(row, config, params.search)]
    filters = {k: v for k, v in params.filters.items() if k in config.columns}
    if filters:
        found = [row for row in found if _matches_filters(row, config, filters)]
    found = _sorted(found, config, params)
    end = None if not params.limit else params.offset + params.limit
    return len(found), found[params.offset : end]


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def as_text(value: object) -> str | None:
    """A column value cast to text the way PostgreSQL casts it (booleans as true/false)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def like_pattern(term: str) -> re.Pattern[str]:
    """``ILIKE '%term%'`` as a regex: ``%`` and ``_`` are wildcards, backslash escapes."""
    parts, escaped = [], False
    for char in _fold(term):
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def _matches_search(row: Record, config: SearchConfig, term: str) -> bool:
    pattern = like_pattern(term)
    return any(
        (text := as_text(config.value(row, column))) is not None
        and pattern.search(_fold(text)) is not None
        for column in (config.columns if config.search is None else config.search)
    )


def _matches_filters(row: Record, config: SearchConfig, filters: Mapping[str, str]) -> bool:
    return all(
        _equals(config.value(row, name), wanted, integer=name in config.integers)
        for name, wanted in filters.items()
    )


def _equals(value: object, wanted: str, *, integer: bool) -> bool:
    if integer:
        try:
            return isinstance(value, int | str) and int(value) == int(wanted)
        except ValueError:
            return False
    if isinstance(value, bool):
        return value == (wanted.lower() in ("t", "true", "y", "yes", "on", "1"))
    return as_text(value) == wanted


def _sorted(rows: list[Record], config: SearchConfig, params: ListParams) -> list[Record]:
    order = params.order or config.default_sort
    if order not in config.columns:
        raise problems.input_error(f"order: column '{order}' was not found")
    column = config.columns[order]
    reverse = params.direction == "desc"
    return sorted(rows, key=lambda row: _sort_key(row.get(column)), reverse=reverse)


def _sort_key(value: object) -> SortKey:
    """Numbers (and booleans) before text, then NULLs: last when ascending and first when
    descending, as PostgreSQL sorts them (a stable sort keeps equal rows in table order)."""
    if value is None:
        return (2, 0, "")
    if isinstance(value, bool | int):
        return (0, int(value), "")
    return (1, 0, str(value))
