"""Errors and exit codes.

The tree of expected failures; the message of each is what the user reads::

    ReconcileError                 exit 1 unless stated
    ├── ConfigError                bad input: YAML, schema, references, secrets (all problems)
    ├── UsageError                 a command line that cannot be acted on
    ├── ApiError                   confd/wazo-auth answered an error, or could not be reached
    │   ├── AuthError              401/403: token missing, expired or not allowed
    │   └── OutcomeUnknownError    a write that may or may not have been applied: read back
    ├── UnsafePlanError            a safety guard refused the plan            exit 3
    └── StalePlanError             a saved plan no longer matches the live state

A partly failed apply is not an exception: it is a report with failed outcomes (exit 4); an
apply whose trunks do not come up (`--wait-healthy`) is a report too (exit 5).
Anything else reaching the CLI is a bug: traceback plus "please report".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

# Control characters, line separators and bidirectional overrides would act on the reader's
# terminal or CI log (erase or reorder a line; a "\n" or U+2028 starts a fake line, e.g. a CI
# runner's "::" command): text from the input or from the PBX is shown with them escaped, as
# Python writes them.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with its control characters escaped (``\\n``, ``\\x1b``, ``\\u202e``)."""
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(lambda m: repr(m[0])[1:-1], text)


def plural(count: int, word: str) -> str:
    """``count`` and ``word``, with an s unless there is one: "1 change", "3 changes"."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    CHANGES = 2
    REFUSED = 3
    PARTIAL = 4
    UNHEALTHY = 5  # applied, but a trunk that should register is not registered
    INTERRUPTED = 130


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in a YAML file; line and column are 1-based."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth saying) about the input, located in a file."""

    location: Location
    path: str  # JSON-path-like position in the document, e.g. "trunks.acme.endpoint"
    message: str
    severity: str = "error"  # "error" | "warning" | "info"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return printable(f"{self.location}: {self.path}: {prefix}{self.message}")

    def sort_key(self) -> tuple[Location, str, str]:
        return (self.location, self.path, self.message)


class ReconcileError(Exception):
    """An expected failure; ``str(error)`` is the message for the user."""

    exit_code: int = ExitCode.ERROR


class ConfigError(ReconcileError):
    """Bad input. Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(sorted(problems, key=Problem.sort_key))
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(ReconcileError):
    """A command line that cannot be acted on."""


class ApiError(ReconcileError):
    """The PBX answered with an error, or could not be reached."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        messages: list[str] | tuple[str, ...] = (),
        *,
        detail: str = "",
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.messages = tuple(messages)
        status_text = f"HTTP {status}" if status is not None else "no response"
        text = f"{method} {path}: {status_text}"
        if self.messages:
            text += ": " + "; ".join(self.messages)
        if detail:
            text += f" ({detail})"
        super().__init__(text)


class AuthError(ApiError):
    """Authentication or authorisation refused (401/403)."""


class OutcomeUnknownError(ApiError):
    """A write (POST, PUT, DELETE) whose effect is unknown: it may or may not have been applied.

    Raised instead of blindly retrying when a request may have reached confd but no usable
    answer came back (read timeout, connection dropped after sending, 500/502/503/504; a 5xx
    can follow a commit, REFERENCE.md §1.8). The caller reads the object back by identity.
    """


class UnsafePlanError(ReconcileError):
    """A safety guard refused the plan; the message names ``--force``."""

    exit_code = ExitCode.REFUSED


class StalePlanError(ReconcileError):
    """A saved plan was computed against a live state that has changed since."""
