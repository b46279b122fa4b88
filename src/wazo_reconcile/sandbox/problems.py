"""Errors of the emulated confd, worded exactly as wazo-confd / xivo-dao word them.

confd answers every error with a JSON list of strings. The business-rule messages are built by
``xivo_dao.helpers.errors`` as ``"<Category> - <error> (<metadata>)"`` where the metadata is the
``str()`` of a Python dict without its braces, so values keep their Python ``repr``:
``'id': 3``, ``'name': 'foo'``, ``'uuid': UUID('…')``. :func:`_error` reproduces that.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping, Sequence

BAD_REQUEST = "The browser (or proxy) sent a request that this server could not understand."


class ApiProblem(Exception):
    """An HTTP error answer: a status and confd's JSON body (a list of messages)."""

    def __init__(self, status: int, body: object) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


class OrderedDictRepr:
    """Renders like ``repr(OrderedDict(...))`` did on the Python confd runs on (3.11)."""

    def __init__(self, items: Mapping[str, object]) -> None:
        self.items = items

    def __repr__(self) -> str:
        pairs = ", ".join(f"({key!r}, {value!r})" for key, value in self.items.items())
        return f"OrderedDict([{pairs}])"


def as_uuid(value: str) -> uuidlib.UUID | str:
    """A value that renders as ``UUID('…')`` in messages (or stays a string if malformed)."""
    try:
        return uuidlib.UUID(str(value))
    except ValueError:
        return value


def _error(status: int, category: str, error: str, metadata: dict[str, object]) -> ApiProblem:
    shown = f" ({str(metadata).strip('{}')})" if metadata else ""
    return ApiProblem(status, [f"{category} - {error}{shown}"])


def not_found(resource: str, **metadata: object) -> ApiProblem:
    return _error(404, "Resource Not Found", f"{resource} was not found", metadata)


def param_not_found(field: str, resource: str, **metadata: object) -> ApiProblem:
    return _error(400, "Input Error", f"field '{field}': {resource} was not found", metadata)


def resource_exists(resource: str, **metadata: object) -> ApiProblem:
    return _error(400, "Resource Error", f"{resource} already exists", metadata)


def resource_associated(resource: str, other: str, **metadata: object) -> ApiProblem:
    return _error(400, "Resource Error", f"{resource} is associated with a {other}", metadata)


def different_tenants(**metadata: object) -> ApiProblem:
    return _error(400, "Resource Error", "different tenants", metadata)


def not_permitted(reason: str) -> ApiProblem:
    return _error(400, "Resource Error", f"Operation not permitted. {reason}", {})


def unhandled_context_type(context_type: str, **metadata: object) -> ApiProblem:
    return _error(
        400, "Resource Error", f"ContextType '{context_type}' cannot be associated", metadata
    )


def invalid_choice(field: str, choices: Sequence[str]) -> ApiProblem:
    return _error(400, "Input Error", f"'{field}' must be one of ({', '.join(choices)})", {})


def wrong_type(field: str, expected: str) -> ApiProblem:
    return _error(400, "Input Error", f"field '{field}': wrong type. Should be a {expected}", {})


def input_error(text: str) -> ApiProblem:
    return ApiProblem(400, [f"Input Error - {text}"])


def schema_errors(errors: Mapping[str, object]) -> ApiProblem:
    """One message per bad field, as confd's ``extract_http_messages`` formats marshmallow's."""
    return ApiProblem(400, [f"Input Error - {key}: {value}" for key, value in errors.items()])


def bad_request() -> ApiProblem:
    return ApiProblem(400, [BAD_REQUEST])


def unexpected(detail: str) -> ApiProblem:
    return ApiProblem(500, [f"Unexpected error: {detail}"])


def unauthorized(token: str, acl: str, tenant: str | None = None) -> ApiProblem:
    """The 401 of confd's auth verifier: the text is the repr of its arguments."""
    args = (token, acl) if tenant is None else (token, acl, tenant)
    return ApiProblem(401, [repr(args)])


def not_master_tenant(token: str) -> ApiProblem:
    """The 401 of ``@required_master_tenant``: its text is the token alone."""
    return ApiProblem(401, [token])
