"""What confd and xivo add on top of marshmallow, the library confd validates bodies with.

Request bodies are loaded by marshmallow itself, so the messages are confd's
(``{0: ['Length must be between 2 and 2.']}``). Added here: confd's base schema, ``Nested`` and
``StrictBoolean`` (``wazo_confd/helpers/mallow.py``), and the fields and range of
``xivo.mallow`` (confd's list query schema), whose messages are dicts naming the constraint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from wazo_reconcile.sandbox import problems

T = TypeVar("T")


class BaseSchema(Schema):
    """confd's ``BaseSchema``: unknown keys dropped, a falsy body (``null``, ``[]``) read as
    ``{}``."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def ensure_dict(self, data: object, **kwargs: object) -> object:
        return data or {}


def schema(declared: Mapping[str, fields.Field], base: type[Schema] = BaseSchema) -> Schema:
    """A schema (an instance, reused for every load) of ``declared`` fields, in that order."""
    return base.from_dict(dict(declared))()


def load(schema: Schema, data: Any, *, partial: bool = False) -> dict[str, Any]:
    """``data`` loaded by ``schema``; a failure is confd's 400, one message per bad field."""
    try:
        form: dict[str, Any] = schema.load(data, partial=partial)
    except ValidationError as exc:
        raise problems.schema_errors(exc.messages_dict) from None
    return form


class Nested(fields.Nested):
    """confd's ``Nested``: a nested object is loaded whole, even in a partial load."""

    def _deserialize(
        self,
        value: object,
        attr: str | None,
        data: Mapping[str, object] | None,
        partial: object = None,
        **kwargs: object,
    ) -> object:
        return super()._deserialize(value, attr, data, partial=False, **kwargs)


class StrictBoolean(fields.Boolean):
    """confd's ``StrictBoolean``: JSON ``true``/``false`` only (no ``"true"``, no ``1``)."""

    def _deserialize(
        self, value: object, attr: str | None, data: Mapping[str, object] | None, **kwargs: object
    ) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


# -- xivo.mallow ------------------------------------------------------------------------------


class _XivoMessages(fields.Field):
    """A failure of the field is ``{message, constraint_id, constraint}``."""

    kind = ""  # the constraint of a value of the wrong type

    def make_error(self, key: str, **kwargs: object) -> ValidationError:
        constraint_id = {"invalid": "type", "null": "not_null"}.get(key, key)
        return ValidationError(
            {
                "message": self.error_messages[key].format(**kwargs),
                "constraint_id": constraint_id,
                "constraint": self.kind if constraint_id == "type" else constraint_id,
            }
        )


class XivoInteger(_XivoMessages, fields.Integer):
    kind = "integer"


class XivoString(_XivoMessages, fields.String):
    kind = "string"


class XivoBoolean(_XivoMessages, fields.Boolean):
    kind = "boolean"


class XivoRange(validate.Range):
    """xivo.mallow's ``Range``: ``{constraint_id, constraint, message}`` (message last)."""

    def __call__(self, value: T) -> T:
        try:
            return super().__call__(value)
        except ValidationError as error:
            bounds = {"min": self.min, "max": self.max}
            constraint = {k: v for k, v in bounds.items() if v is not None}
            message = error.messages[0]
            raise ValidationError(
                {"constraint_id": "range", "constraint": constraint, "message": message}
            ) from None
