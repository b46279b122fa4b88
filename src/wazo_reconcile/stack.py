"""Stage 1, load: read the desired-state YAML of a stack, able to locate every value.

A stack is one YAML file or a directory of them (recursive, sorted, ``*.yaml``/``*.yml``,
hidden entries skipped); a file may hold several ``---`` documents. Reading never stops at the
first problem: :func:`read_stack` returns the stack with every problem found, and
:func:`load_stack` raises one :class:`ConfigError` carrying all of them.

A file is read by :class:`StackLoader`, a ``yaml.CSafeLoader``: PyYAML's C parser and composer
build each document's node tree, which the :class:`Document` keeps to locate any value, and a
small constructor of ours builds the values from it:

- duplicate mapping keys are errors (PyYAML silently keeps the last one);
- mapping keys are always their source text (``1234:`` is the name ``"1234"``, ``yes:`` is
  ``"yes"``);
- numbers keep their source text (:class:`IntText`, :class:`FloatText`) so that
  ``qualify_frequency: 060`` becomes ``"060"`` through :func:`option_text`, not 48;
- dates stay strings, and tags other than YAML's core ones are refused;
- merge keys (``<<``) are applied;
- aliases are shared, not copied, and a document whose aliases expand beyond a bound
  (a "billion laughs") is refused before anything walks it.

Values are plain ``dict``/``list``/scalars; treat them as read-only (an alias shares them).
"""

from __future__ import annotations

import errno
import gc
import os
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from yaml.events import CollectionEndEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from wazo_reconcile.errors import ConfigError, Location, Problem
from wazo_reconcile.model import DEFAULT_TEMPLATES, INSTANCE_WIDE_KINDS, KINDS, PJSIP_SECTIONS
from wazo_reconcile.yamlerrors import line_col, mark_location, problem_at, yaml_error

YAML_SUFFIXES = (".yaml", ".yml")

# Aliases may expand a document by at most this many nodes plus ten times the nodes written
# out; far more than any sane reuse of an anchor, far less than an exponential alias bomb.
ALIAS_EXPANSION_BASE = 10_000
ALIAS_EXPANSION_RATIO = 10
# The format nests 7 levels at most; deeper documents are refused before they can exhaust
# the recursion of the walkers that follow.
MAX_DEPTH = 64

Path_ = Sequence[str | int]


class IntText(int):
    """An integer that remembers how it was written (``060``, ``+33``, ``1_000``)."""

    text: str

    def __new__(cls, value: int, text: str) -> IntText:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def __getnewargs__(self) -> tuple[int, str]:  # type: ignore[override]
        return int(self), self.text


class FloatText(float):
    """A float that remembers how it was written (``1.50``, ``.5``)."""

    text: str

    def __new__(cls, value: float, text: str) -> FloatText:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def __getnewargs__(self) -> tuple[float, str]:  # type: ignore[override]
        return float(self), self.text


def option_text(value: object) -> str:
    """The text of a scalar as an option value: booleans ``yes``/``no``, numbers as written."""
    if type(value) is str:  # most values: a plan converts a hundred thousand
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, IntText | FloatText):
        return value.text
    if isinstance(value, int | float | str):
        return str(value)
    raise TypeError(f"not an option value: {type(value).__name__}")


def format_path(path: Path_) -> str:
    """``("trunks", "acme", "patterns", 0)`` as ``trunks.acme.patterns[0]``; the root is ``$``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "$"


def describe(value: object) -> str:
    """The YAML word for the type of a value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


# ------------------------------------------------------------------------------- documents


@dataclass(eq=False)
class Document:
    """One YAML document of a stack: its values, and its node tree to locate them."""

    file: str  # as shown to the user
    index: int  # position of the document in its file, from 0
    ordinal: int  # position of the document in the stack, from 0
    data: dict[str, Any]
    base_dir: Path  # `${file:…}` paths are relative to it
    node: MappingNode = field(repr=False)
    _indexes: dict[int, dict[str, tuple[Node, Node]]] = field(default_factory=dict, repr=False)

    @property
    def tenant(self) -> str | None:
        tenant = self.data.get("tenant")
        return tenant if isinstance(tenant, str) else None

    @cached_property
    def declarations(self) -> tuple[Declaration, ...]:
        """The declarations written in this document, in order (before any merge)."""
        return tuple(_declarations(self))

    def locate(self, path: Path_, *, key: bool = False) -> Location:
        """Where the value at ``path`` starts (its key with ``key=True``), or its nearest parent."""
        node: Node = self.node
        key_node: Node | None = None
        for part in path:
            if isinstance(node, MappingNode) and isinstance(part, str):
                entry = self._mapping_index(node).get(part)
                if entry is None:
                    return self._mark(key_node or node)
                key_node, node = entry
            elif isinstance(node, SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    return self._mark(key_node or node)
                key_node, node = None, node.value[part]
            else:
                return self._mark(key_node or node)
        return self._mark(key_node if key and key_node is not None else node)

    def _mark(self, node: Node) -> Location:
        return mark_location(self.file, node.start_mark)

    def _mapping_index(self, node: MappingNode) -> dict[str, tuple[Node, Node]]:
        """Key text -> (key node, value node), as the constructor reads the mapping: the first
        of repeated keys, explicit keys before merged ones, the first merged source first."""
        index = self._indexes.get(id(node))
        if index is None:
            index = {}
            explicit: dict[str, tuple[Node, Node]] = {}
            for key_node, value_node in node.value:
                if _is_merge_key(key_node):
                    for source in _merge_sources(value_node):
                        for text, entry in self._mapping_index(source).items():
                            index.setdefault(text, entry)
                elif isinstance(key_node, ScalarNode):
                    explicit.setdefault(key_node.value, (key_node, value_node))
            index.update(explicit)
            self._indexes[id(node)] = index
        return index


@dataclass(frozen=True, slots=True, eq=False)
class Declaration:
    """One named entry of a kind (``trunks.acme``, ``pjsip.global``), where it was written."""

    kind: str
    name: str
    tenant: str | None  # the document's `tenant:`; always None for instance-wide kinds
    data: Any  # the plain YAML value (read-only)
    location: Location  # of the name's key
    document: Document

    @property
    def path(self) -> tuple[str, str]:
        return (self.kind, self.name)

    @property
    def key(self) -> tuple[int, str, str]:
        """Identity of this declaration inside its stack: (document ordinal, kind, name)."""
        return (self.document.ordinal, self.kind, self.name)

    def locate(self, *path: str | int, key: bool = False) -> Location:
        """Where a value inside this declaration starts (see :meth:`Document.locate`)."""
        return self.document.locate((self.kind, self.name, *path), key=key)


def data_of(decl: Declaration) -> dict[str, Any]:
    """A declaration's mapping; {} for a value of another type (the schema reports it)."""
    return decl.data if isinstance(decl.data, dict) else {}


@dataclass(frozen=True, slots=True)
class Policy:
    """The merged `policy` blocks of a stack."""

    prune: tuple[str, ...] = ()
    protect: tuple[str, ...] = ()  # "kind/name"
    # Wazo-owned objects ("kind/name") whose declared sections are exact, not key by key
    authoritative: tuple[str, ...] = ()
    max_delete_percent: float | None = None
    max_update_percent: float | None = None
    ignore: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # "kind/name" -> field paths such as "endpoint.user_agent"


@dataclass(frozen=True, eq=False)
class Stack:
    """Every document of a stack, its declarations by kind (file order) and its policy.

    ``path`` is the stack's file or directory; a stack merged from several (an inventory's
    shared directories and a PBX's own) has them all in ``paths``, ``path`` the first."""

    path: Path
    documents: tuple[Document, ...]
    policy: Policy
    by_kind: Mapping[str, tuple[Declaration, ...]]
    readable: bool = True  # False when a file could not be read or parsed as YAML
    paths: tuple[Path, ...] = ()
    # A tenant's UUID -> how the stack wrote it (its slug or name), for tenants written by
    # name and resolved (`tenants.resolve_names`): plans show what the user wrote.
    tenant_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        """The stack's path, or its paths joined with `+`, as messages show it."""
        return " + ".join(str(p) for p in self.paths) if self.paths else str(self.path)

    def declarations(self, kind: str) -> list[Declaration]:
        return list(self.by_kind.get(kind, ()))

    def tenant_shown(self, tenant: str) -> str:
        """A tenant as the stack wrote it (a slug or name resolved to ``tenant``), else itself."""
        return self.tenant_labels.get(tenant, tenant)

    def all_declarations(self) -> list[Declaration]:
        return [decl for kind in KINDS for decl in self.by_kind.get(kind, ())]

    def locate(self, document: Document, path: Path_, *, key: bool = False) -> Location:
        """The location of the node at ``path`` in ``document`` (or of its nearest parent)."""
        return document.locate(path, key=key)

    @property
    def resource_count(self) -> int:
        return sum(len(decls) for decls in self.by_kind.values())


# ------------------------------------------------------------------------------- loading


@contextmanager
def _gc_paused(*, freeze: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Loading a stack (or exporting one) allocates hundreds of thousands of them; the cyclic
    collector would rescan them over and over (measured: 2-3x slower). Nothing built there is
    cyclic (recursive aliases are refused), and reference counting still frees it all.
    ``freeze`` keeps later collections from scanning what was built (a loaded stack lives on).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if freeze:
                gc.freeze()
            gc.enable()


StackPath = str | os.PathLike[str]


def load_stack(path: StackPath | Sequence[StackPath]) -> Stack:
    """Read a stack; raise one :class:`ConfigError` with every problem if any is an error."""
    stack, problems = read_stack(path)
    if any(p.severity == "error" for p in problems):
        raise ConfigError(problems)
    return stack


def read_stack(path: StackPath | Sequence[StackPath]) -> tuple[Stack, list[Problem]]:
    """Read a stack and report its problems (YAML, duplicate names, policy conflicts).

    ``path`` is a file or a directory, or several of them merged into one stack in that
    order (a file reached twice is read once)."""
    roots = [Path(p) for p in path] if isinstance(path, list | tuple) else [Path(path)]  # type: ignore[arg-type]
    root = roots[0]
    problems: list[Problem] = []
    documents: list[Document] = []
    readable = True
    files: list[Path] = []
    seen: set[Path] = set()
    for each in roots:
        found = stack_files(each)
        if not found:
            problems.append(problem_at(Location(str(each), 1, 1), "no *.yaml or *.yml file here"))
            readable = False
        files += [f for f in found if f not in seen]
        seen.update(found)
    plain: dict[str, Any] = {}
    # Reading builds a million small objects (nodes, their marks, values), all kept and none
    # cyclic: a running cyclic collector would rescan them over and over (reading the
    # 5,000-trunk stack took 3 s of CPU with it, 0.6 s with it paused). Frozen, later
    # collections skip them too.
    with _gc_paused(freeze=True):
        for file in files:
            docs, file_problems = read_file(file, plain=plain)
            for document in docs:
                document.ordinal = len(documents)
                documents.append(document)
            problems += file_problems
            readable = readable and not file_problems
    by_kind, merge_problems = collect_declarations(documents)
    policy, policy_problems = _merge_policies(documents)
    merged = tuple(roots) if len(roots) > 1 else ()
    stack = Stack(root, tuple(documents), policy, by_kind, readable=readable, paths=merged)
    return stack, problems + merge_problems + policy_problems


FileResult = tuple[list[Document], list[Problem]]


def stack_files(root: Path) -> list[Path]:
    """The YAML files of a stack: the file itself, or a directory's, recursively and sorted."""
    if not root.is_dir():
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):  # in any order: sorted below
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [
            Path(dirpath, n)
            for n in filenames
            if n.endswith(YAML_SUFFIXES) and not n.startswith(".")
        ]
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def read_file(path: Path, *, plain: dict[str, Any] | None = None) -> FileResult:
    """The documents of one YAML file, or the problems that prevent reading it.

    ``plain`` caches the values of plain scalars by text, across the files of a stack.
    """
    display = str(path)
    try:
        raw = _read_regular_file(path)
    except OSError as exc:
        return [], [problem_at(Location(display, 1, 1), f"cannot read file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = line_col(raw[: exc.start].decode("utf-8", "replace"))
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); YAML files must be UTF-8"
        return [], [problem_at(Location(display, line, col), message)]
    loader = StackLoader(text, display, {} if plain is None else plain)
    documents: list[Document] = []
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node said a document follows
            data = loader.construct_root(node)
            if data is not None:
                assert isinstance(node, MappingNode)
                documents.append(Document(display, index, len(documents), data, path.parent, node))
            index += 1
    except yaml.YAMLError as exc:
        return [], [yaml_error(exc, text, display)]
    finally:
        loader.dispose()
    if index == 0:
        message = "no YAML document in this file (expected a mapping with 'version: 1')"
        return [], [problem_at(Location(display, 1, 1), message)]
    return documents, loader.problems


def _read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file. Anything else is refused (an OSError) before reading: a
    stack file that is a FIFO would block forever, a symlink to /dev/zero never end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read()


# ------------------------------------------------------------------------ YAML construction

_YAML = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_YAML + t for t in ("str", "int", "float", "bool", "null"))
# What our resolver answers for an untagged plain scalar, resolved when constructed (once per
# distinct text). A tag holds no spaces: no tag written in a file can be this one.
_PLAIN = "plain scalar"
_COLLECTION_TAGS: dict[type[Node], str] = {MappingNode: _YAML + "map", SequenceNode: _YAML + "seq"}
_TEXT_TAGS = frozenset(_YAML + t for t in ("str", "timestamp", "merge", "value", "yaml"))
_IMPLICIT_RESOLVERS = Resolver.yaml_implicit_resolvers
_MISSING = object()
_BUILDING = (object(), 0)  # the memo entry of a collection being built


class _Refused(Exception):
    """A document refused whole: nested too deep, a recursive alias, an alias bomb.

    ``node`` is where; for an alias (the node of its anchor: not where it is written), the
    collection that holds it says which of its children it is (``parent``, ``child``).
    """

    def __init__(self, message: str, node: Node | None = None) -> None:
        self.message = message
        self.node = node
        self.parent: Node | None = None
        self.child = 0

    def at(self, parent: Node, child: int) -> None:
        if self.node is None and self.parent is None:
            self.parent, self.child = parent, child


class StackLoader(yaml.CSafeLoader):
    """A YAML file of a stack: PyYAML's C parser and composer, and our constructor.

    The composer asks :meth:`resolve` the tag of every untagged node; it answers at once,
    leaving plain scalars to be resolved by :meth:`construct_root`, once per distinct text
    (``plain``, shared by the files of a stack: its values are immutable). The constructor
    builds plain values with the source texts, checks and budget described in the module's
    docstring, and gathers its problems in ``problems``.
    """

    def __init__(self, text: str, display: str, plain: dict[str, Any]) -> None:
        super().__init__(text)
        self.text = text
        self.display = display
        self.plain = plain
        self.problems: list[Problem] = []
        self.memo: dict[Node, tuple[Any, int]] = {}  # collection -> (value, expanded size)
        # Without an anchor (no "&" in the file) there is no alias: nothing to remember.
        self.build_child = self.build if "&" in text else self.build_once
        self.written = 0  # nodes of the document built from what is written
        self.expanded = 0  # nodes reached again through aliases

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return _COLLECTION_TAGS[kind]

    def construct_document(self, node: Node) -> Any:
        """The value of a document's node tree (PyYAML's entry point: ``get_data``)."""
        self.memo, self.written, self.expanded = {}, 0, 0
        return self.build_child(node, 0)

    def construct_root(self, node: Node) -> dict[str, Any] | None:
        """The mapping of a document, or None when it is refused or not a mapping (a problem
        says why)."""
        try:
            data = self.construct_document(node)
        except _Refused as refused:
            self.problems.append(problem_at(self.refusal_location(refused), refused.message))
            return None
        finally:
            self.memo = {}
        if isinstance(data, dict):
            return data
        if data is None:
            message = "empty YAML document (expected a mapping with 'version: 1')"
        else:
            kind = "a list" if isinstance(data, list) else "a scalar"
            message = f"a document must be a mapping (version, trunks, …), not {kind}"
        self.add(node, message)
        return None

    def build(self, node: Node, depth: int) -> Any:
        """The value of a node (``depth``: the collections that hold it), its collections
        remembered with their expanded size: an alias may reach them again."""
        if type(node) is ScalarNode:
            self.written += 1
            return self.scalar(node)
        known = self.memo.get(node)
        if known is not None:
            return self.alias(known)
        self.memo[node] = _BUILDING
        start = self.written + 1 + self.expanded  # after the collection itself
        value = self.build_once(node, depth)
        # What an alias of it adds to the document: every node under it, expanded.
        self.memo[node] = (value, self.written + self.expanded - start)
        return value

    def build_once(self, node: Node, depth: int) -> Any:
        """The value of a node no alias reaches again (a file without anchors: no alias)."""
        if type(node) is ScalarNode:
            self.written += 1
            return self.scalar(node)
        if depth >= MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep; refused", node)
        if node.tag != _COLLECTION_TAGS[type(node)]:
            self.add(node, _tag_message(node.tag))
        self.written += 1
        if isinstance(node, MappingNode):
            return self.mapping(node, depth + 1)
        assert isinstance(node, SequenceNode)  # the composer makes no other node
        return self.sequence(node, depth + 1)

    def mapping(self, node: MappingNode, depth: int) -> dict[str, Any]:
        # The loops build plain scalars inline (most nodes), and count the nodes written in a
        # local variable, handed over to `build` for the values it builds.
        value: dict[str, Any] = {}
        merged: list[dict[str, Any]] = []
        pairs = node.value
        plain, build = self.plain, self.build_child
        written = self.written
        position = 0
        try:
            for position, (key_node, value_node) in enumerate(pairs):  # noqa: B007 (see except)
                written += 1
                if type(key_node) is not ScalarNode or key_node.value in value:
                    # Refused, and its value dropped; both are built for their own problems.
                    self.written = written
                    try:
                        self.refuse_key(pairs, key_node, depth)
                    except _Refused as refused:
                        refused.at(node, 2 * position)
                        raise
                    build(value_node, depth)
                    written = self.written
                    continue
                # Interned: the same few keys (endpoint, aor…) thousands of times, stored once
                # and matched by identity in the lookups of the checks (lint: 15% faster).
                key = sys.intern(key_node.value)
                if type(value_node) is ScalarNode and value_node.tag == _PLAIN and key != "<<":
                    written += 1
                    item = plain.get(value_node.value, _MISSING)
                    value[key] = self.implicit(value_node) if item is _MISSING else item
                else:
                    self.written = written
                    item = build(value_node, depth)
                    written = self.written
                    if key == "<<" and key_node.tag == _PLAIN:
                        merged += self.merge_sources(value_node, item)
                    else:
                        value[key] = item
        except _Refused as refused:
            refused.at(node, 2 * position + 1)
            raise
        self.written = written
        for source in merged:
            for key, item in source.items():
                value.setdefault(key, item)
        return value

    def sequence(self, node: SequenceNode, depth: int) -> list[Any]:
        value: list[Any] = []
        append = value.append
        plain, build = self.plain, self.build_child
        written = self.written
        try:
            for child in node.value:
                if type(child) is ScalarNode and child.tag == _PLAIN:
                    written += 1
                    item = plain.get(child.value, _MISSING)
                    append(self.implicit(child) if item is _MISSING else item)
                else:
                    self.written = written
                    append(build(child, depth))
                    written = self.written
        except _Refused as refused:
            refused.at(node, len(value))
            raise
        self.written = written
        return value

    def alias(self, known: tuple[Any, int]) -> Any:
        if known is _BUILDING:
            raise _Refused("recursive alias: a node contains itself")
        value, size = known
        self.expanded += size
        if self.expanded > ALIAS_EXPANSION_BASE + ALIAS_EXPANSION_RATIO * self.written:
            message = (
                f"aliases expand this document to over {self.expanded} nodes from "
                f"{self.written} written: refused as an alias bomb"
            )
            raise _Refused(message)
        return value

    def merge_sources(self, node: Node, value: Any) -> list[dict[str, Any]]:
        sources = value if isinstance(value, list) else [value]
        if sources and all(isinstance(s, dict) for s in sources):
            return sources
        self.add(node, "'<<' must merge a mapping or a list of them")
        return []

    def refuse_key(self, pairs: list[tuple[Node, Node]], key_node: Node, depth: int) -> None:
        if type(key_node) is not ScalarNode:
            self.add(key_node, "a mapping key must be a scalar")
            self.build_child(key_node, depth)
            return
        first = next(k for k, _ in pairs if type(k) is ScalarNode and k.value == key_node.value)
        message = (
            f"duplicate key '{key_node.value}' (first at line {first.start_mark.line + 1}); "
            "YAML would silently keep only the last one"
        )
        self.add(key_node, message)

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag == _PLAIN:
            known = self.plain.get(node.value, _MISSING)
            return self.implicit(node) if known is _MISSING else known
        if tag == _STR:
            return node.value
        return self.typed(node, tag)

    def implicit(self, node: ScalarNode) -> Any:
        """A plain scalar's value, resolved as YAML 1.1 does (and remembered if valid)."""
        text = node.value
        value: Any = text
        for tag, regexp in _IMPLICIT_RESOLVERS.get(text[:1], ()):
            if regexp.match(text):
                found = len(self.problems)
                value = self.typed(node, tag)
                if len(self.problems) > found:
                    return value  # invalid: said where, each time
                break
        self.plain[text] = value
        return value

    def typed(self, node: ScalarNode, tag: str) -> Any:
        text = node.value
        try:
            if tag == _INT:
                return IntText(self.construct_yaml_int(node), text)
            if tag == _FLOAT:
                return FloatText(self.construct_yaml_float(node), text)
            if tag == _BOOL:
                return self.construct_yaml_bool(node)
        except (ValueError, KeyError):
            self.add(node, f"'{text}' is not a valid {tag.removeprefix(_YAML)}")
            return text
        if tag == _NULL:
            return None
        if tag not in _TEXT_TAGS:  # dates stay as written: options are text
            self.add(node, _tag_message(tag))
        return text

    def add(self, node: Node, message: str) -> None:
        self.problems.append(problem_at(mark_location(self.display, node.start_mark), message))

    def refusal_location(self, refused: _Refused) -> Location:
        if refused.node is not None:
            return mark_location(self.display, refused.node.start_mark)
        assert refused.parent is not None  # an alias, inside the collection that holds it
        return mark_location(self.display, _child_mark(self.text, refused.parent, refused.child))


def _child_mark(text: str, parent: Node, child: int) -> Any:  # a Mark: PyYAML's or the C one
    """Where the ``child``-th child (keys and values alike) of a collection node is written.

    A node tree has no alias nodes, only the anchored node again; the one place we need where
    an alias is written (the problem that refuses it) reads the parser's events up to it.
    """
    events = yaml.CSafeLoader(text)
    start = parent.start_mark.index
    try:
        inside, depth, count = False, 0, -1
        while (event := events.get_event()) is not None:
            if not inside:
                inside = isinstance(event, CollectionStartEvent) and _index(event) == start
                continue
            if depth == 0:
                if isinstance(event, CollectionEndEvent):
                    break
                count += 1
                if count == child:
                    return event.start_mark or parent.start_mark
            if isinstance(event, CollectionStartEvent):
                depth += 1
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    finally:
        events.dispose()
    return parent.start_mark


def _index(event: yaml.Event) -> int | None:
    return event.start_mark.index if event.start_mark is not None else None


def _tag_message(tag: str) -> str:
    message = f"unsupported YAML tag '{tag}'"
    if tag.startswith("!") and not tag.startswith("!!"):
        message += f"; quote a value that starts with '!' (\"{tag}\")"
    return message


def _is_merge_key(node: Node) -> bool:
    return type(node) is ScalarNode and node.tag == _PLAIN and node.value == "<<"


def _merge_sources(node: Node) -> list[MappingNode]:
    if isinstance(node, MappingNode):
        return [node]
    if isinstance(node, SequenceNode) and all(isinstance(n, MappingNode) for n in node.value):
        return list(node.value)
    return []


# ------------------------------------------------------------------------- declarations


_SINGULAR = {
    "pjsip": "PJSIP section",
    "transports": "transport",
    "sip_templates": "SIP template",
    "trunks": "trunk",
    "outcalls": "outcall",
    "users": "user",
}


def collect_declarations(
    documents: Sequence[Document],
) -> tuple[dict[str, tuple[Declaration, ...]], list[Problem]]:
    found: dict[str, list[Declaration]] = {kind: [] for kind in KINDS}
    first: dict[tuple[str, str, str | None], Declaration] = {}
    problems: list[Problem] = []
    for document in documents:
        for decl in document.declarations:
            identity = (decl.kind, decl.name, _scope(decl))
            previous = first.get(identity)
            if previous is None:
                first[identity] = decl
                found[decl.kind].append(decl)
                continue
            scope = " for this tenant" if identity[2] is not None else ""
            message = (
                f"{_SINGULAR[decl.kind]} '{decl.name}' is already declared{scope} "
                f"at {previous.location}"
            )
            problems.append(Problem(decl.location, format_path(decl.path), message))
    return {kind: tuple(decls) for kind, decls in found.items()}, problems


def _scope(decl: Declaration) -> str | None:
    # Names are instance-wide in confd, except the tenant's default templates (one each).
    if decl.kind == "sip_templates" and decl.name in DEFAULT_TEMPLATES:
        return decl.tenant or ""
    return None


def _declarations(document: Document) -> Iterator[Declaration]:
    for kind in KINDS:
        entries = document.data.get(kind)
        if not isinstance(entries, dict):
            continue
        tenant = None if kind in INSTANCE_WIDE_KINDS else document.tenant
        for name, data in entries.items():
            if kind == "pjsip" and name not in PJSIP_SECTIONS:
                continue  # the schema reports it
            location = document.locate((kind, name), key=True)
            yield Declaration(kind, name, tenant, data, location, document)


def _merge_policies(documents: Sequence[Document]) -> tuple[Policy, list[Problem]]:
    lists: dict[str, list[str]] = {"prune": [], "protect": [], "authoritative": []}
    limits: dict[str, tuple[float, Location]] = {}
    ignore: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for document in documents:
        policy = document.data.get("policy")
        if not isinstance(policy, dict):
            continue
        for name, items in lists.items():
            items += [v for v in _strings(policy.get(name)) if v not in items]
        for name in ("max_delete_percent", "max_update_percent"):
            problems += _merge_limit(document, name, policy.get(name), limits)
        if isinstance(policy.get("ignore"), dict):
            for ref, fields in policy["ignore"].items():
                known = ignore.setdefault(ref, [])
                known += [f for f in _strings(fields) if f not in known]
    merged = Policy(
        prune=tuple(lists["prune"]),
        protect=tuple(lists["protect"]),
        authoritative=tuple(lists["authoritative"]),
        max_delete_percent=limits.get("max_delete_percent", (None,))[0],
        max_update_percent=limits.get("max_update_percent", (None,))[0],
        ignore=MappingProxyType({ref: tuple(fields) for ref, fields in ignore.items()}),
    )
    return merged, problems


def _merge_limit(
    document: Document, name: str, value: Any, limits: dict[str, tuple[float, Location]]
) -> list[Problem]:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return []
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits: the schema says it is too big
        return []
    location = document.locate(("policy", name))
    if name not in limits:
        limits[name] = (number, location)
        return []
    known, where = limits[name]
    if known == number:
        return []
    message = f"conflicting policy: {name} is {option_text(value)} here but {known:g} at {where}"
    return [Problem(location, f"policy.{name}", message)]


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
