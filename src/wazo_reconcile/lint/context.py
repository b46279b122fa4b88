"""What every lint check shares: options, the contexts checks read, options of a section.

A check reads declarations that passed the schema (``ctx.declarations``) and may rely on their
shapes; name lookups (`StackContext.names`) use every declaration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from wazo_reconcile.diff import matches
from wazo_reconcile.errors import Problem
from wazo_reconcile.pjsip import PjsipDoc, load_pjsip_doc
from wazo_reconcile.secrets import SecretResolver, has_refs
from wazo_reconcile.stack import (
    Declaration,
    Document,
    Stack,
    format_path,
)
from wazo_reconcile.stack import data_of as data_of  # re-exported: checks read it here

ERROR, WARNING, INFO = "error", "warning", "info"

YamlPath = tuple[str | int, ...]  # a place inside a declaration


@dataclass(frozen=True)
class LintOptions:
    """What lint checks against: the PJSIP option table, the environment for secrets and the
    PBX's variables (``None``: none defined)."""

    pjsip_doc: PjsipDoc | None = None  # None: the table shipped with the package
    env: Mapping[str, str] | None = None  # None: os.environ
    # False: check the syntax of ${env:…}/${file:…} references without resolving them (a
    # workstation or pre-commit hook without the production secrets).
    resolve_secrets: bool = True
    variables: Mapping[str, str] | None = None  # the values of ${var:…} references

    @cached_property
    def doc(self) -> PjsipDoc:
        return self.pjsip_doc or load_pjsip_doc()

    @cached_property
    def resolver(self) -> SecretResolver:
        """Shared by every document, so that each secret file is read once."""
        return SecretResolver(self.env, self.variables)


class Context:
    """What every check shares: valid declarations, the PJSIP doc, secrets, problem building."""

    def __init__(self, declarations: Iterable[Declaration], options: LintOptions | None) -> None:
        self.options = options or LintOptions()
        self.doc = self.options.doc
        self.resolver = self.options.resolver
        self.allowed = self.doc.allowed  # option keys confd accepts in a section
        self.rules = self.doc.rules  # the values each option takes, where the doc tells
        self.secrets: list[str] = []  # secret values met (resolved references, literals)
        self._by_kind: dict[str, list[Declaration]] = {}
        for decl in declarations:
            self._by_kind.setdefault(decl.kind, []).append(decl)

    def declarations(self, kind: str) -> list[Declaration]:
        """Declarations of a kind that passed the schema, in file order."""
        return self._by_kind.get(kind, [])

    def problem(
        self,
        decl: Declaration,
        path: Sequence[str | int],
        message: str,
        severity: str = ERROR,
        *,
        key: bool = False,
    ) -> Problem:
        location = decl.locate(*path, key=key)
        return Problem(location, format_path((*decl.path, *path)), message, severity)

    def expanded(self, text: str, decl: Declaration) -> str | None:
        """``text`` with its references resolved; None when they cannot be (yet, or here):
        the secret checks report those."""
        if not has_refs(text):
            return text
        if not self.options.resolve_secrets:
            return None
        return self.resolver.outcome(text, decl.document.base_dir).expanded


class DocumentContext(Context):
    """One document: its declarations that passed the schema."""

    def __init__(
        self,
        document: Document,
        options: LintOptions | None = None,
        invalid: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.document = document
        super().__init__((d for d in document.declarations if d.path not in invalid), options)


class StackContext(Context):
    """A whole stack: every declaration, indexed by name, and its policy."""

    def __init__(
        self,
        stack: Stack,
        options: LintOptions | None = None,
        invalid: frozenset[tuple[int, str, str]] = frozenset(),
    ) -> None:
        self.stack = stack
        super().__init__((d for d in stack.all_declarations() if d.key not in invalid), options)

    @cached_property
    def names(self) -> dict[str, dict[str, list[Declaration]]]:
        """kind -> name -> declarations (every declaration, valid or not)."""
        index: dict[str, dict[str, list[Declaration]]] = {}
        for decl in self.stack.all_declarations():
            index.setdefault(decl.kind, {}).setdefault(decl.name, []).append(decl)
        return index

    def pruned(self, kind: str, name: str) -> bool:
        """Would apply delete an undeclared live object of this kind and name?"""
        policy = self.stack.policy
        return kind in policy.prune and not matches(f"{kind}/{name}", policy.protect)


def trunk_type(decl: Declaration) -> str:
    kind = data_of(decl).get("type", "sip")
    return kind if kind in ("sip", "iax", "custom") else "sip"


def sip_trunks(ctx: Context) -> list[Declaration]:
    return [d for d in ctx.declarations("trunks") if trunk_type(d) == "sip"]


class Option(NamedTuple):
    key: str
    value: Any
    key_path: YamlPath  # inside the section, where the key is written
    value_path: YamlPath


def options_of(section: Any) -> list[Option]:
    """The options of a section written as a mapping or as [key, value] pairs (a key set to
    null removes it: no option)."""
    found: list[Option] = []
    if isinstance(section, dict):
        for key, value in section.items():
            if value is None:
                continue
            if isinstance(value, list):
                found += [Option(key, v, (key,), (key, i)) for i, v in enumerate(value)]
            else:
                found.append(Option(key, value, (key,), (key,)))
    elif isinstance(section, list):
        for index, pair in enumerate(section):
            if isinstance(pair, list) and len(pair) == 2:
                found.append(Option(pair[0], pair[1], (index, 0), (index, 1)))
    return found
