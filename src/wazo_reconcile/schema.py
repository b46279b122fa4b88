"""Stage 2a, validate: check each document of a stack against the JSON Schema.

``schemas/stack.schema.json`` (draft-07) is the single definition of the format: editors
use it through yaml-language-server, ``docs/format.md`` is generated from it, and this module
turns its violations into located :class:`Problem` s with plain messages ("unknown key
'regstration'; did you mean 'registration'?").

Validity is decided by a validator that fastjsonschema compiles from the schema, once per
process: ten times faster than jsonschema on a big stack. Only what it refuses (a document,
then each of its declarations) is checked again by jsonschema, whose errors say where and
why. The compiled validator must never accept what jsonschema refuses: a test compares both
on generated documents.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import fastjsonschema

from wazo_reconcile.errors import Problem
from wazo_reconcile.secrets import is_secret_key
from wazo_reconcile.stack import Document, Stack, describe, format_path
from wazo_reconcile.suggest import suggest

if TYPE_CHECKING:
    from jsonschema import Draft7Validator, ValidationError

JsonPath = tuple[str | int, ...]

SCHEMA_FILE = "schemas/stack.schema.json"
INVENTORY_SCHEMA_FILE = "schemas/inventory.schema.json"
_FILES = {"stack": SCHEMA_FILE, "inventory": INVENTORY_SCHEMA_FILE}


@cache
def load_schema(name: str = "stack") -> dict[str, Any]:
    """A schema shipped with the package: ``stack`` (a stack document), ``inventory`` (an
    inventory), ``variables`` (a ``--vars`` file: the inventory's definition of variables)."""
    if name == "variables":
        inventory = load_schema("inventory")
        return {"definitions": inventory["definitions"], "$ref": "#/definitions/variables"}
    text = resources.files("wazo_reconcile").joinpath(_FILES[name]).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True)
class SchemaReport:
    """Schema problems of a stack, and which declarations they touch."""

    problems: tuple[Problem, ...]
    invalid: frozenset[tuple[int, str, str]]  # Declaration.key of declarations with a problem


def validate_stack(stack: Stack) -> SchemaReport:
    """Validate every document of a stack; all problems, not just the first."""
    problems: list[Problem] = []
    invalid: set[tuple[int, str, str]] = set()
    for document in stack.documents:
        for path, problem in validate_document(document):
            problems.append(problem)
            if len(path) >= 2 and isinstance(path[1], str):
                invalid.add((document.ordinal, str(path[0]), path[1]))
    return SchemaReport(tuple(problems), frozenset(invalid))


def validate_document(document: Document, schema: str = "stack") -> list[tuple[JsonPath, Problem]]:
    """The schema problems of one document (of a stack, or of another of `load_schema`'s
    schemas), each with the path it is about."""
    checker = _checker(schema)
    if checker.is_valid(document.data):
        return []
    found: dict[tuple[JsonPath, str], Problem] = {}
    for prefix, error in checker.errors(document.data):
        for path, problem in _problems(error, prefix, document):
            found.setdefault((path, problem.message), problem)
    return [(path, problem) for (path, _), problem in found.items()]


class _Checker:
    """The compiled validator for documents; jsonschema for the details of what it refuses.

    The declarations of a refused document are checked one by one by compiled validators of
    their kind, and only those refused go to jsonschema, then the document without them: a
    big document with one bad trunk costs one trunk of jsonschema. jsonschema is imported
    only then: its import costs more than validating a small stack.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.text = json.dumps(schema)
        self.is_valid = _compiled(self.text)
        # The schema of each collection's entries (trunks, …), as JSON text made once: the
        # key of its cached validators.
        self.collections: dict[str, str] = {}
        self.names: dict[str, str] = {}  # the schema of a collection's keys, if it has one
        for key, prop in schema.get("properties", {}).items():
            item = prop.get("additionalProperties")
            if isinstance(item, dict) and "$ref" in item and prop.get("properties") is None:
                wrapper = {"definitions": schema["definitions"], "$ref": item["$ref"]}
                self.collections[key] = json.dumps(wrapper)
                if "propertyNames" in prop:
                    self.names[key] = json.dumps({"propertyNames": prop["propertyNames"]})

    def errors(self, data: dict[str, Any]) -> Iterator[tuple[JsonPath, ValidationError]]:
        """Errors with the path prefix of the instance they were found in."""
        shallow = dict(data)
        for key, wrapper_text in self.collections.items():
            entries = data.get(key)
            if not isinstance(entries, dict):
                continue
            shallow[key] = {}
            if key in self.names:  # the shallow document lost the keys: check them here
                keys = dict.fromkeys(entries)
                for error in _validator(self.names[key]).iter_errors(keys):
                    yield (key,), error
            entry_is_valid = _compiled(wrapper_text)
            for name, entry in entries.items():
                if not entry_is_valid(entry):
                    for error in _validator(wrapper_text).iter_errors(entry):
                        yield (key, name), error
        for error in _validator(self.text).iter_errors(shallow):
            yield (), error


@cache
def _compiled(schema_text: str) -> Callable[[Any], bool]:
    """Whether a value is valid, by the validator fastjsonschema compiles for the schema."""
    # use_default=False: never write the schema's defaults into the stack's values.
    validate = fastjsonschema.compile(json.loads(schema_text), use_default=False)

    def is_valid(value: Any) -> bool:
        try:
            validate(value)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    return is_valid


@cache
def _validator(schema_text: str) -> Draft7Validator:
    from jsonschema import Draft7Validator

    return Draft7Validator(json.loads(schema_text))


@cache
def _checker(name: str = "stack") -> _Checker:
    return _Checker(load_schema(name))


# ------------------------------------------------------------------------------ messages


def _problems(
    error: ValidationError, prefix: JsonPath, document: Document
) -> list[tuple[JsonPath, Problem]]:
    if error.context:
        from jsonschema.exceptions import best_match

        # anyOf/oneOf: the alternative that went furthest says the most.
        return _problems(best_match(error.context), prefix, document)
    path = (*prefix, *error.absolute_path)
    if "propertyNames" in error.schema_path:
        # jsonschema reports a bad key at its mapping; point at the key itself.
        path = (*path, str(error.instance))
    handler = _HANDLERS.get(str(error.validator), _generic)
    found = []
    for at_path, message, on_key in handler(error, path, document):
        location = document.locate(at_path, key=on_key)
        found.append((at_path, Problem(location, format_path(at_path), message)))
    return found


Message = tuple[JsonPath, str, bool]  # path, message, locate on the key


def _additional(error: ValidationError, path: JsonPath, document: Document) -> Iterator[Message]:
    schema, instance = error.schema, error.instance
    if not isinstance(schema, dict) or not isinstance(instance, dict):
        return
    known = list(schema.get("properties", {}))
    for key in instance:
        if key in known:
            continue
        message = f"unknown key '{key}'"
        close = suggest(str(key), known)
        if close:
            message += f"; did you mean '{close}'?"
        elif known:
            message += f" (expected one of: {', '.join(known)})"
        yield (*path, key), message, True


def _false_schema(error: ValidationError, path: JsonPath, document: Document) -> Iterator[Message]:
    # Our only `false` subschemas refuse keys of other trunk types. jsonschema reports them at
    # the trunk (without the key), so report every such key of the trunk; duplicates merge.
    trunk = _lookup(document.data, path[:2])
    if len(path) < 2 or path[0] != "trunks" or not isinstance(trunk, dict):
        yield path, "not allowed here", True
        return
    kind = str(trunk.get("type", "sip"))
    article = "an" if kind[:1] in ("a", "e", "i", "o", "u") else "a"
    for key in trunk:
        types = _trunk_key_types().get(str(key))
        if types and kind not in types:
            only = " and ".join(types)
            message = f"'{key}' does not apply to {article} {kind} trunk (only to {only} trunks)"
            yield (*path[:2], key), message, True


@cache
def _trunk_key_types() -> dict[str, list[str]]:
    props = load_schema()["definitions"]["trunk"]["properties"]
    return {key: prop.get("x-trunk-types", []) for key, prop in props.items()}


def _required(error: ValidationError, path: JsonPath, document: Document) -> Iterator[Message]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    for key in _keyword_value(error):
        if key not in instance:
            yield path, f"missing required key '{key}'", True


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean (yes/no)",
    "null": "null",
}


def _type(error: ValidationError, path: JsonPath, document: Document) -> Iterator[Message]:
    wanted = _keyword_value(error)
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    words = [_TYPE_WORDS[n] for n in names if n != "null"] or ["null"]
    expected = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
    message = _custom(error) or f"expected {expected}, got {describe(error.instance)}"
    yield path, message, isinstance(error.instance, dict | list)


def _enum(error: ValidationError, path: JsonPath, document: Document) -> Iterator[Message]:
    choices = [str(c) for c in _keyword_value(error)]
    message = f"must be one of: {', '.join(choices)}"
    if isinstance(error.instance, str) and not any(is_secret_key(part) for part in path):
        message = f"'{error.instance}' is not allowed; {message}"
        close = suggest(error.instance, choices)
        if close:
            message += f"; did you mean '{close}'?"
    yield path, message, False


def _const(error: ValidationError, path: JsonPath, document: Document) -> Iterator[Message]:
    if path == ("version",):
        yield path, "must be 1 (the only version of the format)", False
    else:
        yield path, f"must be {json.dumps(error.validator_value)}", False


def _pattern(error: ValidationError, path: JsonPath, document: Document) -> Iterator[Message]:
    message = _custom(error) or f"does not match the pattern {error.validator_value}"
    yield path, message, "propertyNames" in error.schema_path


def _unique(error: ValidationError, path: JsonPath, document: Document) -> Iterator[Message]:
    seen: set[str] = set()
    items = error.instance if isinstance(error.instance, list) else []
    for index, item in enumerate(items):
        if isinstance(item, str):
            if item in seen:
                yield (*path, index), f"'{item}' is listed twice", False
            seen.add(item)


def _bounds(error: ValidationError, path: JsonPath, document: Document) -> Iterator[Message]:
    limit = error.validator_value
    messages = {
        "minimum": f"must be at least {limit}",
        "maximum": f"must be at most {limit}",
        "maxLength": f"is too long: at most {limit} characters (got {_length(error.instance)})",
        "minLength": "must not be empty",
        "minItems": "must not be empty" if limit == 1 else f"needs at least {limit} items",
        "maxItems": f"has too many items (at most {limit})",
    }
    yield path, _custom(error) or messages[str(error.validator)], False


def _generic(error: ValidationError, path: JsonPath, document: Document) -> Iterator[Message]:
    yield path, _custom(error) or f"is not valid here ({error.validator})", False


def _keyword_value(error: ValidationError) -> Any:
    return error.validator_value  # typed `Any | Unset` by the stubs; set on every error here


def _custom(error: ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, dict) else {}
    specific = schema.get("patternErrorMessage") if error.validator == "pattern" else None
    return specific or schema.get("errorMessage")


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | list) else 0


def _lookup(data: Any, path: JsonPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


_HANDLERS: dict[str, Callable[[ValidationError, JsonPath, Document], Iterator[Message]]] = {
    "additionalProperties": _additional,
    "None": _false_schema,  # a `false` subschema
    "required": _required,
    "type": _type,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "uniqueItems": _unique,
    **dict.fromkeys(
        ("minimum", "maximum", "maxLength", "minLength", "minItems", "maxItems"), _bounds
    ),
}
