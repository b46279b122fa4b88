"""Stage 1, load: read the desired-state YAML of a stack, able to locate every value.

A stack is one YAML file or a directory of them (recursive, sorted, ``*.yaml``/``*.yml``,
hidden entries skipped); a file may hold several ``---`` documents. Reading never stops at the
first problem: :func:`read_stack` returns the stack with every problem found, and
:func:`load_stack` raises one :class:`ConfigError` carrying all of them.

Values are built straight from the events of PyYAML's C parser (the fastest way to read big
stacks); the positions of the top two levels of keys (declarations) are kept, and a node tree
is composed again from the file only when something deeper must be located. The reading:

- duplicate mapping keys are errors (PyYAML silently keeps the last one);
- mapping keys are always their source text (``1234:`` is the name ``"1234"``, ``yes:`` is
  ``"yes"``);
- numbers keep their source text (:class:`IntText`, :class:`FloatText`) so that
  ``qualify_frequency: 060`` becomes ``"060"`` through :func:`option_text`, not 48;
- dates stay strings, and tags other than YAML's core ones are refused;
- aliases are shared, not copied, and a document whose aliases expand beyond a bound
  (a "billion laughs") is refused before anything walks it.

Values are plain ``dict``/``list``/scalars; treat them as read-only (an alias shares them).
"""

from __future__ import annotations

import errno
import logging
import os
import pickle
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from wazo_reconcile.errors import ConfigError, Location, Problem
from wazo_reconcile.forked import SharedQueue, forked
from wazo_reconcile.gcpause import gc_paused
from wazo_reconcile.model import DEFAULT_TEMPLATES

log = logging.getLogger(__name__)

# Top-level keys holding declarations, in YAML order.
KINDS = ("pjsip", "transports", "sip_templates", "trunks", "outcalls", "users")
# Kinds that are instance-wide in confd: the document's `tenant:` does not apply to them.
INSTANCE_WIDE_KINDS = frozenset({"pjsip", "transports"})
PJSIP_SECTIONS = ("global", "system")
YAML_SUFFIXES = (".yaml", ".yml")

# Aliases may expand a document by at most this many nodes plus ten times the nodes written
# out; far more than any sane reuse of an anchor, far less than an exponential alias bomb.
ALIAS_EXPANSION_BASE = 10_000
ALIAS_EXPANSION_RATIO = 10
# The format nests 7 levels at most; deeper documents are refused before they can exhaust
# the recursion of the walkers that follow.
MAX_DEPTH = 64

Path_ = Sequence[str | int]

_YAML = "tag:yaml.org,2002:"
_IMPLICIT = "!implicit"  # what our resolver answers for plain scalars: resolved on construction
_STR = _YAML + "str"
_KIND_TAGS: dict[type[Node], str] = {MappingNode: _YAML + "map", SequenceNode: _YAML + "seq"}
_COLLECTION_TAGS: dict[type, str] = {dict: _YAML + "map", list: _YAML + "seq"}
_IMPLICIT_RESOLVERS = Resolver.yaml_implicit_resolvers
_SAFE = SafeConstructor()


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
    """One YAML document of a stack, and how to locate its values.

    It is read with the positions of its top two levels of keys (enough for declarations);
    its node tree is composed from the file the first time anything deeper is located.
    """

    file: str  # as shown to the user
    index: int  # position of the document in its file, from 0
    ordinal: int  # position of the document in the stack, from 0
    data: dict[str, Any]
    base_dir: Path  # `${file:…}` paths are relative to it
    node: MappingNode | None = field(default=None, repr=False)
    key_marks: dict[tuple[str | int, ...], Location] = field(default_factory=dict, repr=False)
    analysis: Any = field(default=None, repr=False)  # what `read_stack(per_document=…)` found
    _indexes: dict[int, dict[str, tuple[Node, Node]]] = field(default_factory=dict, repr=False)

    @property
    def tenant(self) -> str | None:
        tenant = self.data.get("tenant")
        return tenant if isinstance(tenant, str) else None

    def locate(self, path: Path_, *, key: bool = False) -> Location:
        """Where the value at ``path`` starts (its key with ``key=True``), or its nearest parent."""
        if self.node is None:
            known = self.key_marks.get(tuple(path)) if key else None
            if known is not None:
                return known
            self.node = _recompose(Path(self.file), self.index)
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
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def _mapping_index(self, node: MappingNode) -> dict[str, tuple[Node, Node]]:
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


@dataclass(frozen=True, slots=True)
class Policy:
    """The merged `policy` blocks of a stack."""

    prune: tuple[str, ...] = ()
    protect: tuple[str, ...] = ()  # "kind/name"
    max_delete_percent: float | None = None
    max_update_percent: float | None = None
    ignore: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # "kind/name" -> field paths such as "endpoint.user_agent"


@dataclass(frozen=True, eq=False)
class Stack:
    """Every document of a stack, its declarations by kind (file order) and its policy."""

    path: Path
    documents: tuple[Document, ...]
    policy: Policy
    by_kind: Mapping[str, tuple[Declaration, ...]]
    readable: bool = True  # False when a file could not be read or parsed as YAML

    def declarations(self, kind: str) -> list[Declaration]:
        return list(self.by_kind.get(kind, ()))

    def all_declarations(self) -> list[Declaration]:
        return [decl for kind in KINDS for decl in self.by_kind.get(kind, ())]

    def locate(self, document: Document, path: Path_, *, key: bool = False) -> Location:
        """The location of the node at ``path`` in ``document`` (or of its nearest parent)."""
        return document.locate(path, key=key)

    @property
    def resource_count(self) -> int:
        return sum(len(decls) for decls in self.by_kind.values())


# ------------------------------------------------------------------------------- loading


def load_stack(path: str | os.PathLike[str]) -> Stack:
    """Read a stack; raise one :class:`ConfigError` with every problem if any is an error."""
    stack, problems = read_stack(path)
    if any(p.severity == "error" for p in problems):
        raise ConfigError(problems)
    return stack


def read_stack(
    path: str | os.PathLike[str],
    *,
    per_document: Callable[[Document], Any] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> tuple[Stack, list[Problem]]:
    """Read a stack and report its problems (YAML, duplicate names, policy conflicts).

    ``per_document`` runs on each document in the process that read it (a big stack is read
    by two: this one and a forked helper); its result, which must be picklable, is kept as
    ``document.analysis``. Validation uses it to check big stacks on two cores.
    ``meanwhile`` is work of the caller's for this process to do while it reads: run as soon
    as a helper is reading (the helper then reads more of the files), else first.
    """
    root = Path(path)
    problems: list[Problem] = []
    documents: list[Document] = []
    readable = True
    files = stack_files(root)
    if not files:
        problems.append(_problem(Location(str(root), 1, 1), "no *.yaml or *.yml file here"))
        readable = False
    with gc_paused(freeze=True):
        results = _read_files(files, per_document, meanwhile)
    for docs, file_problems in results:
        for document in docs:
            document.ordinal = len(documents)
            documents.append(document)
        problems += file_problems
        readable = readable and not file_problems
    by_kind, merge_problems = _collect_declarations(documents)
    policy, policy_problems = _merge_policies(documents)
    stack = Stack(root, tuple(documents), policy, by_kind, readable=readable)
    return stack, problems + merge_problems + policy_problems


FileResult = tuple[list[Document], list[Problem]]
PerDocument = Callable[[Document], Any] | None

# Below this many bytes of YAML, one process reads faster than two.
PARALLEL_MIN_BYTES = 512 * 1024


def _read_files(
    files: list[Path], per_document: PerDocument, meanwhile: Callable[[], object] | None
) -> list[FileResult]:
    """Each file's documents and problems, in order; big stacks are read by two processes,
    each taking the next file when it is done with one (the biggest files first)."""
    plain: dict[str, Any] = {}

    def read(file: Path) -> FileResult:
        return read_file(file, plain=plain, per_document=per_document)

    sizes = _sizes_worth_a_helper(files)
    if sizes is None:
        if meanwhile is not None:
            meanwhile()
        return [read(file) for file in files]
    with (
        SharedQueue(sorted(files, key=sizes.__getitem__, reverse=True)) as queue,
        forked(partial(_read_detached, queue, per_document)) as helper,
    ):
        if meanwhile is not None:
            meanwhile()
        found = {file: read(file) for file in queue}
        theirs = helper.result()
    log.debug("a forked helper process read %d of the %d files", len(theirs), len(files))
    found.update((file, pickle.loads(result)) for file, result in theirs.items())
    # A helper that failed may have taken files with it: they are read here.
    return [found[f] if f in found else read(f) for f in files]


def _sizes_worth_a_helper(files: list[Path]) -> dict[Path, int] | None:
    """The files' sizes if a forked helper should read some of them, else None."""
    if not hasattr(os, "fork") or threading.active_count() > 1 or len(files) < 2:
        return None  # forking a threaded process is unsafe
    sizes = {}
    for file in files:
        try:
            sizes[file] = file.stat().st_size
        except OSError:
            return None
    return sizes if sum(sizes.values()) >= PARALLEL_MIN_BYTES else None


def _read_detached(queue: SharedQueue[Path], per_document: PerDocument) -> dict[Path, bytes]:
    """What the helper process sends back: the files it took from ``queue``, each with its
    documents without their node trees (they cannot be pickled; a document composes its tree
    again to locate a problem), pickled as soon as read (not all at the end, after the other
    process is done: 0.08 s at 5,000 trunks)."""
    plain: dict[str, Any] = {}
    results = {}
    for file in queue:
        documents, problems = read_file(file, plain=plain, per_document=per_document)
        for document in documents:
            document.node, document._indexes = None, {}
        results[file] = pickle.dumps((documents, problems), protocol=pickle.HIGHEST_PROTOCOL)
    return results


def _recompose(path: Path, index: int) -> MappingNode:
    nodes, _ = _compose(path.read_text(encoding="utf-8"), str(path))
    node = nodes[index]
    assert isinstance(node, MappingNode)
    return node


def stack_files(root: Path) -> list[Path]:
    """The YAML files of a stack: the file itself, or a directory's, recursively and sorted."""
    if not root.is_dir():
        return [root]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(YAML_SUFFIXES) and not name.startswith("."):
                found.append(Path(dirpath, name))
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def read_file(
    path: Path, *, plain: dict[str, Any] | None = None, per_document: PerDocument = None
) -> FileResult:
    """The documents of one YAML file, or the problems that prevent reading it.

    ``plain`` caches the values of plain scalars by text, across the files of a stack;
    ``per_document`` is as for :func:`read_stack`.
    """
    display = str(path)
    try:
        raw = _read_regular_file(path)
    except OSError as exc:
        return [], [_problem(Location(display, 1, 1), f"cannot read file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw[: exc.start].decode("utf-8", "replace"))
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); YAML files must be UTF-8"
        return [], [_problem(Location(display, line, col), message)]
    reader = _EventReader(display, {} if plain is None else plain)
    try:
        raw_documents = reader.read(text)
    except yaml.YAMLError as exc:
        return [], [_yaml_error(exc, text, display)]
    problems = reader.problems + _duplicate_keys(text, display, reader.duplicates)
    if not raw_documents:
        message = "no YAML document in this file (expected a mapping with 'version: 1')"
        return [], [_problem(Location(display, 1, 1), message)]
    documents: list[Document] = []
    for index, (data, marks) in enumerate(raw_documents):
        if data is None:
            continue  # refused: the reader said why
        document = Document(display, index, len(documents), data, path.parent, key_marks=marks)
        if per_document is not None:
            document.analysis = per_document(document)
        documents.append(document)
    return documents, problems


def _read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file. Anything else is refused (an OSError) before reading: a
    stack file that is a FIFO would block forever, a symlink to /dev/zero never end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read()


def _compose(text: str, display: str) -> tuple[list[Node], list[Problem]]:
    """The node trees of a file's documents (to locate values; values come from events)."""
    loader = _Loader(text)
    nodes: list[Node] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
    except yaml.YAMLError as exc:
        return [], [_yaml_error(exc, text, display)]
    finally:
        loader.dispose()
    return nodes, []


def _yaml_error(exc: yaml.YAMLError, text: str, display: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        return _syntax_problem(exc, display)
    if isinstance(exc, yaml.reader.ReaderError):
        line, col = _line_col(text[: exc.position])
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        message = f"character {shown} is not allowed in YAML ({exc.reason})"
        return _problem(Location(display, line, col), message)
    return _problem(Location(display, 1, 1), f"YAML error: {exc}")  # without position


def _syntax_problem(exc: yaml.MarkedYAMLError, display: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    location = (
        Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
    )
    message = f"YAML syntax error: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    if exc.context and "tag" in exc.context:
        message += "; quote a value that starts with '!', e.g. \"!all,ulaw\""
    return _problem(location, message)


def _line_col(before: str) -> tuple[int, int]:
    line = before.count("\n") + 1
    return line, len(before) - (before.rfind("\n") + 1) + 1


def _problem(location: Location, message: str, path: str = "$") -> Problem:
    return Problem(location, path, message)


# ------------------------------------------------------------------------ YAML construction


class _Loader(yaml.CSafeLoader):
    """The C parser (events) and composer (nodes, to locate); plain scalars resolve later."""

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _IMPLICIT if implicit[0] else _STR
        return _KIND_TAGS[kind]


class _Refused(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Frame:
    """A mapping or sequence being built from events."""

    __slots__ = ("value", "anchor", "key", "merge", "start", "mark", "prefix")

    def __init__(
        self, value: Any, anchor: str | None, start: int, mark: Any, prefix: tuple[str, ...] | None
    ) -> None:
        self.value = value
        self.anchor = anchor
        self.key: Any = _NO_KEY  # for a mapping: its pending key, or what to do with the value
        self.merge: list[dict[str, Any]] = []  # `<<` sources
        self.start = start  # node count when it began, to size it for aliases
        self.mark = mark
        self.prefix = prefix  # path of the mapping, for the top two levels only


_NO_KEY = object()  # the mapping waits for a key
_SKIP = object()  # the key was refused: drop its value
_COMPLEX = object()  # a collection is being read as a key: refuse it, then skip its value
_MERGE = object()  # the key is `<<`: merge its value
_BUILDING = object()
_MISSING = object()

RawDocument = tuple[dict[str, Any] | None, dict[tuple[str | int, ...], Location]]


class _EventReader:
    """Plain values from the C parser's events, with source texts, duplicate-key, depth and
    alias-bomb checks, and the positions of the top two levels of keys.

    No node tree is built: it costs more than the values (nodes are composed again only to
    locate a problem). Aliases share values; a plain scalar is resolved once per distinct text.
    """

    def __init__(self, display: str, plain: dict[str, Any]) -> None:
        self.display = display
        self.plain = plain  # plain scalar text -> value (read-only)
        self.problems: list[Problem] = []
        self.duplicates: list[tuple[int, int]] = []  # (line, column) of repeated keys
        self._begin()

    def _begin(self) -> None:
        self.anchors: dict[str, Any] = {}
        self.stack: list[_Frame] = []
        self.top: _Frame | None = None
        self.root: Any = None
        self.root_mark: Any = None
        self.marks: dict[tuple[str | int, ...], Location] = {}
        self.fresh = 0  # nodes written out
        self.expanded = 0  # nodes reached again through aliases

    def read(self, text: str) -> list[RawDocument]:
        parser = _Loader(text)
        found: list[RawDocument] = []
        get = parser.get_event
        try:
            while (event := get()) is not None:
                kind = type(event)
                if kind is ScalarEvent and self.plain_scalar(event):
                    continue
                try:
                    if kind is ScalarEvent:
                        self.scalar(event)
                    elif kind is MappingStartEvent or kind is SequenceStartEvent:
                        self.start(event, {} if kind is MappingStartEvent else [])
                    elif kind is MappingEndEvent or kind is SequenceEndEvent:
                        self.end()
                    elif kind is AliasEvent:
                        self.alias(event)
                    elif kind is DocumentEndEvent:
                        found.append((self.document(), self.marks))
                        self._begin()
                except _Refused as refused:
                    self.problems.append(refused.problem)
                    while type(get()) is not DocumentEndEvent:
                        pass
                    found.append((None, {}))
                    self._begin()
        finally:
            parser.dispose()
        return found

    def at(self, mark: Any) -> Location:
        return Location(self.display, mark.line + 1, mark.column + 1)

    def document(self) -> dict[str, Any] | None:
        where = self.at(self.root_mark)
        if isinstance(self.root, dict):
            return self.root
        if self.root is None:
            message = "empty YAML document (expected a mapping with 'version: 1')"
        else:
            kind = "a list" if isinstance(self.root, list) else "a scalar"
            message = f"a document must be a mapping (version, trunks, …), not {kind}"
        self.problems.append(_problem(where, message))
        return None

    def plain_scalar(self, event: Any) -> bool:
        """The hot path: an untagged, unanchored key or string value; False for the rest."""
        top = self.top
        if top is None or event.anchor is not None or event.tag is not None:
            return False
        key, text = top.key, event.value
        if key is _NO_KEY:
            if text == "<<" or text in top.value:
                return False
            top.key = text
            if top.prefix is not None:
                self.marks[(*top.prefix, text)] = self.at(event.start_mark)
        elif event.implicit[0] and text[:1] in _IMPLICIT_RESOLVERS:
            return False  # may be a number, a boolean, null…
        elif key is None:
            top.value.append(text)
        elif type(key) is str:
            top.value[key] = text
            top.key = _NO_KEY
        else:
            return False
        self.fresh += 1
        return True

    def scalar(self, event: Any) -> None:
        self.fresh += 1
        top = self.top
        if top is not None and top.key is _NO_KEY:
            self.key(top, event)
            return
        value = self.value(event)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1)
        self.attach(value, event.start_mark)

    def key(self, top: _Frame, event: Any) -> None:
        text = event.value
        if event.anchor is not None:
            self.anchors[event.anchor] = (self.value(event), 1)
        if text == "<<" and event.tag is None and event.implicit[0]:
            top.key = _MERGE
        elif text in top.value:
            self.duplicates.append((event.start_mark.line, event.start_mark.column))
            top.key = _SKIP
        else:
            top.key = text
            if top.prefix is not None:
                self.marks[(*top.prefix, text)] = self.at(event.start_mark)

    def value(self, event: Any) -> Any:
        tag, text = event.tag, event.value
        if tag is None:
            if not event.implicit[0] or text[:1] not in _IMPLICIT_RESOLVERS:
                return text  # quoted, or plain text that cannot be anything else
            known = self.plain.get(text, _MISSING)
            if known is _MISSING:
                known = self.plain[text] = self.resolve(text, event)
            return known
        if tag == "!":
            return text  # the non-specific tag: a string
        return self.typed(tag, text, event)

    def resolve(self, text: str, event: Any) -> Any:
        for tag, regexp in _IMPLICIT_RESOLVERS.get(text[:1], ()):
            if regexp.match(text):
                return self.typed(tag, text, event)
        return text

    def typed(self, tag: str, text: str, event: Any) -> Any:
        node = ScalarNode(tag, text)
        try:
            if tag == _YAML + "int":
                return IntText(_SAFE.construct_yaml_int(node), text)
            if tag == _YAML + "float":
                return FloatText(_SAFE.construct_yaml_float(node), text)
            if tag == _YAML + "bool":
                return _SAFE.construct_yaml_bool(node)
        except (ValueError, KeyError):
            name = tag.removeprefix(_YAML)
            self.problems.append(
                _problem(self.at(event.start_mark), f"'{text}' is not a valid {name}")
            )
            return text
        if tag == _YAML + "null":
            return None
        if tag in _TEXT_TAGS:
            return text  # dates stay as written: options are text
        self.problems.append(_problem(self.at(event.start_mark), _tag_message(tag)))
        return text

    def start(self, event: Any, value: Any) -> None:
        self.fresh += 1
        tag = event.tag
        if tag is not None and tag != "!" and tag != _COLLECTION_TAGS[type(value)]:
            self.problems.append(_problem(self.at(event.start_mark), _tag_message(tag)))
        if len(self.stack) >= MAX_DEPTH:
            message = f"nested more than {MAX_DEPTH} levels deep; refused"
            raise _Refused(_problem(self.at(event.start_mark), message))
        parent = self.top
        prefix: tuple[str, ...] | None = None
        if parent is None:
            prefix = ()
        elif parent.key is _NO_KEY:
            where = self.at(event.start_mark)
            self.problems.append(_problem(where, "a mapping key must be a scalar"))
            parent.key = _COMPLEX
        elif parent.prefix == () and type(parent.key) is str:
            prefix = (parent.key,)
        if event.anchor is not None:
            self.anchors[event.anchor] = _BUILDING
        frame = _Frame(value, event.anchor, self.fresh + self.expanded, event.start_mark, prefix)
        if type(value) is list:
            frame.key = None  # a sequence takes values only
        self.stack.append(frame)
        self.top = frame

    def end(self) -> None:
        frame = self.stack.pop()
        self.top = self.stack[-1] if self.stack else None
        value = frame.value
        for source in frame.merge:
            for key, item in source.items():
                value.setdefault(key, item)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (value, self.fresh + self.expanded - frame.start)
        self.attach(value, frame.mark)

    def alias(self, event: Any) -> None:
        entry = self.anchors.get(event.anchor, _MISSING)
        where = self.at(event.start_mark)
        if entry is _BUILDING:
            raise _Refused(_problem(where, "recursive alias: a node contains itself"))
        if entry is _MISSING:
            self.problems.append(_problem(where, f"undefined alias '*{event.anchor}'"))
            value, size = None, 1
        else:
            value, size = entry
        self.expanded += size
        if self.expanded > ALIAS_EXPANSION_BASE + ALIAS_EXPANSION_RATIO * self.fresh:
            message = (
                f"aliases expand this document to over {self.expanded} nodes from "
                f"{self.fresh} written: refused as an alias bomb"
            )
            raise _Refused(_problem(where, message))
        top = self.top
        if top is not None and top.key is _NO_KEY:
            if isinstance(value, str):
                top.key = value
            else:
                self.problems.append(_problem(where, "a mapping key must be a scalar"))
                top.key = _SKIP
            return
        self.attach(value, event.start_mark)

    def attach(self, value: Any, mark: Any) -> None:
        top = self.top
        if top is None:
            self.root, self.root_mark = value, mark
            return
        if type(top.value) is list:
            top.value.append(value)
            return
        key, top.key = top.key, _NO_KEY
        if key is _SKIP:
            return
        if key is _COMPLEX:
            top.key = _SKIP  # that collection was a key: drop the value that follows
        elif key is _MERGE:
            sources = value if isinstance(value, list) else [value]
            if sources and all(isinstance(s, dict) for s in sources):
                top.merge += sources
            else:
                message = "'<<' must merge a mapping or a list of them"
                self.problems.append(_problem(self.at(mark), message))
        else:
            top.value[key] = value


def _duplicate_keys(text: str, display: str, repeated: list[tuple[int, int]]) -> list[Problem]:
    """Problems for repeated keys, naming the line of the first one (nodes are composed again)."""
    if not repeated:
        return []
    wanted, problems = set(repeated), []
    nodes, _ = _compose(text, display)
    todo: list[Node] = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, SequenceNode):
            todo += node.value
        elif isinstance(node, MappingNode):
            seen: dict[str, Node] = {}
            for key_node, value_node in node.value:
                todo.append(value_node)
                if not isinstance(key_node, ScalarNode) or _is_merge_key(key_node):
                    continue
                first = seen.setdefault(key_node.value, key_node)
                mark = key_node.start_mark
                if first is not key_node and (mark.line, mark.column) in wanted:
                    message = (
                        f"duplicate key '{key_node.value}' (first at line "
                        f"{first.start_mark.line + 1}); YAML would silently keep only the last one"
                    )
                    problems.append(
                        _problem(Location(display, mark.line + 1, mark.column + 1), message)
                    )
    return problems


_TEXT_TAGS = frozenset(_YAML + t for t in ("str", "timestamp", "merge", "value", "yaml"))


def _tag_message(tag: str) -> str:
    message = f"unsupported YAML tag '{tag}'"
    if tag.startswith("!") and not tag.startswith("!!"):
        message += f"; quote a value that starts with '!' (\"{tag}\")"
    return message


def _is_merge_key(node: Node) -> bool:
    return type(node) is ScalarNode and node.tag == _IMPLICIT and node.value == "<<"


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


def _collect_declarations(
    documents: Sequence[Document],
) -> tuple[dict[str, tuple[Declaration, ...]], list[Problem]]:
    found: dict[str, list[Declaration]] = {kind: [] for kind in KINDS}
    first: dict[tuple[str, str, str | None], Declaration] = {}
    problems: list[Problem] = []
    for document in documents:
        for decl in document_declarations(document):
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


def document_declarations(document: Document) -> Iterator[Declaration]:
    """The declarations written in one document, in order (before any merge)."""
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
    lists: dict[str, list[str]] = {"prune": [], "protect": []}
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
        max_delete_percent=limits["max_delete_percent"][0]
        if "max_delete_percent" in limits
        else None,
        max_update_percent=limits["max_update_percent"][0]
        if "max_update_percent" in limits
        else None,
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
