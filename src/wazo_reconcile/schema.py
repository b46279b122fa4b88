"""Stage 2a, validate: check each document of a stack against the JSON Schema.

``schemas/stack.schema.json`` (draft 2020-12) is the single definition of the format: editors
use it through yaml-language-server, ``docs/format.md`` is generated from it, and this module
turns its violations into located :class:`Problem` s with plain messages ("unknown key
'regstration'; did you mean 'registration'?").

jsonschema is thorough but slow on big stacks (about 0.5 ms per trunk), so the schema is also
compiled into plain Python predicates (:func:`compile_schema`) that only say valid or not.
Valid declarations, the common case, never reach jsonschema; an invalid one is re-checked by
jsonschema alone, for the details. The predicates must never accept what jsonschema refuses:
a test compares both on generated documents.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from wazo_reconcile.config import Document, Stack, describe, format_path
from wazo_reconcile.errors import Problem
from wazo_reconcile.secrets import is_secret_key

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

Check = Callable[[Any], bool]
JsonPath = tuple[str | int, ...]

SCHEMA_FILE = "schemas/stack.schema.json"


@cache
def load_schema() -> dict[str, Any]:
    """The stack document schema shipped with the package."""
    text = resources.files("wazo_reconcile").joinpath(SCHEMA_FILE).read_text("utf-8")
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


def validate_document(document: Document) -> list[tuple[JsonPath, Problem]]:
    """The schema problems of one document, each with the path it is about."""
    checker = _checker()
    if checker.document(document.data):
        return []
    found: dict[tuple[JsonPath, str], Problem] = {}
    for prefix, error in checker.errors(document.data):
        for path, problem in _problems(error, prefix, document):
            found.setdefault((path, problem.message), problem)
    return [(path, problem) for (path, _), problem in found.items()]


class _Checker:
    """Fast predicates for a document and its collections; jsonschema for the details.

    jsonschema itself is imported only when a document is invalid: its import costs more
    than validating a small stack.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.document = compile_schema(schema)
        self.text = json.dumps(schema)
        # The schemas as JSON text, made once: the key of their cached jsonschema validators.
        self.collections: dict[str, tuple[Check, str]] = {}
        for key, prop in schema["properties"].items():
            item = prop.get("additionalProperties")
            if isinstance(item, dict) and "$ref" in item and prop.get("properties") is None:
                wrapper = {"$defs": schema["$defs"], "$ref": item["$ref"]}
                self.collections[key] = (compile_schema(wrapper), json.dumps(wrapper))

    def errors(self, data: dict[str, Any]) -> Iterator[tuple[JsonPath, ValidationError]]:
        """Errors with the path prefix of the instance they were found in."""
        # Entries of the collections one by one, each re-checked by jsonschema only if the
        # fast predicate refuses it; then the document with those collections emptied.
        shallow = dict(data)
        for key, (check, wrapper_text) in self.collections.items():
            entries = data.get(key)
            if not isinstance(entries, dict):
                continue
            shallow[key] = {}
            for name, entry in entries.items():
                if not check(entry):
                    for error in _validator(wrapper_text).iter_errors(entry):
                        yield (key, name), error
        for error in _validator(self.text).iter_errors(shallow):
            yield (), error


@cache
def _validator(schema_text: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_text))


@cache
def _checker() -> _Checker:
    return _Checker(load_schema())


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
    props = load_schema()["$defs"]["trunk"]["properties"]
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
    if isinstance(error.instance, str) and not _is_secret_path(path):
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


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """The choice closest to a misspelt word (case aside), if one is close enough."""
    lowered = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1)
    return lowered[close[0]] if close else None


def _keyword_value(error: ValidationError) -> Any:
    return error.validator_value


def _custom(error: ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, dict) else {}
    specific = schema.get("patternErrorMessage") if error.validator == "pattern" else None
    return specific or schema.get("errorMessage")


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | list) else 0


def _is_secret_path(path: JsonPath) -> bool:
    return any(is_secret_key(part) for part in path)


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
    "minimum": _bounds,
    "maximum": _bounds,
    "maxLength": _bounds,
    "minLength": _bounds,
    "minItems": _bounds,
    "maxItems": _bounds,
}


# ------------------------------------------------------------------------------ compiler

# Keywords that never change validity (annotations, and our editor/doc extensions).
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "errorMessage",
        "patternErrorMessage",
        "markdownDescription",
    }
)


def compile_schema(schema: Mapping[str, Any] | bool) -> Check:
    """A predicate equivalent to jsonschema validity for the subset of 2020-12 we use.

    Raises ``ValueError`` on a keyword it does not know, so a schema change cannot silently
    make it accept too much.
    """
    root = schema if isinstance(schema, Mapping) else {}
    return _Compiler(root).compile(schema)


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check | None] = {}  # None while being compiled

    def compile(self, schema: Mapping[str, Any] | bool) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        assert isinstance(schema, Mapping)
        unknown = {
            k
            for k in schema
            if k not in _ANNOTATIONS and k not in _KNOWN and not k.startswith("x-")
        }
        if unknown:
            raise ValueError(f"cannot compile schema keywords {sorted(unknown)}")
        kinds = {
            "object": self._object(schema),
            "array": self._array(schema),
            "string": _string_check(schema),
            "number": _number_check(schema),
        }
        general = [
            part
            for part in (
                self._ref(schema),
                _value_check(schema),
                self._logic(schema),
                self._conditional(schema),
            )
            if part is not None
        ]
        if "type" in schema and not general:
            # The common case: a type and keywords of that type, in one call per value.
            return _by_type(schema["type"], kinds)
        type_check = _type_check(schema.get("type"))
        parts = [part for part in kinds.values() if part is not None] + general
        return _all(parts if type_check is None else [type_check, *parts])

    def _ref(self, schema: Mapping[str, Any]) -> Check | None:
        ref = schema.get("$ref")
        if ref is None:
            return None
        if ref not in self.refs:
            self.refs[ref] = None
            self.refs[ref] = self.compile(self._resolve(ref))
        compiled = self.refs[ref]
        if compiled is not None:
            return compiled
        refs = self.refs  # a recursive reference: look it up when called
        return lambda x: refs[ref](x)  # type: ignore[misc]

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported: {ref}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node  # type: ignore[no-any-return]

    def _object(self, schema: Mapping[str, Any]) -> Check | None:
        keys = ("properties", "additionalProperties", "required", "propertyNames")
        if not any(k in schema for k in keys):
            return None
        props = {k: self.compile(v) for k, v in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        additional = None if extra is None else self.compile(extra)
        required = tuple(schema.get("required", ()))
        names = schema.get("propertyNames")
        name_check = None if names is None else self.compile(names)
        if additional is None and name_check is None:
            return _properties_only(props, required)

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return True
            for key in required:
                if key not in x:
                    return False
            for key, value in x.items():
                if name_check is not None and not name_check(key):
                    return False
                item = props.get(key, additional)
                if item is not None and not item(value):
                    return False
            return True

        return check

    def _array(self, schema: Mapping[str, Any]) -> Check | None:
        keys = ("items", "prefixItems", "minItems", "maxItems", "uniqueItems")
        if not any(k in schema for k in keys):
            return None
        prefix = [self.compile(s) for s in schema.get("prefixItems", ())]
        rest = self.compile(schema["items"]) if "items" in schema else _always
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        unique = bool(schema.get("uniqueItems"))

        def check(x: Any) -> bool:
            if not isinstance(x, list):
                return True
            if len(x) < low or (high is not None and len(x) > high):
                return False
            for index, item in enumerate(x):
                item_check = prefix[index] if index < len(prefix) else rest
                if not item_check(item):
                    return False
            return not unique or _unique_scalars(x)

        return check

    def _logic(self, schema: Mapping[str, Any]) -> Check | None:
        checks = []
        if "allOf" in schema:
            checks.append(_all([self.compile(s) for s in schema["allOf"]]))
        if "anyOf" in schema:
            options = [self.compile(s) for s in schema["anyOf"]]
            checks.append(lambda x: any(o(x) for o in options))
        if "oneOf" in schema:
            choices = [self.compile(s) for s in schema["oneOf"]]
            checks.append(lambda x: sum(1 for c in choices if c(x)) == 1)
        if "not" in schema:
            negated = self.compile(schema["not"])
            checks.append(lambda x: not negated(x))
        return _all(checks) if checks else None

    def _conditional(self, schema: Mapping[str, Any]) -> Check | None:
        if "if" not in schema:
            return None
        condition = self.compile(schema["if"])
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))
        return lambda x: then(x) if condition(x) else otherwise(x)


_KNOWN = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "properties",
        "additionalProperties",
        "required",
        "propertyNames",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "uniqueItems",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
    }
)


def _always(x: Any) -> bool:
    return True


def _never(x: Any) -> bool:
    return False


def _all(checks: Sequence[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def check(x: Any) -> bool:
        for one in frozen:
            if not one(x):
                return False
        return True

    return check


def _type_check(wanted: str | Sequence[str] | None) -> Check | None:
    if wanted is None:
        return None
    return _by_type(wanted, {})


def _by_type(wanted: str | Sequence[str], kinds: Mapping[str, Check | None]) -> Check:
    """Accept the JSON types named, each checked by its own keywords (``kinds``).

    Dispatches on the Python class of the value; subclasses (``IntText``) are looked up
    through their bases once, then remembered.
    """
    names = {wanted} if isinstance(wanted, str) else set(wanted)
    number = kinds.get("number") or _always
    table: dict[type, Check] = {}
    if "object" in names:
        table[dict] = kinds.get("object") or _always
    if "array" in names:
        table[list] = kinds.get("array") or _always
    if "string" in names:
        table[str] = kinds.get("string") or _always
    if "boolean" in names:
        table[bool] = _always  # numeric keywords never apply to booleans
    if "null" in names:
        table[type(None)] = _always
    if "number" in names:
        table[int] = table[float] = number
    elif "integer" in names:
        table[int] = number
        table[float] = lambda x: x.is_integer() and number(x)  # 1.0 is an integer too

    def check(x: Any) -> bool:
        kind = type(x)
        part = table.get(kind)
        if part is None:
            part = table[kind] = _base_check(kind, table)
        return part(x)

    return check


def _base_check(kind: type, table: Mapping[type, Check]) -> Check:
    if issubclass(kind, bool):
        return _never  # a bool is never a JSON number
    for base in kind.__mro__[1:]:
        if base in table:
            return table[base]
    return _never


def _properties_only(props: dict[str, Check], required: tuple[str, ...]) -> Check:
    """An object check with no additionalProperties: visit the listed properties only."""
    items = tuple(props.items())

    def check(x: Any) -> bool:
        if not isinstance(x, dict):
            return True
        for key in required:
            if key not in x:
                return False
        for key, item in items:
            if key in x and not item(x[key]):
                return False
        return True

    return check


def _value_check(schema: Mapping[str, Any]) -> Check | None:
    if "const" in schema:
        expected = [schema["const"]]
    elif "enum" in schema:
        expected = list(schema["enum"])
    else:
        return None
    if all(isinstance(e, str) for e in expected):
        choices = frozenset(expected)
        return lambda x: isinstance(x, str) and x in choices
    scalars = [(type(e) is bool, e) for e in expected]
    return lambda x: any(
        (type(x) is bool) == is_bool and type(x) is not list and type(x) is not dict and x == e
        for is_bool, e in scalars
    )


def _string_check(schema: Mapping[str, Any]) -> Check | None:
    if not any(k in schema for k in ("pattern", "minLength", "maxLength")):
        return None
    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
    low, high = schema.get("minLength", 0), schema.get("maxLength")

    def check(x: Any) -> bool:
        if not isinstance(x, str):
            return True
        if len(x) < low or (high is not None and len(x) > high):
            return False
        return pattern is None or pattern.search(x) is not None

    return check


def _number_check(schema: Mapping[str, Any]) -> Check | None:
    if "minimum" not in schema and "maximum" not in schema:
        return None
    low, high = schema.get("minimum"), schema.get("maximum")

    def check(x: Any) -> bool:
        if not isinstance(x, int | float) or isinstance(x, bool):
            return True
        return (low is None or x >= low) and (high is None or x <= high)

    return check


def _unique_scalars(items: list[Any]) -> bool:
    keys = []
    for item in items:
        if isinstance(item, dict | list):
            return False  # not worth it here: let jsonschema decide
        keys.append((type(item) is bool, item))
    return len(set(keys)) == len(keys)
