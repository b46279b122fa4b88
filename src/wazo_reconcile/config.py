"""Stage 1, load: read the desired-state YAML of a stack, keeping the position of every node.

A stack is one YAML file or a directory of them (recursive, sorted, ``*.yaml``/``*.yml``,
hidden entries skipped); a file may hold several ``---`` documents. Reading never stops at the
first problem: :func:`read_stack` returns the stack with every problem found, and
:func:`load_stack` raises one :class:`ConfigError` carrying all of them.

The YAML reader is PyYAML's C parser and composer (the nodes keep their start marks), with our
own constructor on top of it:

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

import gc
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from wazo_reconcile.errors import ConfigError, Location, Problem

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
    """One YAML document of a stack, with the node tree that locates its values.

    A document read by a helper process comes without its node tree but with the positions
    of its top two levels of keys (enough for declarations); the tree is composed again from
    the file the first time anything deeper is located.
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
    path: str | os.PathLike[str], *, per_document: Callable[[Document], Any] | None = None
) -> tuple[Stack, list[Problem]]:
    """Read a stack and report its problems (YAML, duplicate names, policy conflicts).

    ``per_document`` runs on each document where it is read, possibly in a helper process,
    while its node tree is at hand; its result (picklable) is kept as ``document.analysis``.
    Validation uses it to check big stacks on two cores.
    """
    root = Path(path)
    problems: list[Problem] = []
    documents: list[Document] = []
    readable = True
    files = stack_files(root)
    if not files:
        problems.append(_problem(Location(str(root), 1, 1), "no *.yaml or *.yml file here"))
        readable = False
    with _gc_paused():
        results = _read_files(files, per_document)
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
# The helper's bytes per byte read here: it also forks and pickles its results (measured).
HELPER_SHARE = 0.8


def _read_files(files: list[Path], per_document: PerDocument) -> list[FileResult]:
    """Each file's documents and problems, in order; big stacks are read by two processes."""
    plain: dict[str, Any] = {}

    def read(file: Path) -> FileResult:
        return read_file(file, plain=plain, per_document=per_document)

    helped = _helper_files(files)
    if not helped:
        return [read(file) for file in files]
    helper = _HelperProcess(helped, per_document)
    try:
        mine = {file: read(file) for file in files if file not in helped}
        theirs = helper.results()
    finally:
        helper.close()
    return [mine[f] if f in mine else theirs.get(f) or read(f) for f in files]


def _helper_files(files: list[Path]) -> set[Path]:
    """About half of the bytes to give a forked helper, or nothing when it is not worth it."""
    if not hasattr(os, "fork") or threading.active_count() > 1 or len(files) < 2:
        return set()  # forking a threaded process is unsafe
    sizes = {}
    for file in files:
        try:
            sizes[file] = file.stat().st_size
        except OSError:
            return set()
    if sum(sizes.values()) < PARALLEL_MIN_BYTES:
        return set()
    ours, theirs, given = 0, 0, set()
    for file in sorted(files, key=sizes.__getitem__, reverse=True):
        if theirs < ours * HELPER_SHARE:
            theirs += sizes[file]
            given.add(file)
        else:
            ours += sizes[file]
    return given


class _HelperProcess:
    """A forked child that reads some files and sends back their data (not their nodes)."""

    def __init__(self, files: set[Path], per_document: PerDocument) -> None:
        self.files = sorted(files)
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - runs in the child, which never returns
            os.close(read_end)
            _serve(self.files, write_end, per_document)
        os.close(write_end)
        self.pipe = os.fdopen(read_end, "rb")

    def results(self) -> dict[Path, FileResult]:
        payload = self.pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if status != 0 or not payload:
            return {}  # the parent reads those files itself
        found: dict[Path, FileResult] = pickle.loads(payload)
        return found

    def close(self) -> None:
        self.pipe.close()
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)


def _serve(
    files: list[Path], write_end: int, per_document: PerDocument
) -> None:  # pragma: no cover - child process
    status = 1
    try:
        plain: dict[str, Any] = {}
        results = {}
        for file in files:
            documents, problems = read_file(file, plain=plain, per_document=per_document)
            for document in documents:
                document.key_marks = _key_marks(document)
                document.node, document._indexes = None, {}
            results[file] = (documents, problems)
        with os.fdopen(write_end, "wb") as out:
            out.write(pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))
        status = 0
    finally:
        os._exit(status)


def _key_marks(document: Document) -> dict[tuple[str | int, ...], Location]:
    marks: dict[tuple[str | int, ...], Location] = {}
    for kind, entries in document.data.items():
        marks[(kind,)] = document.locate((kind,), key=True)
        if isinstance(entries, dict):
            for name in entries:
                marks[(kind, name)] = document.locate((kind, name), key=True)
    return marks


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


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Building the trees allocates hundreds of thousands of acyclic objects; the cyclic
    # collector would rescan them over and over (measured: 3x slower loads). Nothing we
    # build here is cyclic (recursive aliases are refused), so pausing it is safe.
    # Freezing them afterwards keeps later collections from scanning them again (they are
    # still freed by reference counting).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()


def read_file(
    path: Path, *, plain: dict[str, Any] | None = None, per_document: PerDocument = None
) -> FileResult:
    """The documents of one YAML file, or the problems that prevent reading it.

    ``plain`` caches the values of plain scalars by text, across the files of a stack;
    ``per_document`` is as for :func:`read_stack`.
    """
    display = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [], [_problem(Location(display, 1, 1), f"cannot read file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw[: exc.start].decode("utf-8", "replace"))
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); YAML files must be UTF-8"
        return [], [_problem(Location(display, line, col), message)]
    nodes, problems = _compose(text, display)
    if problems:
        return [], problems
    if not nodes:
        message = "no YAML document in this file (expected a mapping with 'version: 1')"
        return [], [_problem(Location(display, 1, 1), message)]
    documents: list[Document] = []
    for index, node in enumerate(nodes):
        document, doc_problems = _document(node, display, index, len(documents), path.parent, plain)
        problems += doc_problems
        if document is not None:
            if per_document is not None:
                document.analysis = per_document(document)
            documents.append(document)
    return documents, problems


def _compose(text: str, display: str) -> tuple[list[Node], list[Problem]]:
    loader = _Loader(text)
    nodes: list[Node] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
    except yaml.MarkedYAMLError as exc:
        return [], [_syntax_problem(exc, display)]
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text[: exc.position])
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        message = f"character {shown} is not allowed in YAML ({exc.reason})"
        return [], [_problem(Location(display, line, col), message)]
    except yaml.YAMLError as exc:  # any other libyaml failure, without position
        return [], [_problem(Location(display, 1, 1), f"YAML error: {exc}")]
    finally:
        loader.dispose()
    return nodes, []


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


def _document(
    node: Node,
    display: str,
    index: int,
    ordinal: int,
    base_dir: Path,
    plain: dict[str, Any] | None = None,
) -> tuple[Document | None, list[Problem]]:
    where = Location(display, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, ScalarNode) and node.tag == _IMPLICIT and node.value == "":
        return None, [_problem(where, "empty YAML document (expected a mapping with 'version: 1')")]
    if not isinstance(node, MappingNode):
        kind = "a list" if isinstance(node, SequenceNode) else "a scalar"
        message = f"a document must be a mapping (version, trunks, …), not {kind}"
        return None, [_problem(where, message)]
    builder = _Builder(display, plain)
    try:
        data = builder.build(node)
    except _Refused as refused:
        return None, builder.problems + [refused.problem]
    document = Document(display, index, ordinal, data, base_dir, node)
    return document, builder.problems


def _line_col(before: str) -> tuple[int, int]:
    line = before.count("\n") + 1
    return line, len(before) - (before.rfind("\n") + 1) + 1


def _problem(location: Location, message: str, path: str = "$") -> Problem:
    return Problem(location, path, message)


# ------------------------------------------------------------------------ YAML construction


class _Loader(yaml.CSafeLoader):
    """The C parser and composer; plain scalars are resolved later, by :class:`_Builder`."""

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _IMPLICIT if implicit[0] else _STR
        return _KIND_TAGS[kind]


class _Refused(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


_BUILDING = object()


class _Builder:
    """Node tree -> plain values, with source texts, duplicate-key and alias-bomb checks."""

    def __init__(self, display: str, plain: dict[str, Any] | None = None) -> None:
        self.display = display
        self.plain = {} if plain is None else plain  # plain scalar text -> value (read-only)
        self.problems: list[Problem] = []
        self.built: dict[int, tuple[Any, int]] = {}  # collections: id -> (value, size)
        self.fresh = 0  # nodes written out
        self.expanded = 0  # nodes reached again through aliases
        self.depth = 0

    def at(self, node: Node) -> Location:
        return Location(self.display, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: Node) -> Any:
        if type(node) is ScalarNode:
            self.fresh += 1
            return self.scalar(node)
        seen = self.built.get(id(node))
        if seen is not None:
            return self.reuse(node, seen)
        self.built[id(node)] = (_BUILDING, 0)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            message = f"nested more than {MAX_DEPTH} levels deep; refused"
            raise _Refused(_problem(self.at(node), message))
        start = self.fresh + self.expanded
        if node.tag != _KIND_TAGS[type(node)]:
            self.problems.append(_problem(self.at(node), _tag_message(node.tag)))
        if isinstance(node, MappingNode):
            value: Any = self.mapping(node)
        else:
            value = [self.value(item) for item in node.value]
            self.fresh += len(node.value)
        self.fresh += 1
        self.depth -= 1
        self.built[id(node)] = (value, self.fresh + self.expanded - start)
        return value

    def reuse(self, node: Node, seen: tuple[Any, int]) -> Any:
        value, size = seen
        if value is _BUILDING:
            raise _Refused(_problem(self.at(node), "recursive alias: a node contains itself"))
        self.expanded += size
        if self.expanded > ALIAS_EXPANSION_BASE + ALIAS_EXPANSION_RATIO * self.fresh:
            message = (
                f"aliases expand this document to over {self.expanded} nodes from "
                f"{self.fresh} written: refused as an alias bomb"
            )
            raise _Refused(_problem(self.at(node), message))
        return value

    def mapping(self, node: MappingNode) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: list[dict[str, Any]] = []
        value = self.value
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode:
                self.problems.append(_problem(self.at(key_node), "a mapping key must be a scalar"))
                continue
            key = key_node.value
            if key in result or key == "<<":
                if key == "<<" and key_node.tag == _IMPLICIT:
                    merged += self.merge_sources(value_node)
                else:
                    self.duplicate(node, key_node)
            else:
                result[key] = value(value_node)
        self.fresh += 2 * len(node.value)
        for source in merged:
            for key, item in source.items():
                result.setdefault(key, item)
        return result

    def value(self, node: Node) -> Any:
        # The hot path of loading: plain and quoted strings, the bulk of a stack, return at
        # once (the composer hands back our own tag objects, hence `is`); other plain
        # scalars are resolved once per distinct text.
        if type(node) is not ScalarNode:
            return self.build(node)
        tag, text = node.tag, node.value
        if tag is _STR or (tag is _IMPLICIT and text[:1] not in _IMPLICIT_RESOLVERS):
            return text
        if tag is _IMPLICIT:
            known = self.plain.get(text, _BUILDING)
            if known is _BUILDING:
                known = self.plain[text] = self.scalar(node)
            return known
        return self.scalar(node)

    def merge_sources(self, node: Node) -> list[dict[str, Any]]:
        sources = _merge_sources(node)
        if not sources:
            self.problems.append(
                _problem(self.at(node), "'<<' must merge a mapping or a list of them")
            )
        return [self.build(source) for source in sources]

    def duplicate(self, node: MappingNode, key_node: ScalarNode) -> None:
        first = next(k for k, _ in node.value if k is not key_node and _same_key(k, key_node))
        message = (
            f"duplicate key '{key_node.value}' (first at line {first.start_mark.line + 1}); "
            "YAML would silently keep only the last one"
        )
        self.problems.append(_problem(self.at(key_node), message))

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag == _IMPLICIT:
            value = node.value
            for resolved, regexp in _IMPLICIT_RESOLVERS.get(value[:1], ()):
                if regexp.match(value):
                    return self.typed(resolved, node)
            return value
        if tag == _STR:
            return node.value
        return self.typed(tag, node)

    def typed(self, tag: str, node: ScalarNode) -> Any:
        text = node.value
        try:
            if tag == _YAML + "int":
                return IntText(_SAFE.construct_yaml_int(node), text)
            if tag == _YAML + "float":
                return FloatText(_SAFE.construct_yaml_float(node), text)
            if tag == _YAML + "bool":
                return _SAFE.construct_yaml_bool(node)
        except (ValueError, KeyError):
            name = tag.removeprefix(_YAML)
            self.problems.append(_problem(self.at(node), f"'{text}' is not a valid {name}"))
            return text
        if tag == _YAML + "null":
            return None
        if tag in _TEXT_TAGS:
            return text  # dates stay as written: options are text
        self.problems.append(_problem(self.at(node), _tag_message(tag)))
        return text


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


def _same_key(a: Node, b: Node) -> bool:
    return isinstance(a, ScalarNode) and a.value == b.value and not _is_merge_key(a)


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
    # Names are instance-wide in confd, except the per-tenant `global` template.
    if decl.kind == "sip_templates" and decl.name == "global":
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
    location = document.locate(("policy", name))
    if name not in limits:
        limits[name] = (float(value), location)
        return []
    known, where = limits[name]
    if known == float(value):
        return []
    message = f"conflicting policy: {name} is {option_text(value)} here but {known:g} at {where}"
    return [Problem(location, f"policy.{name}", message)]


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
