"""Export stage, writing: document entries as YAML files that look hand-written (pure).

`export.py` builds each document's entries from the live model: plain values, the style
markers below, and `Deferred` scalars (secrets, named once every secret is known). This module
writes them: which scalars are plain or quoted and how, flow or block collections, one file
per kind with one document per tenant, the header comments, a comment above an entry, a blank
line between entries that span several lines, and the commented policy block.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import yaml
from yaml.emitter import Emitter, ScalarAnalysis

T = TypeVar("T")

FLOW_WIDTH = 64  # lists of scalars at most this wide are written [a, b]
MAX_LISTED_VARIABLES = 20  # a header lists the variables its document uses, up to this many

KIND_TITLES = {
    "pjsip": (
        "PJSIP global and system settings (instance-wide). A section manages only the keys "
        "it declares; a key set to null is removed (docs/ownership.md)."
    ),
    "transports": (
        "SIP transports (instance-wide). Any transport change needs an Asterisk restart."
    ),
    "sip_templates": (
        "SIP endpoint templates, by name; `global`, `webrtc`, `registration_trunk` and "
        "`meeting_guest` are the tenant's default templates."
    ),
    "trunks": (
        "Trunks: SIP and IAX by endpoint name, custom by interface. A declared option "
        "section is the exact list of that section."
    ),
    "outcalls": "Outgoing routes: trunks in priority order, and the exact set of dial patterns.",
    "users": "Users' outgoing caller IDs, by email, else username, else uuid.",
    "policy": (
        "The stack's policy: what `reconcile apply` may do to live objects this stack does not "
        "declare. Nothing is decided for you: uncomment what you want."
    ),
}
EMPTY_NOTES = {
    "pjsip": "PJSIP settings are a fresh Wazo's: nothing to declare (`--all` writes them).",
    "transports": "Transports are a fresh Wazo's: nothing to declare (`--all` writes them).",
    "sip_templates": "No template differs from confd's defaults (`--all` writes them).",
    "users": "Every user has the default outgoing caller ID: nothing to declare.",
}


# ------------------------------------------------------------------------ style markers


class Flow(list[T]):
    """A sequence written in flow style: `[a, b]`."""


class Inline(dict[str, object]):
    """A mapping written in flow style: `{outgoing_caller_id: anonymous}`."""


class YesNo(str):
    """An option value `yes`/`no` written plain: YAML reads a boolean, which the loader turns
    back into the same text (`config.option_text`)."""


class Number(str):
    """An option value written as a plain integer (`60`): the loader keeps its source text."""


class Deferred:
    """A scalar written as its `text`, which is set after the entries are built (a secret's
    ``${env:NAME}`` reference depends on every other secret's name)."""

    text: str


_CANONICAL_INT = re.compile(r"0|[1-9][0-9]{0,17}")


def option_word(value: str) -> str:
    """An option value, marked to be written plain where the loader reads it back as itself."""
    if value == "yes" or value == "no":
        return YesNo(value)
    if _CANONICAL_INT.fullmatch(value):
        return Number(value)
    return value


def sequence(items: Sequence[T]) -> list[T]:
    """A list, written in flow style when it holds short scalars only."""
    scalars = all(isinstance(i, str) for i in items)
    width = sum(len(str(i)) + 2 for i in items)
    return Flow(items) if scalars and width <= FLOW_WIDTH else list(items)


# ----------------------------------------------------------------------------- quoting

# YAML 1.2 and other readers' numbers and words, quoted even where PyYAML reads a string.
_AMBIGUOUS = re.compile(
    r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?"
    r"|0[xob][0-9a-fA-F_]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
    r"|(?i:y|n|yes|no|true|false|on|off|null|~)"
)
_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()
_ANALYZER = Emitter(io.StringIO(), allow_unicode=True)


@lru_cache(maxsize=1 << 16)  # keys and most values repeat: each text is analysed once
def quote_style(text: str, flow: bool = False) -> str | None:
    """None (plain) when YAML reads the text back as the same string, else the quote style:
    double quotes, or single quotes for text with double quotes in it (caller IDs)."""
    analysis: ScalarAnalysis = _ANALYZER.analyze_scalar(text)
    allowed = analysis.allow_flow_plain if flow else analysis.allow_block_plain
    if allowed and text and not analysis.multiline and not _AMBIGUOUS.fullmatch(text):
        tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        if tag == _STR_TAG:
            return None
    if '"' in text and "'" not in text and text.isprintable():
        return "'"
    return '"'


# ----------------------------------------------------------------------------- emitting

_IMPLICIT = (True, True)  # no tag written: the style chosen by quote_style keeps the type right
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's


def to_yaml(value: object) -> str:
    """`value` as block YAML in the export's style (no document markers, no line folding)."""
    events: list[yaml.Event] = [yaml.StreamStartEvent(), yaml.DocumentStartEvent(explicit=False)]
    _events(value, events)
    events += [yaml.DocumentEndEvent(explicit=False), yaml.StreamEndEvent()]
    text: str = yaml.emit(events, Dumper=_Dumper, allow_unicode=True, width=1_000_000, indent=2)
    return text


def _events(value: object, out: list[yaml.Event], flow: bool = False) -> None:
    """A plain value (with the style markers above) as emitter events, appended to `out`.

    Events, not `yaml.dump`: each scalar is written in the style chosen here, with no tag
    resolution or anchors in between."""
    if isinstance(value, Deferred):
        value = value.text
    if isinstance(value, YesNo | Number):
        out.append(yaml.ScalarEvent(None, None, _IMPLICIT, str(value), style=None))
    elif isinstance(value, str):
        out.append(yaml.ScalarEvent(None, None, _IMPLICIT, value, style=quote_style(value, flow)))
    elif isinstance(value, dict):
        inline = flow or isinstance(value, Inline)
        out.append(yaml.MappingStartEvent(None, None, True, flow_style=inline))
        for key, item in value.items():
            _events(key, out, inline)
            _events(item, out, inline)
        out.append(yaml.MappingEndEvent())
    elif isinstance(value, list):
        inline = flow or isinstance(value, Flow)
        out.append(yaml.SequenceStartEvent(None, None, True, flow_style=inline))
        for item in value:
            _events(item, out, inline)
        out.append(yaml.SequenceEndEvent())
    elif value is None or isinstance(value, int):  # bool is an int
        text = "null" if value is None else str(value).lower()
        out.append(yaml.ScalarEvent(None, None, _IMPLICIT, text, style=None))
    else:
        raise TypeError(f"cannot export a {type(value).__name__}")


def plain(value: object) -> object:
    """`value` without style markers nor deferred scalars: plain dicts, lists, strings."""
    if isinstance(value, Deferred):
        return value.text
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


# ----------------------------------------------------------------------- files, documents


@dataclass(frozen=True, slots=True)
class Entry:
    """One declaration of a document: its name, its body (see the module docstring) and the
    comment written above it."""

    name: str
    body: object
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: a kind's entries of one tenant, or of the instance."""

    kind: str
    tenant: str | None  # its `tenant:` line (none for the token's tenant and instance-wide kinds)
    entries: Sequence[Entry] = ()
    variables: Sequence[str] = ()  # the environment variables its entries use, in order

    def head(self) -> dict[str, object]:
        """Its `version`, and its `tenant` if it has one."""
        return {"version": 1} if self.tenant is None else {"version": 1, "tenant": self.tenant}

    def data(self) -> dict[str, object]:
        """What the document declares, as plain data."""
        found = self.head()
        if self.entries:
            found[self.kind] = {e.name: plain(e.body) for e in self.entries}
        return found


def write_files(
    documents: Sequence[Document],
    *,
    schema_ref: str,
    provenance: str | None,
    left_out: Sequence[str],
) -> dict[str, str]:
    """The text of each file (`<kind>.yaml`, in the documents' order), its documents separated
    by `---`. `provenance` is the header's sentence saying where the export comes from;
    `left_out` the live objects not written because they hold a fresh Wazo's settings."""
    header = _Header(schema_ref, provenance)
    files: dict[str, list[str]] = {}
    for document in documents:
        if document.kind == "policy":
            text = _policy_text(header, documents, left_out)
        else:
            text = _document_text(header, document)
        files.setdefault(f"{document.kind}.yaml", []).append(text)
    return {name: "---\n".join(parts) for name, parts in files.items()}


@dataclass(frozen=True)
class _Header:
    schema_ref: str
    provenance: str | None

    def lines(self, kind: str, variables: Sequence[str] = ()) -> list[str]:
        lines = [f"# yaml-language-server: $schema={self.schema_ref}", "#"]
        lines += [f"# {line}" for line in _wrap(KIND_TITLES[kind])]
        if self.provenance is not None:
            lines.append(f"# {self.provenance}")
        if variables:
            lines.append("#")
            if len(variables) <= MAX_LISTED_VARIABLES:
                lines.append("# Secrets come from the environment:")
                lines += [f"#   export {name}='…'" for name in variables]
            else:
                lines.append(
                    f"# Secrets come from {len(variables)} environment variables "
                    "(listed by `reconcile export`)."
                )
        return lines


def _document_text(header: _Header, document: Document) -> str:
    kind = document.kind
    parts = ["\n".join(header.lines(kind, document.variables)) + "\n" + to_yaml(document.head())]
    if not document.entries:
        note = EMPTY_NOTES.get(kind, f"Nothing to declare: no {kind} on the PBX.")
        parts.append("".join(f"# {line}\n" for line in _wrap(note)))
    else:
        parts.append(_entries_text(kind, document.entries))
    return "\n".join(parts)


def _entries_text(kind: str, entries: Sequence[Entry]) -> str:
    """A kind's entries as the emitter writes them (the `kind:` line first), with a blank line
    between entries when any spans several lines, and each entry's comment above it."""
    text = to_yaml({kind: {e.name: e.body for e in entries}})
    comments = [e.comment for e in entries]
    starts = [m.start() + 1 for m in _ENTRY_START.finditer(text)]
    spaced = text.count("\n", starts[0]) > len(starts)  # more lines than entries
    if not spaced and not any(comments):
        return text
    out = [text[: starts[0]]]
    for n, (comment, start) in enumerate(zip(comments, starts, strict=True)):
        if spaced and n:
            out.append("\n")
        if comment:
            out += [f"  # {line}\n" for line in _wrap(comment)]
        out.append(text[start : starts[n + 1] if n + 1 < len(starts) else len(text)])
    return "".join(out)


_ENTRY_START = re.compile(r"\n  [^ ]")  # the line break before an entry's first line


def _policy_text(header: _Header, documents: Sequence[Document], left_out: Sequence[str]) -> str:
    exported = [
        k
        for k in ("transports", "sip_templates", "trunks", "outcalls")
        if any(d.kind == k and d.entries for d in documents)
    ]
    prune = [k for k in ("trunks", "outcalls") if k in exported] or ["trunks", "outcalls"]
    first = (
        f"{kind}/{d.entries[0].name}"
        for kind in ("trunks", "outcalls")
        for d in documents
        if d.kind == kind and d.entries
    )
    protect = list(left_out) or [next(first, "trunks/emergency")]
    lines = header.lines("policy") + [to_yaml({"version": 1}).rstrip("\n"), ""]
    lines += [
        "# policy:",
        "#   # Kinds whose live objects missing from this stack are deleted by apply.",
        "#   # Turn it on once `reconcile plan` shows no changes and lists no unmanaged",
        "#   # object you want to keep.",
        *_commented(to_yaml({"prune": sequence(prune)}), "#   "),
        "#",
        "#   # Objects apply never changes nor deletes, even once removed from the YAML.",
    ]
    if left_out:
        lines.append(
            "#   # These live objects were left out because they hold a fresh Wazo's settings:"
        )
        lines.append("#   # protect them (or export with --all) before pruning their kind.")
    lines += [
        *_commented(to_yaml({"protect": sequence(protect)}), "#   "),
        "#",
        "#   # Refuse an apply that deletes more than this share of a kind, unless --force.",
        *_commented(to_yaml({"max_delete_percent": 30}), "#   "),
    ]
    return "\n".join(lines) + "\n"


def _commented(text: str, prefix: str) -> list[str]:
    return [prefix + line for line in text.splitlines()]


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, 88, break_long_words=False, break_on_hyphens=False)
