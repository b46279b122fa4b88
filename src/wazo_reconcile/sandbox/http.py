"""Transport-neutral HTTP request and response values of the sandbox."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

# Flask's answer for a URL no route matches (confd's converters reject e.g. a malformed uuid).
HTML_404 = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again.</p>\n"
)


# Compact UTF-8 JSON and a final newline; keys that are not strings (the integer ids of
# `state()`'s tables) become strings, as json always does.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Request:
    """One request: ``path`` is percent-decoded, ``query`` keeps the first value of each key
    (``query_items`` every pair, in order), header names are lower-case, ``origin`` is
    ``scheme://host[:port]`` as the client sent it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""
    origin: str = "http://sandbox"
    query_items: tuple[tuple[str, str], ...] = ()

    def query_list(self, key: str) -> list[str]:
        """Every value of a repeated query parameter (``?uuids=a&uuids=b``)."""
        return [value for name, value in self.query_items if name == key]

    @classmethod
    def build(
        cls, method: str, url: str, headers: Mapping[str, str], body: bytes, origin: str
    ) -> Request:
        parts = urlsplit(url)
        query: dict[str, str] = {}
        items = tuple(parse_qsl(parts.query, keep_blank_values=True))
        for key, value in items:
            query.setdefault(key, value)
        return cls(
            method=method.upper(),
            path=unquote(parts.path),
            query=query,
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            origin=origin,
            query_items=items,
        )


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: object, headers: Mapping[str, str] | None = None) -> Response:
        payload = (_ENCODER.encode(data) + "\n").encode()
        return cls(status, payload, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", {"Content-Type": "application/json"})

    @classmethod
    def html_not_found(cls) -> Response:
        return cls(404, HTML_404.encode(), {"Content-Type": "text/html; charset=utf-8"})
