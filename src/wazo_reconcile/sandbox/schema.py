"""Request-body validation with marshmallow's semantics and wording, as confd uses it.

Only what confd relies on: ordered fields, unknown keys dropped, ``required``, ``allow_none``
and ``load_default`` (applied on POST only: a ``partial`` load skips absent keys entirely),
every validator of a field run and its messages collected, nested errors keyed by index or
field. Messages are marshmallow 3's, so ``str(errors)`` matches what confd prints
(``{0: ['Length must be between 2 and 2.']}``). ``rich`` fields/validators produce the
dict-shaped messages of ``xivo.mallow`` (used by confd's list query schema).
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping
from copy import deepcopy
from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()

Validator = Callable[[Any], None]


class Invalid(Exception):
    """A validation failure; ``messages`` is a list of messages or a dict of nested ones."""

    def __init__(self, messages: list[Any] | dict[Any, Any]) -> None:
        super().__init__(messages)
        self.messages = messages


def _message(text: str, rich: bool, constraint_id: str, constraint: Any) -> Any:
    if not rich:
        return text
    return {"message": text, "constraint_id": constraint_id, "constraint": constraint}


def length(
    min: int | None = None, max: int | None = None, *, equal: int | None = None
) -> Validator:
    def check(value: Any) -> None:
        size = len(value)
        if equal is not None:
            if size != equal:
                raise Invalid([f"Length must be {equal}."])
            return
        too_short = min is not None and size < min
        too_long = max is not None and size > max
        if not (too_short or too_long):
            return
        if min is not None and max is not None:
            raise Invalid([f"Length must be between {min} and {max}."])
        if too_short:
            raise Invalid([f"Shorter than minimum length {min}."])
        raise Invalid([f"Longer than maximum length {max}."])

    return check


def value_range(min: int | None = None, max: int | None = None, *, rich: bool = False) -> Validator:
    constraint = {k: v for k, v in (("min", min), ("max", max)) if v is not None}

    def check(value: Any) -> None:
        if (min is None or value >= min) and (max is None or value <= max):
            return
        if min is not None and max is not None:
            text = f"Must be greater than or equal to {min} and less than or equal to {max}."
        elif min is not None:
            text = f"Must be greater than or equal to {min}."
        else:
            text = f"Must be less than or equal to {max}."
        raise Invalid([_message(text, rich, "range", constraint)])

    return check


def one_of(choices: Iterable[str]) -> Validator:
    allowed = list(choices)

    def check(value: Any) -> None:
        if value not in allowed:
            raise Invalid([f"Must be one of: {', '.join(allowed)}."])

    return check


def regexp(pattern: str) -> Validator:
    compiled = re.compile(pattern)

    def check(value: Any) -> None:
        if compiled.match(value) is None:
            raise Invalid(["String does not match expected pattern."])

    return check


def predicate(method: str) -> Validator:
    def check(value: Any) -> None:
        if not getattr(value, method)():
            raise Invalid(["Invalid input."])

    return check


class Field:
    """A field: conversion (``convert``) then every validator, messages collected."""

    invalid = "Not a valid value."
    constraint = "value"

    def __init__(
        self,
        *,
        required: bool = False,
        allow_none: bool | None = None,
        load_default: Any = MISSING,
        validate: Iterable[Validator] = (),
        rich: bool = False,
    ) -> None:
        self.required = required
        self.load_default = load_default
        self.allow_none = (load_default is None) if allow_none is None else allow_none
        self.validators = tuple(validate)
        self.rich = rich

    def fail(self) -> Invalid:
        return Invalid([_message(self.invalid, self.rich, "type", self.constraint)])

    def missing_message(self) -> list[Any]:
        return [_message("Missing data for required field.", self.rich, "required", "required")]

    def load(self, value: Any) -> Any:
        if value is None:
            if self.allow_none:
                return None
            raise Invalid([_message("Field may not be null.", self.rich, "not_null", "not_null")])
        converted = self.convert(value)
        errors: list[Any] = []
        for validator in self.validators:
            try:
                validator(converted)
            except Invalid as exc:
                errors.extend(exc.messages)
        if errors:
            raise Invalid(errors)
        return converted

    def convert(self, value: Any) -> Any:
        return value


class String(Field):
    invalid = "Not a valid string."
    constraint = "string"

    def convert(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise self.fail()
        return value


class Integer(Field):
    invalid = "Not a valid integer."
    constraint = "integer"

    def convert(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise self.fail()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise self.fail()


TRUTHY = {"t", "T", "true", "True", "TRUE", "on", "On", "ON", "y", "Y", "yes", "Yes", "YES", "1"}
FALSY = {"f", "F", "false", "False", "FALSE", "off", "Off", "OFF", "n", "N", "no", "No", "NO", "0"}


class Boolean(Field):
    """marshmallow's lenient Boolean, or confd's ``StrictBoolean`` (JSON true/false only)."""

    invalid = "Not a valid boolean."
    constraint = "boolean"

    def __init__(self, *, strict: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.strict = strict

    def convert(self, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if self.strict:
            raise self.fail()
        return parse_bool(value, self.fail)


def parse_bool(value: Any, fail: Callable[[], Exception]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value in TRUTHY:
        return True
    if isinstance(value, str) and value in FALSY:
        return False
    raise fail()


class Uuid(Field):
    invalid = "Not a valid UUID."
    constraint = "uuid"

    def convert(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return str(uuidlib.UUID(value))
            except ValueError:
                pass
        raise self.fail()


_EMAIL = re.compile(r"^[^@\s]+@([A-Za-z0-9-]+\.)+[A-Za-z0-9-]{2,}$")


class Email(String):
    def convert(self, value: Any) -> Any:
        text = super().convert(value)
        if not _EMAIL.match(text):
            raise Invalid(["Not a valid email address."])
        return text


class List(Field):
    invalid = "Not a valid list."
    constraint = "list"

    def __init__(self, inner: Field, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner = inner

    def convert(self, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise self.fail()
        return load_each(value, self.inner.load)


class Nested(Field):
    def __init__(self, schema: Schema, *, many: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = schema
        self.many = many

    def convert(self, value: Any) -> Any:
        if not self.many:
            return self.schema.load_nested(value)
        if not isinstance(value, list | tuple):
            raise Invalid({"_schema": ["Invalid input type."]})
        return load_each(value, self.schema.load_nested)


def load_each(items: Iterable[Any], load: Callable[[Any], Any]) -> list[Any]:
    """Load every item; the errors are keyed by index (``{0: [...], 2: {...}}``)."""
    result, errors = [], {}
    for index, item in enumerate(items):
        try:
            result.append(load(item))
        except Invalid as exc:
            errors[index] = exc.messages
    if errors:
        raise Invalid(errors)
    return result


SchemaCheck = Callable[[dict[str, Any]], None]


class Schema:
    """Ordered fields; ``load`` returns the known keys, or raises ``Invalid({field: msgs})``."""

    def __init__(
        self,
        fields: Mapping[str, Field],
        *,
        pre_load: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        check: SchemaCheck | None = None,
    ) -> None:
        self.fields = dict(fields)
        self.pre_load = pre_load
        self.check = check

    def load(self, data: Any, *, partial: bool = False) -> dict[str, Any]:
        """Load a request body; confd treats any falsy body (``null``, ``[]``) as ``{}``."""
        return self._load(data or {}, partial=partial)

    def load_nested(self, data: Any) -> dict[str, Any]:
        """Load a nested object; confd's ``ensure_dict`` pre-load applies there too."""
        return self._load(data or {}, partial=False)

    def _load(self, data: Any, *, partial: bool) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise Invalid({"_schema": ["Invalid input type."]})
        if self.pre_load is not None:
            data = self.pre_load(dict(data))
        result: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, field in self.fields.items():
            raw = data.get(name, MISSING)
            if raw is MISSING:
                self._absent(name, field, partial, result, errors)
                continue
            try:
                result[name] = field.load(raw)
            except Invalid as exc:
                errors[name] = exc.messages
        if not errors and self.check is not None:
            try:
                self.check(result)
            except Invalid as exc:
                errors["_schema"] = exc.messages
        if errors:
            raise Invalid(errors)
        return result

    @staticmethod
    def _absent(
        name: str, field: Field, partial: bool, result: dict[str, Any], errors: dict[str, Any]
    ) -> None:
        if partial:
            return
        if field.required:
            errors[name] = field.missing_message()
        elif field.load_default is not MISSING:
            result[name] = deepcopy(field.load_default)
