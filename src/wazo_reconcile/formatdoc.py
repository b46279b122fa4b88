"""Documentation: the key reference of ``docs/format.md``, generated from the stack schema.

    python -m wazo_reconcile.formatdoc docs/format.md      # rewrite the generated part

Only the part between the two markers is generated; the rest of the page is written by hand.
A test regenerates it and compares, so the page cannot drift from the schema.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from wazo_reconcile.schema import load_schema

BEGIN = "<!-- BEGIN GENERATED: python -m wazo_reconcile.formatdoc docs/format.md -->"
END = "<!-- END GENERATED -->"

# What stands for the name of an entry of a collection, in documented paths.
ENTRY_NAMES = {"users": "<user>", "ignore": "<kind/name>"}

Row = tuple[str, str, str, str]  # path, type, description, example


def render_reference(schema: Mapping[str, Any]) -> str:
    """Markdown tables of every key of the format, one section per top-level key."""
    parts = []
    for key, prop in schema["properties"].items():
        rows = list(_rows(schema, (key,), prop))
        parts.append(f"### `{key}`\n\n{_table(rows)}")
    return "\n\n".join(parts) + "\n"


def replace_generated(page: str, generated: str) -> str:
    """The page with the text between the markers replaced."""
    head, found, rest = page.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not found or not found_end:
        raise ValueError(f"markers {BEGIN!r} and {END!r} not found")
    return f"{head}{BEGIN}\n\n{generated}\n{END}{tail}"


def generated_part(page: str) -> str:
    """The text between the markers, as :func:`replace_generated` writes it."""
    return page.partition(BEGIN)[2].partition(END)[0].removeprefix("\n\n").removesuffix("\n")


def _rows(schema: Mapping[str, Any], path: tuple[str, ...], prop: Any) -> Iterator[Row]:
    full = _resolved(schema, prop)
    yield _row(schema, path, full)
    for key, child in full.get("properties", {}).items():
        yield from _rows(schema, (*path, key), child)
    entry = full.get("additionalProperties")
    if isinstance(entry, dict) and _has_keys(schema, entry):
        yield from _rows(schema, (*path, ENTRY_NAMES.get(path[-1], "<name>")), entry)
    items = full.get("items")
    if isinstance(items, dict) and _has_keys(schema, items):
        for key, child in _resolved(schema, items).get("properties", {}).items():
            yield from _rows(schema, (*path, "[]", key), child)


def _has_keys(schema: Mapping[str, Any], prop: Mapping[str, Any]) -> bool:
    return bool(_resolved(schema, prop).get("properties"))


def _row(schema: Mapping[str, Any], path: tuple[str, ...], full: Mapping[str, Any]) -> Row:
    description = full.get("description", "")
    types = full.get("x-trunk-types", [])
    if 0 < len(types) < 3:
        description += f" *{' and '.join(types).upper()} trunks only.*"
    examples = full.get("examples", [])
    example = f"`{json.dumps(examples[0], ensure_ascii=False)}`" if examples else ""
    return _path(path), _type(schema, full), description, example


def _path(path: Sequence[str]) -> str:
    return "`" + ".".join(path).replace(".[]", "[]") + "`"


def _type(schema: Mapping[str, Any], full: Mapping[str, Any]) -> str:
    if "const" in full:
        return f"`{json.dumps(full['const'])}`"
    if "enum" in full:
        text = " \\| ".join(f"`{value}`" for value in full["enum"])
        return text + (f" (default `{full['default']}`)" if "default" in full else "")
    names = full.get("type", [])
    names = [names] if isinstance(names, str) else list(names)
    if set(names) == {"object", "array"}:
        return "options"
    words = {"object": "mapping", "array": "list", "number": "number", "null": "null"}
    text = " \\| ".join(words.get(name, name) for name in names)
    if "array" in names and isinstance(full.get("items"), dict):
        item = _resolved(schema, full["items"])
        inner = item.get("type")
        if "enum" in item:
            text = text.replace("list", "list of " + " \\| ".join(f"`{v}`" for v in item["enum"]))
        elif isinstance(inner, str) and inner != "object":
            text = text.replace("list", f"list of {inner}s")
    return text or "options"


def _table(rows: list[Row]) -> str:
    lines = ["| key | type | description | example |", "|---|---|---|---|"]
    lines += [
        "| "
        + " | ".join(cell.replace("|", "\\|") if i == 2 else cell for i, cell in enumerate(row))
        + " |"
        for row in rows
    ]
    return "\n".join(lines)


def _resolved(schema: Mapping[str, Any], prop: Any) -> dict[str, Any]:
    if not isinstance(prop, Mapping):
        return {}
    if "$ref" not in prop:
        return dict(prop)
    target = schema["definitions"][prop["$ref"].rsplit("/", 1)[-1]]
    merged = {**_resolved(schema, target), **prop}
    merged.pop("$ref")
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        sys.stderr.write("usage: python -m wazo_reconcile.formatdoc docs/format.md\n")
        return 1
    page = Path(args[0])
    text = page.read_text(encoding="utf-8")
    page.write_text(replace_generated(text, render_reference(load_schema())), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
