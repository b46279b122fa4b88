"""Asterisk dial patterns: matching, Asterisk's order of a context, and their lint (pure).

Verified by reading source (facts only; see docs/caller-id.md for the details): Asterisk
main/pbx.c `_extension_match_core` (matching, `-` ignored, `[]` skipped, `.`/`!`),
`ext_cmp`/`ext_cmp_pattern_pos` + `ast_add_extension2` (a context's extensions are kept sorted
most-specific first and the first match wins; `extenpatternmatchnew` defaults to off);
wazo-agid `_set_destination_number` (strip, then external prefix); confd's outcall extension
validator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, TypeVar

from wazo_reconcile.model import Pattern

Severity = Literal["error", "warning", "info"]
Tail = Literal["end", "one_or_more", "zero_or_more", "never"]


# ------------------------------------------------------------------- Asterisk patterns

_DIGITS = "0123456789"
_WILDCARDS = {"x": _DIGITS, "z": _DIGITS[1:], "n": _DIGITS[2:]}
DIALABLE = frozenset(_DIGITS + "*#+")  # what a dialed number can contain
_CONFD_OUTCALL_EXTEN = re.compile(r"_?\+?[*#0-9_XxZzNn\[\].!-]*")

# ext_cmp_pattern_pos scores: lower sorts first (more specific).
_SCORE_DOT = 0x18000
_SCORE_BANG = 0x28000
_SCORE_END = 0x30000
_SCORE_UNCLOSED = 0x40000


@dataclass(frozen=True, slots=True)
class _Token:
    """One element of a pattern after the leading `_`."""

    kind: Literal["chars", "empty", "dot", "bang", "unclosed", "slash"]
    chars: frozenset[str] = frozenset()
    score: int = 0  # ext_cmp_pattern_pos value; 0 = skipped when sorting
    raw: str = ""


@dataclass(frozen=True, slots=True, order=True)
class SortKey:
    """Asterisk's ordering of extensions in a context (`ext_cmp`): smaller = tried first.

    Literal extensions come before patterns; patterns compare position by position: a literal
    character < a class (by size, then lowest characters) < N/Z/X (same as [2-9]/[1-9]/[0-9])
    < `.` < `!` < end of pattern. Two extensions with equal keys are the same extension to
    Asterisk (`_0X` and `_0x`, `_X` and `_[0-9]`, `_0-X` and `_0X`).
    """

    is_pattern: bool
    literal: str = ""
    positions: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    """An extension reduced to what matching needs.

    A number matches when it has one character from each `positions` set, followed by: nothing
    (`end`), at least one more character (`one_or_more`, `.`), anything (`zero_or_more`, `!`),
    or never matches (`never`: unclosed `[`, trailing `[]`). `-` in patterns and numbers is
    ignored, as Asterisk does.
    """

    exten: str
    is_pattern: bool
    positions: tuple[frozenset[str], ...]
    tail: Tail
    key: SortKey
    tokens: tuple[_Token, ...] = field(repr=False, default=())

    def matches(self, number: str) -> bool:
        digits = number.replace("-", "")
        if self.tail == "never" or len(digits) < len(self.positions):
            return False
        if any(c not in chars for c, chars in zip(digits, self.positions, strict=False)):
            return False
        rest = len(digits) - len(self.positions)
        return {"end": rest == 0, "one_or_more": rest >= 1, "zero_or_more": True}[self.tail]

    @property
    def min_length(self) -> int:
        return len(self.positions) + (1 if self.tail == "one_or_more" else 0)


@lru_cache(maxsize=4096)
def compile_pattern(exten: str) -> CompiledPattern:
    """Parse an extension (`_0XXXX`, `_+33.`, `112`) into its matching form and sort key."""
    if not exten.startswith("_"):
        text = exten.replace("-", "")
        return CompiledPattern(
            exten, False, tuple(frozenset(c) for c in text), "end", SortKey(False, text)
        )
    tokens = tuple(_tokenize(exten[1:]))
    positions, tail = _normal_form(tokens)
    key = SortKey(True, positions=_sort_positions(tokens))
    return CompiledPattern(exten, True, positions, tail, key, tokens)


# A class `[...]` up to the first `]`, else one character (`[` alone: a class never closed).
_TOKEN_RE = re.compile(r"\[([^\]]*)\]|(.)", re.DOTALL)
# An item of a class: a character, or a range `a-b`.
_CLASS_ITEM_RE = re.compile(r"(.)(?:-(.))?", re.DOTALL)


def _tokenize(body: str) -> Iterable[_Token]:
    for found in _TOKEN_RE.finditer(body):
        char = found[2]
        if char is None:
            yield _class_token(found[1])
        elif char == "[":
            yield _Token("unclosed", score=_SCORE_UNCLOSED, raw="[")
        elif char != "-":
            yield _simple_token(char)


@lru_cache(maxsize=256)
def _simple_token(c: str) -> _Token:
    if c == ".":
        return _Token("dot", score=_SCORE_DOT, raw=c)
    if c == "!":
        return _Token("bang", score=_SCORE_BANG, raw=c)
    if c == "/":  # the caller-ID match separator: ends matching, an ordinary char for sorting
        return _Token("slash", frozenset(c), _char_score(frozenset(c)), c)
    wildcard = _WILDCARDS.get(c.lower())
    chars = frozenset(wildcard if wildcard else c)
    return _Token("chars", chars, _char_score(chars), c)


def _class_token(content: str) -> _Token:
    raw = f"[{content}]"
    if not content:
        return _Token("empty", raw=raw)
    items = [(m[1], m[2] or m[1]) for m in _CLASS_ITEM_RE.finditer(content)]
    chars = {chr(o) for first, last in items for o in range(ord(first), ord(last) + 1)}
    lowest = min(ord(first) & 0xFF for first, _ in items)
    score = (len(chars) << 8 | lowest) if chars else 0
    return _Token("chars", frozenset(chars), score, raw)


def _char_score(chars: frozenset[str]) -> int:
    return len(chars) << 8 | min(ord(c) & 0xFF for c in chars)


def _normal_form(tokens: Sequence[_Token]) -> tuple[tuple[frozenset[str], ...], Tail]:
    positions: list[frozenset[str]] = []
    needs_more = False  # `[]` is skipped only when a character follows it
    for token in tokens:
        if token.kind == "chars":
            positions.append(token.chars)
            needs_more = False
        elif token.kind == "empty":
            needs_more = True
        else:
            return tuple(positions), _tail(token.kind, needs_more)
    return tuple(positions), "never" if needs_more else "end"


def _tail(kind: str, needs_more: bool) -> Tail:
    if kind == "dot" or (kind == "bang" and needs_more):
        return "one_or_more"
    if kind == "bang":
        return "zero_or_more"
    if kind == "slash" and not needs_more:
        return "end"
    return "never"


def _sort_positions(tokens: Sequence[_Token]) -> tuple[tuple[int, int], ...]:
    scored = [(t.score, -_bitmap(t.chars)) for t in tokens if t.score]
    return (*scored, (_SCORE_END, 0))


@lru_cache(maxsize=1024)
def _bitmap(chars: frozenset[str]) -> int:
    # Asterisk breaks score ties with a bitmap where lower characters weigh more.
    return sum(1 << (255 - min(ord(c), 255)) for c in chars)


def match(pattern: str, number: str) -> bool:
    """Whether Asterisk matches `number` against the extension `pattern` (E_MATCH)."""
    return compile_pattern(pattern).matches(number)


def specificity(pattern: str) -> SortKey:
    """The key Asterisk sorts a context's extensions by: smaller is tried first."""
    return compile_pattern(pattern).key


P = TypeVar("P", str, Pattern)


def _exten(item: str | Pattern) -> str:
    return item if isinstance(item, str) else item.exten


def sort_patterns(patterns: Iterable[P]) -> list[P]:
    """Patterns in the order Asterisk tries them (ties: by exten text)."""
    return sorted(patterns, key=lambda p: (specificity(_exten(p)), _exten(p)))


def best_pattern(patterns: Iterable[P], number: str) -> P | None:
    """The pattern Asterisk picks for `number` among `patterns` (one context), or None.

    Asterisk loads only one of several extensions with equal keys; we then pick the lowest
    exten text (confgend writes them ordered by exten) and the lint reports the duplicate.
    """
    for candidate in sort_patterns(patterns):
        if match(_exten(candidate), number):
            return candidate
    return None


# -------------------------------------------------------------------- the number sent


def dialed_number(pattern: Pattern, number: str) -> str:
    """The number sent to the trunk: strip `strip_digits` leading digits, then prepend
    `external_prefix` (wazo-agid `_set_destination_number`). `prefix` plays no part at call
    time: the number dialed must match `exten` itself."""
    dialed = number[pattern.strip_digits :] if pattern.strip_digits > 0 else number
    return f"{pattern.external_prefix or ''}{dialed}"


# ---------------------------------------------------------------------------- lint


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint finding about an outcall's patterns or a caller ID.

    `exten`/`context` name the dial pattern concerned (None for a user), `field` the YAML key
    (`exten`, `caller_id`, `strip_digits`, `prefix`, `trunks`, `outgoing_caller_id`),
    `related` the other pattern of a pair (shadowing, duplicates) or the route concerned.
    """

    severity: Severity
    code: str
    message: str
    exten: str | None = None
    context: str | None = None
    field: str | None = None
    related: str | None = None


def pattern_problems(patterns: Iterable[Pattern]) -> list[Finding]:
    """Lint the dial patterns of one outcall (or of every outcall sharing a context).

    Decided exactly: patterns that can never match a dialed number, characters Asterisk
    ignores, duplicates (equal to Asterisk), and a pattern shadowed by ONE more specific
    pattern of the same context (every number it matches goes to the other). Shadowing by a
    union of several patterns is not looked for.
    """
    patterns = list(dict.fromkeys(patterns))
    return [f for p in patterns for f in exten_problems(p)] + context_problems(patterns)


def context_problems(patterns: Iterable[Pattern]) -> list[Finding]:
    """The pair findings of `pattern_problems`: per context, each pattern that is the same
    extension as one tried before it (`duplicate`) or gets none of its numbers (`shadowed`)."""
    groups: dict[str, list[Pattern]] = {}
    for p in dict.fromkeys(patterns):
        groups.setdefault(p.context, []).append(p)
    return [finding for group in groups.values() for finding in _pair_findings(group)]


def finding(
    severity: Severity, code: str, message: str, p: Pattern, field: str = "exten", **kw: str | None
) -> Finding:
    return Finding(severity, code, message, p.exten, p.context, field, **kw)


def exten_problems(p: Pattern) -> list[Finding]:
    """The findings about one pattern's extension on its own (syntax, never matching)."""
    compiled = compile_pattern(p.exten)
    findings: list[Finding] = []
    if not _CONFD_OUTCALL_EXTEN.fullmatch(p.exten):
        findings.append(
            finding("error", "invalid-exten", f"confd refuses {p.exten} in an outcall context", p)
        )
    if not compiled.is_pattern:
        return findings + _literal_findings(p)
    findings += [finding("warning", code, msg, p) for code, msg in _token_issues(compiled)]
    never = _never_reason(compiled)
    if never is not None:
        findings.append(
            finding("warning", "never-matches", f"{p.exten} can never match: {never}", p)
        )
    return findings


def _literal_findings(p: Pattern) -> list[Finding]:
    if not re.search(r"[XxZzNn.!\[]", p.exten):
        return []
    message = (
        f"{p.exten} has no leading `_`: it is a literal extension that matches only the text "
        f"{p.exten}; write _{p.exten} for a pattern"
    )
    return [finding("warning", "literal-not-pattern", message, p)]


def _token_issues(compiled: CompiledPattern) -> list[tuple[str, str]]:
    issues: list[tuple[str, str]] = []
    tokens = compiled.tokens
    for i, token in enumerate(tokens):
        if token.kind in ("dot", "bang") and i + 1 < len(tokens):
            rest = "".join(t.raw for t in tokens[i + 1 :])
            message = f"`{rest}` after `{token.raw}` is ignored: `{token.raw}` ends the pattern"
            issues.append(("ignored-characters", message))
            break
        if token.kind == "empty" and i + 1 < len(tokens):
            if tokens[i + 1].kind == "bang":
                message = (
                    "`[]!` behaves like `.`: Asterisk skips `[]` only when another digit follows"
                )
            else:
                message = "`[]` is ignored by Asterisk (it matches no digit)"
            issues.append(("empty-class", message))
    return issues


def _never_reason(compiled: CompiledPattern) -> str | None:
    if compiled.tail == "never":
        if any(t.kind == "unclosed" for t in compiled.tokens):
            return "`[` is never closed"
        return "it ends with an empty class `[]`"
    for token_chars in compiled.positions:
        if not token_chars:
            return "a class matches nothing (reversed range)"
        if not token_chars & DIALABLE:
            shown = "".join(sorted(token_chars))
            return (
                f"a position only accepts `{shown}`, which a dialed number never contains "
                "(inside [...], X, Z and N are plain letters)"
            )
    return None


def _pair_findings(group: list[Pattern]) -> list[Finding]:
    """For each pattern, the first pattern tried before it that hides it, if any.

    The same result as comparing every pair in Asterisk's order (`_pair_finding`), without
    doing so: equal keys are found in a dict and covering patterns in a `_CoverIndex`
    (1,500 patterns in one context: 5 s pairwise, a few ms here).
    """
    ordered = sort_patterns(group)
    first_of_key: dict[SortKey, int] = {}
    covering = _CoverIndex()
    findings: list[Finding] = []
    for i, later in enumerate(ordered):
        compiled = compile_pattern(later.exten)
        candidates = [first_of_key.setdefault(compiled.key, i)]
        cover = covering.first_covering(compiled) if _never_reason(compiled) is None else None
        if cover is not None:
            candidates.append(cover)
        earlier = min((j for j in candidates if j < i), default=None)
        if earlier is not None:
            finding = _pairfinding(ordered[earlier], later)
            if finding is not None:
                findings.append(finding)
        covering.add(i, compiled)
    return findings


@dataclass(slots=True)
class _CoverNode:
    children: dict[frozenset[str], _CoverNode] = field(default_factory=dict)
    ends: list[tuple[int, CompiledPattern]] = field(default_factory=list)


class _CoverIndex:
    """Patterns in a trie of their position sets, to find those covering another pattern.

    A pattern `wide` covers `narrow` only if each position of `wide` accepts every dialable
    character `narrow` accepts there (`_covers`): the search descends only into branches whose
    set contains `narrow`'s, then checks the candidates it reaches with `_covers`.
    """

    def __init__(self) -> None:
        self._root = _CoverNode()

    def add(self, index: int, compiled: CompiledPattern) -> None:
        if compiled.tail == "never":  # covers nothing
            return
        node = self._root
        for chars in compiled.positions:
            node = node.children.setdefault(chars, _CoverNode())
        node.ends.append((index, compiled))

    def first_covering(self, narrow: CompiledPattern) -> int | None:
        """The smallest index of an added pattern that covers `narrow`, or None."""
        best: int | None = None
        todo = [(self._root, 0)]
        while todo:
            node, depth = todo.pop()
            for index, wide in node.ends:
                if (best is None or index < best) and _covers(wide, narrow):
                    best = index
            if depth >= len(narrow.positions) and narrow.tail == "end":
                continue  # longer patterns need more characters than narrow's numbers have
            wanted = (
                narrow.positions[depth] & DIALABLE if depth < len(narrow.positions) else DIALABLE
            )
            todo += [
                (child, depth + 1) for chars, child in node.children.items() if wanted <= chars
            ]
        return best


def _pairfinding(earlier: Pattern, later: Pattern) -> Finding | None:
    first, second = compile_pattern(earlier.exten), compile_pattern(later.exten)
    if first.key == second.key:
        message = (
            f"{later.exten} and {earlier.exten} are the same extension to Asterisk: "
            f"only {earlier.exten} is loaded"
        )
        if later.exten == earlier.exten:
            message = f"{later.exten} is listed twice in context {later.context}"
        return finding("error", "duplicate", message, later, related=earlier.exten)
    if _never_reason(second) is None and _covers(first, second):
        message = (
            f"{later.exten} never takes a call: every number it matches is matched by the "
            f"more specific {earlier.exten}, which Asterisk tries first"
        )
        return finding("warning", "shadowed", message, later, related=earlier.exten)
    return None


def _lengths(c: CompiledPattern) -> tuple[int, float]:
    """The shortest and longest numbers `c` matches."""
    return c.min_length, c.min_length if c.tail == "end" else float("inf")


def _covers(wide: CompiledPattern, narrow: CompiledPattern) -> bool:
    """Every dialable number `narrow` matches, `wide` matches too (both can match)."""
    if wide.tail == "never":
        return False
    (lo_w, hi_w), (lo_n, hi_n) = _lengths(wide), _lengths(narrow)
    if lo_n < lo_w or hi_n > hi_w:
        return False
    for i, chars in enumerate(wide.positions):
        narrow_chars = narrow.positions[i] if i < len(narrow.positions) else DIALABLE
        if not (narrow_chars & DIALABLE) <= chars:
            return False
    return True
