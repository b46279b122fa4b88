"""Keeping secrets out of logs and messages: masking of request bodies, redaction of text.

Two complementary tools:

- :func:`mask` replaces the *values* of secret-looking keys in a JSON-like body (``password``
  keys, and confd option pairs such as ``["password", "s3cret"]`` or ``["md5_cred", …]``), for
  bodies that are logged at DEBUG.
- :func:`redact` / :class:`RedactingFilter` remove *known* secret strings (the token, the
  wazo-auth password, option passwords of a request) from any text, for error messages echoed
  by the server and as a last line of defence on log handlers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from wazo_reconcile.secrets import MIN_SCRUB_LENGTH

MASK = "********"

SECRET_KEYS = frozenset(
    {
        "password",
        "secret",  # IAX
        "md5_cred",
        "auth_password",  # IAX registers
        "token",
        "x-auth-token",
        "authorization",
        "refresh_token",
    }
)


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.strip().lower() in SECRET_KEYS


def _is_pair(value: object) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str)


def mask(value: Any) -> Any:
    """A copy of ``value`` with the values of secret keys and secret option pairs masked."""
    if isinstance(value, dict):
        return {
            k: MASK if is_secret_key(k) and v not in (None, "") else mask(v)
            for k, v in value.items()
        }
    if _is_pair(value) and is_secret_key(value[0]):
        return [value[0], MASK]
    if isinstance(value, list | tuple):
        return [mask(item) for item in value]
    return value


def secret_values(value: Any) -> set[str]:
    """The secret strings found in ``value`` (the ones :func:`mask` would hide)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if is_secret_key(key) and isinstance(item, str) and item:
                found.add(item)
            else:
                found |= secret_values(item)
    elif _is_pair(value) and is_secret_key(value[0]):
        if isinstance(value[1], str) and value[1]:
            found.add(value[1])
    elif isinstance(value, list | tuple):
        for item in value:
            found |= secret_values(item)
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by the mask.

    Values shorter than `MIN_SCRUB_LENGTH` are left alone, as `SecretRegistry` does: masking a
    one-letter token would mangle every word of the text (validate warns about such values).
    """
    wanted = {s for s in secrets if len(s) >= MIN_SCRUB_LENGTH}
    for secret in sorted(wanted, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter (for handlers) that redacts registered secret strings from records.

    Attach it to a *handler* so that it sees records of every logger, including third-party
    ones (``httpx``, ``httpcore``). Thread-safe; secrets can be added at any time.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset(s for s in secrets if s)

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            self._secrets = self._secrets | {s for s in secrets if s}

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if not secrets:
            return True
        message = record.getMessage()
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text, secrets)
            record.exc_info = None
        return True
