"""References and secrets: ``${env:NAME}`` / ``${file:path}`` / ``${var:NAME}``, their
resolution, and scrubbing.

Any string value of a stack may hold references, several of them, inside other text
(``sip:${env:ACME_USER}@sip.acme.example``). ``${file:path}`` is relative to the directory of
the document that holds it; one trailing newline of the file is dropped. ``${var:NAME}`` is a
variable of the PBX (the inventory's, or a ``--vars`` file's): not a secret, so plans show its
value. Errors name the variable or the path, never a value. The schemes are one table,
`REF_SCHEMES`; text that looks like a reference but is not one (``${ENV:P}``, ``$env:P``,
``${env:P``, ``${vault:x}``) is found by :func:`malformed_refs`, so that a typo never becomes a
password.

Every value of a secret reference (``env``, ``file``), every value a reference gives to a
secret key, and every literal value of a secret key (``password``, ``secret``, ``md5_cred``,
``auth_password``) goes into a :class:`SecretRegistry`, whose :meth:`scrub
<SecretRegistry.scrub>` masks them in any text: the safety net the CLI runs its output through.
Request bodies logged at DEBUG are masked by key (:func:`mask`), and log records of every
logger by value (:class:`ScrubbingFilter`).

This module is the one home of what a secret is (`SECRET_KEYS`, `CREDENTIAL_KEYS`) and of how
a masked value reads (`MASK`).
"""

from __future__ import annotations

import errno
import html
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import quote, quote_plus

from wazo_reconcile.errors import ReconcileError, printable

# What a secret value becomes wherever the tool shows, logs or writes it.
MASK = "(sensitive)"
# Keys whose values are secrets wherever they appear (option sections, IAX options, IAX
# registers), whatever their case.
SECRET_KEYS = frozenset({"password", "secret", "md5_cred", "auth_password"})
# Also secret in the HTTP bodies and headers the client logs (wazo-auth tokens).
CREDENTIAL_KEYS = SECRET_KEYS | {"token", "x-auth-token", "authorization", "refresh_token"}
# Shorter values are not masked: masking "1" would garble every message. Lint warns instead.
MIN_SCRUB_LENGTH = 4
# A secret is a short string; a bigger ``${file:…}`` is a mistake, not read into memory.
MAX_SECRET_FILE = 64 * 1024
# ``${file:…}`` never reads from the kernel's pseudo-filesystems: /proc/self/environ would
# send the tool's own environment (its token, its password) to the PBX as a "secret".
FORBIDDEN_SECRET_DIRS = (Path("/proc"), Path("/sys"), Path("/dev"))
# Longer values are masked with str.replace, outside the regex: compiling a 1 MB value into a
# pattern takes seconds (hostile input: a 1 MB literal password), and no real secret is that long.
LONG_SECRET = 4096
_NEVER = re.compile(r"(?!)")

_SECRET_FORMS = frozenset(f for k in SECRET_KEYS for f in (k, k.upper(), k.capitalize()))


class Scheme(NamedTuple):
    """A reference scheme: ``${<scheme>:<target>}``."""

    form: str  # how messages show it
    secret: bool  # its values are secrets wherever they are used, masked in every output


# The reference schemes a value may hold. Another scheme is one more entry here: the reference
# syntax and the check of malformed references follow this table.
REF_SCHEMES: dict[str, Scheme] = {
    "env": Scheme("${env:NAME}", secret=True),
    "file": Scheme("${file:path}", secret=True),
    "var": Scheme("${var:NAME}", secret=False),
}
REF_PATTERN = re.compile(r"\$\{(" + "|".join(REF_SCHEMES) + r"):([^}]*)\}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
VAR_NAME = ENV_NAME  # the name of a ${var:…} variable


@dataclass(frozen=True, slots=True)
class SecretRef:
    """One ``${scheme:target}`` reference inside a string."""

    scheme: str  # "env" | "file" | "var"
    target: str  # the variable name or the path, as written
    start: int
    end: int

    @property
    def secret(self) -> bool:
        """Whether the value is a secret wherever it is used (``env``, ``file``)."""
        return REF_SCHEMES[self.scheme].secret

    def __str__(self) -> str:
        return f"${{{self.scheme}:{self.target}}}"


class SecretError(ReconcileError):
    """A reference that cannot be resolved (a secret, or a variable); the message names it,
    never a value."""

    def __init__(self, ref: SecretRef, reason: str) -> None:
        self.ref = ref
        self.reason = reason
        super().__init__(f"{ref}: {reason}")


def has_refs(text: str) -> bool:
    return "${" in text and REF_PATTERN.search(text) is not None


def has_secret_refs(text: str) -> bool:
    """Whether ``text`` holds a reference whose value is a secret (``env``, ``file``)."""
    return any(ref.secret for ref in find_refs(text))


def find_refs(text: str) -> list[SecretRef]:
    """The references in ``text``, in order."""
    if "${" not in text:
        return []
    return [SecretRef(m[1], m[2], m.start(), m.end()) for m in REF_PATTERN.finditer(text)]


# What may be a reference attempt: `${word:…`, `$word:`/`$(word:`, `{word:` (a missing `$`).
_BRACED = re.compile(r"\$\{(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*):([^}]*)(\}?)")
_UNBRACED = re.compile(r"\$(\(?)\s*([A-Za-z_][A-Za-z0-9_]*)\s*:([^\s})]*)[)}]?")
_NO_DOLLAR = re.compile(r"(?<![$\w])\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:([^}\s]*)\}?")
# `${VAR:1}`, `${VAR:-4:2}`: Asterisk's substrings of a variable, never references.
_SUBSTRING = re.compile(r"\s*-?[0-9]+(?::-?[0-9]+)?\s*")


class Malformed(NamedTuple):
    """Text that looks like a reference and is not one."""

    start: int
    written: str  # the text as written
    message: str  # what is wrong, with the expected form


def might_hold_refs(text: str) -> bool:
    """A cheap test: could `malformed_refs` find something in ``text``?"""
    return ":" in text and ("$" in text or "{" in text)


def malformed_refs(text: str) -> list[Malformed]:
    """The malformed references of ``text``: a scheme in the wrong case (``${ENV:P}``), a
    missing brace or dollar (``$env:P``, ``$(env:P)``, ``{env:P}``), an unclosed reference
    (``${env:P``), spaces inside (``${ env:P}``), an unknown lower-case scheme
    (``${vault:x}``). Asterisk's own ``${VAR}``, ``${VAR:1}``, ``${FUNC(…)}`` are not
    references and are left alone."""
    if not might_hold_refs(text) or not might_hold_refs(REF_PATTERN.sub("", text)):
        return []  # nothing, or only well-formed references (most values that have one)
    found = [m for m in map(_braced, _BRACED.finditer(text)) if m is not None]
    taken = {m.start for m in found}
    for match in _UNBRACED.finditer(text):
        scheme = match[2].lower()
        if scheme in REF_SCHEMES and match.start() not in taken:
            brace = "parentheses instead of braces" if match[1] else "a missing brace"
            found.append(_not_a_reference(match, brace, scheme, match[3]))
    for match in _NO_DOLLAR.finditer(text):
        scheme = match[1].lower()
        if scheme in REF_SCHEMES:
            found.append(_not_a_reference(match, "a missing $", scheme, match[2]))
    return sorted(found)


def _not_a_reference(match: re.Match[str], reason: str, scheme: str, target: str) -> Malformed:
    message = f"'{match[0]}' is not a reference ({reason}): write {_form(scheme, target)}"
    return Malformed(match.start(), match[0], message)


def _braced(match: re.Match[str]) -> Malformed | None:
    before, word, after, target, closing = match.groups()
    scheme = word.lower()
    if scheme not in REF_SCHEMES:
        if word != scheme or not closing or _SUBSTRING.fullmatch(target):
            return None  # an Asterisk variable (upper case), or not a reference at all
        *others, last = (v.form for v in REF_SCHEMES.values())
        known = f"{', '.join(others)} and {last}"
        message = f"unknown reference scheme '{word}' in '{match[0]}': the references are {known}"
        return Malformed(match.start(), match[0], message)
    if not closing or "${" in target:
        written = match[0] if closing and "${" not in target else match[0].split(" ")[0]
        intended = target.split("${")[0].split()[0] if target.split() else ""
        message = f"'{written}' is not closed: write {_form(scheme, intended)}"
        return Malformed(match.start(), written, message)
    if before or after:
        reason = "spaces"
    elif word != scheme:
        reason = "schemes are lower case"
    else:
        return None  # a well-formed reference: resolving it tells the rest
    return _not_a_reference(match, reason, scheme, target)


def _form(scheme: str, target: str) -> str:
    """The reference as it should be written (the scheme's form when the target is lost)."""
    target = target.strip()
    return f"${{{scheme}:{target}}}" if target else REF_SCHEMES[scheme].form


def syntax_error(ref: SecretRef) -> str | None:
    """What is wrong with a well-formed reference's target, known without resolving it."""
    if ref.scheme == "env" and not ENV_NAME.fullmatch(ref.target):
        return f"not a valid environment variable name (the form is {REF_SCHEMES['env'].form})"
    if ref.scheme == "var" and not VAR_NAME.fullmatch(ref.target):
        return "not a valid variable name (letters, digits and _)"
    if ref.scheme == "file" and not ref.target:
        return f"empty file path (the form is {REF_SCHEMES['file'].form})"
    return None


def is_secret_key(key: object) -> bool:
    """An option key (any section, any case) whose value is a secret."""
    return isinstance(key, str) and key.strip().lower() in SECRET_KEYS


class Outcome(NamedTuple):
    """The resolution of the references of one string."""

    values: tuple[tuple[SecretRef, str], ...]  # each resolved reference and its value
    errors: tuple[SecretError, ...]  # each unresolvable reference
    expanded: str | None  # the whole text with its references replaced; None on error


class SecretResolver:
    """Resolves references against an environment, the files next to the documents and the
    PBX's variables (``None``: no variable is defined, ``${var:…}`` is an error).

    File contents are cached by path, so a password file used by 5,000 trunks is read once,
    and expansions by text: a resolver sees the environment and the files of one moment.
    """

    def __init__(
        self, env: Mapping[str, str] | None = None, variables: Mapping[str, str] | None = None
    ) -> None:
        self.env = os.environ if env is None else env
        self.variables = variables
        # Keyed by the directory's text: each document has its own equal Path object, and
        # comparing two Paths runs Python code (35,000 lookups for 5,000 trunks).
        self._files: dict[tuple[str, str], str | SecretError] = {}
        self._outcomes: dict[tuple[str, str], Outcome] = {}

    def outcome(self, text: str, base_dir: Path) -> Outcome:
        """What resolving every reference of ``text`` gives, without raising (memoised)."""
        key = (str(base_dir), text)
        known = self._outcomes.get(key)
        if known is None:
            values: list[tuple[SecretRef, str]] = []
            errors: list[SecretError] = []
            parts, last = [], 0
            for ref in find_refs(text):
                try:
                    value = self.resolve(ref, base_dir)
                except SecretError as exc:
                    errors.append(exc)
                    continue
                values.append((ref, value))
                parts += [text[last : ref.start], value]
                last = ref.end
            expanded = None if errors else "".join(parts) + text[last:]
            known = self._outcomes[key] = Outcome(tuple(values), tuple(errors), expanded)
        return known

    def resolve(self, ref: SecretRef, base_dir: Path) -> str:
        """The value of one reference; raises :class:`SecretError`."""
        problem = syntax_error(ref)
        if problem:
            raise SecretError(ref, problem)
        if ref.scheme == "env":
            return self._env(ref)
        if ref.scheme == "var":
            return self._var(ref)
        return self._file(ref, base_dir)

    def expand(self, text: str, base_dir: Path) -> str:
        """``text`` with every reference replaced by its value; raises :class:`SecretError`
        (the first of its references that cannot be resolved)."""
        if "${" not in text:
            return text
        # memoised: 5,000 trunks share one ${file:…} password, expanded once
        outcome = self.outcome(text, base_dir)
        if outcome.expanded is None:
            raise outcome.errors[0]
        return outcome.expanded

    def _env(self, ref: SecretRef) -> str:
        value = self.env.get(ref.target)
        if value is None:
            raise SecretError(ref, f"environment variable {ref.target} is not set")
        return value

    def _var(self, ref: SecretRef) -> str:
        if self.variables is None:
            raise SecretError(
                ref,
                f"variable {ref.target} is not defined: no variables are given (define it in "
                "the PBX's entry of the inventory, with --inventory and --pbx, or in a file "
                "given with --vars)",
            )
        value = self.variables.get(ref.target)
        if value is None:
            defined = ", ".join(sorted(self.variables)) or "none"
            raise SecretError(ref, f"variable {ref.target} is not defined (defined: {defined})")
        return value

    def _file(self, ref: SecretRef, base_dir: Path) -> str:
        key = (str(base_dir), ref.target)
        cached = self._files.get(key)
        if cached is None:
            path = base_dir / Path(ref.target).expanduser()
            cached = self._files[key] = _read_secret_file(ref, path)
        if isinstance(cached, SecretError):
            raise SecretError(ref, cached.reason)
        return cached


def _read_secret_file(ref: SecretRef, path: Path) -> str | SecretError:
    real = Path(os.path.realpath(path))
    for forbidden in FORBIDDEN_SECRET_DIRS:
        if real.is_relative_to(forbidden):
            return SecretError(
                ref, f"{path} is under {forbidden}: secrets are never read from {forbidden}"
            )
    try:
        data = _read_small_regular_file(path)
    except FileNotFoundError:
        return SecretError(ref, f"file {path} not found")
    except IsADirectoryError:
        return SecretError(ref, f"{path} is a directory")
    except PermissionError:
        return SecretError(ref, f"file {path} cannot be read (permission denied)")
    except OSError as exc:
        return SecretError(ref, f"file {path} cannot be read ({exc.strerror})")
    if data is None:
        return SecretError(ref, f"file {path} is larger than {MAX_SECRET_FILE // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return SecretError(ref, f"file {path} is not UTF-8 text")
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # newlines as text mode reads them
    return text.removesuffix("\n")


def _read_small_regular_file(path: Path) -> bytes | None:
    """At most MAX_SECRET_FILE bytes of a regular file (None if it is bigger). A device, a
    FIFO or a socket is refused before reading: ``${file:/dev/zero}`` would never end, a
    FIFO block forever."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file")
        data = handle.read(MAX_SECRET_FILE + 1)
    return None if len(data) > MAX_SECRET_FILE else data


def expand(text: str, *, env: Mapping[str, str], base_dir: Path) -> str:
    """``text`` with its references resolved (no caching; see :class:`SecretResolver`)."""
    return SecretResolver(env).expand(text, base_dir)


# ------------------------------------------------------------------------------ walking

StringPath = tuple[str | int, ...]


class Found(NamedTuple):
    """A string that holds references (``refs``) or is the value of a secret key (``slot``)."""

    path: StringPath
    text: str
    refs: bool
    slot: bool


def scan_strings(
    value: object, suspects: list[tuple[StringPath, str]] | None = None
) -> list[Found]:
    """Strings that hold references or are values of secret keys.

    Values of secret keys include the value of a ``[key, value]`` pair. ``suspects``, when
    given, receives the other strings that `malformed_refs` should read. Written for speed: it
    visits every node of big stacks, and builds a path only for what it returns.
    """
    found: list[Found] = []
    if isinstance(value, dict | list):
        _scan(value, (), found, suspects)
    return found


def _scan(
    value: dict[str, object] | list[object],
    path: StringPath,
    found: list[Found],
    suspects: list[tuple[StringPath, str]] | None,
    secret: bool = False,
) -> None:
    # `secret`: the strings directly inside are secrets (the value list of a secret key).
    items: Iterable[tuple[str | int, object]]
    if isinstance(value, dict):
        items, secret_pair = value.items(), False
    else:
        items = enumerate(value)
        first = value[0] if len(value) == 2 else None
        secret_pair = isinstance(first, str) and first.lower() in SECRET_KEYS
    for key, item in items:
        if isinstance(item, str):
            refs = "${" in item and REF_PATTERN.search(item) is not None
            slot = bool(item) and (secret or _is_secret_slot(key, secret_pair))
            if refs or slot:
                found.append(Found((*path, key), item, refs, slot))
            elif suspects is not None and might_hold_refs(item):
                suspects.append(((*path, key), item))
        elif isinstance(item, dict | list):
            slot = isinstance(item, list) and _is_secret_slot(key, False)
            _scan(item, (*path, key), found, suspects, slot)


def _is_secret_slot(key: str | int, secret_pair: bool) -> bool:
    if type(key) is int:
        return secret_pair and key == 1
    return key in _SECRET_FORMS


# ----------------------------------------------------------------------------- scrubbing


# How a secret may reach an output other than as itself: escaped in a JSON document (with or
# without \u escapes), in a Python repr, URL-encoded, in HTML, re-spaced for a one-line
# message, escaped for a terminal (`errors.printable`); and two of these in a row (a JSON body
# echoed inside a JSON error message, a repr shown on a terminal).
ENCODINGS: tuple[Callable[[str], str], ...] = (
    lambda text: json.dumps(text)[1:-1],
    lambda text: json.dumps(text, ensure_ascii=False)[1:-1],
    lambda text: repr(text)[1:-1],
    lambda text: ascii(text)[1:-1],
    lambda text: quote(text, safe=""),
    quote_plus,
    html.escape,
    lambda text: html.escape(text, quote=False),
    lambda text: " ".join(text.split()),
    printable,
)


def encoded_forms(value: str) -> set[str]:
    """``value`` and every form `ENCODINGS` (one, or two in a row) turn it into."""
    forms = {value}
    for _ in range(2):
        forms |= {encode(form) for form in forms for encode in ENCODINGS}
    return {form for form in forms if len(form) >= MIN_SCRUB_LENGTH}


class SecretRegistry:
    """Secret values seen so far; :meth:`scrub` masks them, and each of their
    `encoded_forms`, in text. Thread-safe: the PBXs of a fleet run add to it while others
    write through it."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._long: list[str] = []
        self._lock = threading.Lock()
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        if len(value) < MIN_SCRUB_LENGTH or value in self._values:
            return
        forms = encoded_forms(value)
        with self._lock:
            self._values.add(value)
            self._forms |= forms
            self._pattern = None

    def values(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __len__(self) -> int:
        return len(self._values)

    def scrub(self, text: str) -> str:
        """``text`` with every registered value replaced by `MASK` (longest first)."""
        if not self._forms:
            return text
        pattern, long = self._matcher()
        for value in long:
            text = text.replace(value, MASK)
        return pattern.sub(MASK, text)

    def _matcher(self) -> tuple[re.Pattern[str], list[str]]:
        with self._lock:
            if self._pattern is None:
                short = [v for v in self._forms if len(v) <= LONG_SECRET]
                self._pattern = longest_match_pattern(short) if short else _NEVER
                self._long = sorted(self._forms - set(short), key=len, reverse=True)
            return self._pattern, self._long


def longest_match_pattern(values: Iterable[str]) -> re.Pattern[str]:
    """A regex matching any of ``values``, the longest where several start at one place.

    The values form a trie written as nested groups, each group an alternation on the next
    character (and optional where a value ends, greedy: longer values first). A flat
    alternation of thousands of values, longest first, tried every value at every position
    of the text: 5,000 secrets over 300 KB of output took seconds. Same matches, as
    ``re.compile("|".join(map(re.escape, sorted(values, key=len, reverse=True))))``, which
    remains the fallback for tries too deep to compile.
    """
    unique = set(values)
    trie: Trie = {}
    for value in unique:
        node = trie
        for char in value:
            node = node.setdefault(char, {})
        node[_END] = {}
    try:
        return re.compile(_trie_regex(trie))
    except (RecursionError, re.error, OverflowError):
        ordered = sorted(unique, key=len, reverse=True)
        return re.compile("|".join(map(re.escape, ordered)))


_END = ""  # a trie key no character can be: a value ends at this node
Trie = dict[str, "Trie"]


def _trie_regex(node: Trie) -> str:
    branches = []
    for char in sorted(k for k in node if k != _END):
        chars, child = [char], node[char]
        while len(child) == 1 and _END not in child:  # a chain: one literal, no group
            ((following, child),) = child.items()
            chars.append(following)
        branches.append(re.escape("".join(chars)) + _trie_regex(child))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if _END in node:
        return body + "?" if len(branches) == 1 and len(body) == 1 else f"(?:{body})?"
    return body


class ScrubbingFilter(logging.Filter):
    """A logging filter that masks the registry's values in every record it sees, its
    traceback included. Attach it to a *handler*: it then sees the records of every logger,
    third-party ones (httpx, httpcore) included; values may be added to the registry at any
    time."""

    def __init__(self, registry: SecretRegistry) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.registry.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.registry.scrub(text)
            record.exc_info = None
        return True


# ------------------------------------------------------------------ bodies and log records


def _is_pair(value: object) -> TypeGuard[list[object] | tuple[object, ...]]:
    return isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str)


def _is_credential_key(key: object) -> bool:
    return isinstance(key, str) and key.strip().lower() in CREDENTIAL_KEYS


def mask(value: object) -> Any:
    """A copy of a JSON body with the values of credential keys and of secret option pairs
    (``["password", "s3cret"]``) masked: for request bodies logged at DEBUG."""
    if isinstance(value, dict):
        return {
            k: MASK if _is_credential_key(k) and v not in (None, "") else mask(v)
            for k, v in value.items()
        }
    if _is_pair(value) and _is_credential_key(value[0]):
        return [value[0], MASK]
    if isinstance(value, list | tuple):
        return [mask(item) for item in value]
    return value


def secret_values(value: object) -> set[str]:
    """The secret strings found in ``value`` (the ones :func:`mask` would hide)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_credential_key(key) and isinstance(item, str) and item:
                found.add(item)
            else:
                found |= secret_values(item)
    elif _is_pair(value) and _is_credential_key(value[0]):
        if isinstance(value[1], str) and value[1]:
            found.add(value[1])
    elif isinstance(value, list | tuple):
        for item in value:
            found |= secret_values(item)
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by the mask, as a
    `SecretRegistry` of them masks it (values shorter than `MIN_SCRUB_LENGTH` are left alone:
    masking a one-letter token would mangle every word of the text)."""
    return SecretRegistry(secrets).scrub(text)
