"""The inventory: one YAML file naming the PBXs of a fleet, and the variables of a PBX.

An inventory (``schemas/inventory.schema.json``, checked with the stack's machinery: every
problem at once, located) gives each PBX its URL, the names of the environment variables its
credentials come from, the stack paths merged into its stack, its variables and defaults such
as its tenant. `load_inventory` reads it; `Inventory.select` picks PBXs (``--pbx``, ``--all``,
``--select``); `Pbx.target` makes what one run acts on. `read_variables` reads a ``--vars``
file (a mapping of the inventory's ``variables`` form). Pure, apart from reading files.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from wazo_reconcile.errors import ConfigError, Location, Problem, UsageError
from wazo_reconcile.schema import validate_document
from wazo_reconcile.stack import Document, format_path, option_text, read_file

DEFAULT_INVENTORY = "inventory.yaml"
DEFAULT_CREDENTIALS = {
    "token_env": "WAZO_TOKEN",
    "username_env": "WAZO_USERNAME",
    "password_env": "WAZO_PASSWORD",
}
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Credentials:
    """The names of the variables holding a PBX's credentials (never their values)."""

    token_env: str | None
    username_env: str | None
    password_env: str | None
    at: Location  # where the inventory says so (or the PBX's entry, for the defaults)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.token_env, self.username_env, self.password_env) if n)

    def values(self, environ: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
        """(token, username, password) from ``environ``: the token if its variable is set,
        else the username and password."""
        token = environ.get(self.token_env or "") or None
        if token:
            return token, None, None
        user = environ.get(self.username_env or "") or None
        password = environ.get(self.password_env or "") or None
        return None, user, password


@dataclass(frozen=True)
class Pbx:
    """One PBX of the inventory, its defaults merged in."""

    name: str
    url: str
    stacks: tuple[str, ...]  # paths, relative to the current directory
    variables: Mapping[str, str]
    credentials: Credentials
    tenant: str | None = None
    tenant_at: Location | None = None
    ca_bundle: str | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""
    at: Location | None = None  # its name in the inventory

    def matches(self, selectors: Sequence[tuple[str, str]]) -> bool:
        return all(self.labels.get(key) == value for key, value in selectors)


@dataclass(frozen=True)
class Inventory:
    """Every PBX of an inventory file, in file order."""

    path: Path
    pbxs: tuple[Pbx, ...]

    @property
    def names(self) -> list[str]:
        return [pbx.name for pbx in self.pbxs]

    def select(
        self, patterns: Sequence[str], *, everything: bool, selectors: Sequence[str] = ()
    ) -> list[Pbx]:
        """The PBXs ``--pbx`` patterns (names or shell wildcards), ``--all`` and ``--select
        KEY=VALUE`` labels choose, in inventory order; a UsageError for a name or a pattern
        that matches none."""
        labels = [_selector(text) for text in selectors]
        chosen = set(self.names) if everything or not patterns else set()
        for pattern in patterns:
            found = fnmatch.filter(self.names, pattern)
            if not found:
                raise UsageError(
                    f"--pbx {pattern}: no such PBX in {self.path} (PBXs: {', '.join(self.names)})"
                )
            chosen.update(found)
        picked = [p for p in self.pbxs if p.name in chosen and p.matches(labels)]
        if not picked:
            raise UsageError(
                f"no PBX of {self.path} matches {' '.join('--select ' + s for s in selectors)}"
            )
        return picked

    def changed(self, pbxs: Sequence[Pbx], paths: Sequence[str]) -> list[Pbx]:
        """The PBXs whose stack holds one of ``paths`` (changed files); every one when the
        inventory itself changed."""
        changed = [Path(p).resolve() for p in paths]
        if self.path.resolve() in changed:
            return list(pbxs)
        return [
            pbx
            for pbx in pbxs
            if any(c.is_relative_to(Path(root).resolve()) for root in pbx.stacks for c in changed)
        ]


def _selector(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--select {text}: expected LABEL=VALUE, e.g. --select env=production")
    return key, value


def single_selection(
    patterns: Sequence[str], *, everything: bool, selectors: Sequence[str]
) -> bool:
    """Whether the selection names exactly one PBX by its name (a run of one PBX, printed as
    the commands always print), rather than a fleet (sections and a summary)."""
    return len(patterns) == 1 and not everything and not selectors and not _GLOB.search(patterns[0])


# ------------------------------------------------------------------------------ reading


def load_inventory(path: str | Path) -> Inventory:
    """The inventory at ``path``; a ConfigError with every problem (YAML, schema, stack
    paths that do not exist), each at its place."""
    document = _read_one(Path(path), "inventory", "inventory")
    base = Path(path).parent
    defaults = document.data.get("defaults") or {}
    if not document.data["pbxs"]:
        raise ConfigError([_problem(document, ("pbxs",), "no PBX: name at least one")])
    pbxs, problems = [], []
    for name, entry in document.data["pbxs"].items():
        pbx, found = _pbx(document, base, str(name), entry, defaults)
        pbxs.append(pbx)
        problems += found
    if problems:
        raise ConfigError(problems)
    return Inventory(Path(path), tuple(pbxs))


def _read_one(path: Path, what: str, schema: str) -> Document:
    """The one document of the file at ``path`` (the ``what``), valid against ``schema``."""
    if not path.exists():
        raise UsageError(f"{path}: no such file (the {what})")
    documents, problems = read_file(path)
    if any(p.severity == "error" for p in problems):
        raise ConfigError(problems)
    if len(documents) != 1:
        where = Location(str(path), 1, 1)
        raise ConfigError([Problem(where, "$", f"the {what} is one YAML mapping (one document)")])
    problems = [problem for _, problem in validate_document(documents[0], schema)]
    if problems:
        raise ConfigError(problems)
    return documents[0]


def _pbx(
    document: Document, base: Path, name: str, entry: dict[str, Any], defaults: dict[str, Any]
) -> tuple[Pbx, list[Problem]]:
    at = ("pbxs", name)
    stacks = [*(defaults.get("stacks") or []), *(entry.get("stacks") or [])]
    problems = []
    sources: list[tuple[tuple[str, ...], dict[str, Any]]] = [(at, entry)]
    if name == next(iter(document.data["pbxs"])):  # the defaults' problems, said once
        sources.append((("defaults",), defaults))
    for where, source in sources:
        for index, stack in enumerate(source.get("stacks") or []):
            if not (base / stack).exists():
                missing = f"{base / stack}: no such file or directory"
                problems.append(_problem(document, (*where, "stacks", index), missing))
    if not stacks:
        message = "no stack: give `stacks` (here or in `defaults`)"
        problems.append(_problem(document, at, message, key=True))
    variables = {**(defaults.get("variables") or {}), **(entry.get("variables") or {})}
    tenant_path = at if "tenant" in entry else ("defaults",) if "tenant" in defaults else None
    tenant = entry.get("tenant", defaults.get("tenant"))
    ca_bundle = entry.get("ca_bundle", defaults.get("ca_bundle"))
    pbx = Pbx(
        name=name,
        url=str(entry["url"]),
        stacks=tuple(str(base / s) for s in dict.fromkeys(stacks)),
        variables=MappingProxyType({k: option_text(v) for k, v in variables.items()}),
        credentials=_credentials(document, name, entry, defaults),
        tenant=tenant,
        tenant_at=None if tenant_path is None else document.locate((*tenant_path, "tenant")),
        ca_bundle=None if ca_bundle is None else str(base / ca_bundle),
        labels=MappingProxyType({**(defaults.get("labels") or {}), **(entry.get("labels") or {})}),
        description=str(entry.get("description", defaults.get("description", ""))),
        at=document.locate(at, key=True),
    )
    return pbx, problems


def _credentials(
    document: Document, name: str, entry: dict[str, Any], defaults: dict[str, Any]
) -> Credentials:
    path: tuple[str, ...]
    if "credentials" in entry:
        names, path = entry["credentials"], ("pbxs", name, "credentials")
    elif "credentials" in defaults:
        names, path = defaults["credentials"], ("defaults", "credentials")
    else:
        names, path = DEFAULT_CREDENTIALS, ("pbxs", name)
    upper = re.sub(r"[^A-Z0-9_]", "_", name.upper())

    def named(key: str) -> str | None:
        value = names.get(key)
        return None if value is None else str(value).replace("{PBX}", upper)

    return Credentials(
        named("token_env"),
        named("username_env"),
        named("password_env"),
        document.locate(path, key=True),
    )


def _problem(
    document: Document, path: tuple[str | int, ...], message: str, *, key: bool = False
) -> Problem:
    return Problem(document.locate(path, key=key), format_path(path), message)


def read_variables(path: str | Path) -> dict[str, str]:
    """The variables of a ``--vars`` file (a YAML mapping NAME: value); a ConfigError with
    every problem, located."""
    document = _read_one(Path(path), "variables file", "variables")
    return {str(k): option_text(v) for k, v in document.data.items()}
