"""Caller-ID policy: Asterisk dial-pattern matching, Wazo's caller-ID precedence, lint (pure).

Everything here is values in, values out: the CLI (`reconcile explain caller-id`), `validate`
and the plan renderer call these functions and print the results.

Verified by reading source (facts only; see docs/caller-id.md for the details):
- Asterisk main/pbx.c: `_extension_match_core` (matching, `-` ignored, `[]` skipped, `.`/`!`),
  `ext_cmp`/`ext_cmp_pattern_pos` + `ast_add_extension2` (a context's extensions are kept sorted
  most-specific first and the first match wins; `extenpatternmatchnew` defaults to off).
- wazo-agid handlers/outgoingfeatures.py (`_set_caller_id`, `_set_destination_number`: strip,
  then external prefix; `prefix` unused) and objects.py (`CallerID.parse`/`set`, outcall lookup);
  xivo-config dialplan extensions_lib_outcall.conf (dialed number = the extension dialed, anonymous
  calls); wazo-confgend extensionsconf.py (an outcall extension is its `exten`, unchanged).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from wazo_reconcile.model import Pattern, Resource

if TYPE_CHECKING:
    from wazo_reconcile.diff import Change

Severity = Literal["error", "warning", "info"]
Source = Literal["internal_caller_id", "user", "pattern", "default"]
Kind = Literal["full", "name_only", "number_only", "anonymous", "default", "invalid"]
Tail = Literal["end", "one_or_more", "zero_or_more", "never"]

MAX_CALLER_ID_LENGTH = 80  # confd: users.outgoing_caller_id and dial-pattern caller_id
CALLERS_OWN = "the caller's own caller ID"
CALLERS_OWN_NUMBER = "the caller's own number"
ANONYMOUS = "anonymous (presentation withheld)"
GUIDE_NO_NUMBER = (
    "the guide says: \"If you don't set the number part of the caller ID, the dialplan's "
    'number will be used instead. This might not be a good option in most cases."'
)

# ----------------------------------------------------------------------------- caller IDs

# The grammar wazo-agid accepts (objects.CallerID.parse): a quoted name or one unquoted word,
# an optional single space, an optional <number>. Anything else is ignored by the AGI.
_QUOTED = r'"(?P<quoted>.+)"'
_WORD = r"(?P<word>[A-Za-z0-9\-.!%*_+`'~]+)"
_NUMBER = r"<(?P<number>\+?[0-9*#]+)>"
_CALLER_ID_RE = re.compile(rf"(?:{_QUOTED}|{_WORD}) ?(?:{_NUMBER})?")
_NUMBER_ONLY_RE = re.compile(rf" ?{_NUMBER}")
_BARE_NUMBER_RE = re.compile(r"\+?[0-9*#]+")
_SPECIAL = ("anonymous", "default")


@dataclass(frozen=True, slots=True)
class CallerId:
    """A caller-ID value as Wazo reads it.

    `kind`: `full` (name and number), `name_only` (the dialplan's number is kept), `anonymous`
    and `default` (special user values), `number_only` (`<5551234>`, which Wazo's AGI cannot
    parse) or `invalid`. A bare number (`5551234`) is `full`: Wazo uses it as name and number.
    """

    text: str
    kind: Kind
    name: str | None = None
    number: str | None = None

    @property
    def is_valid(self) -> bool:
        """Wazo applies it (special values included)."""
        return self.kind in ("full", "name_only", "anonymous", "default")

    @property
    def has_number(self) -> bool:
        return self.kind == "full"

    @property
    def is_special(self) -> bool:
        return self.kind in _SPECIAL

    def presented(self, own: str | None = None) -> str:
        """What the network sees when this value is applied; `own` is the caller's caller ID."""
        if self.kind == "full":
            return f'"{self.name}" <{self.number}>'
        if self.kind == "name_only":
            own_number = parse_caller_id(own).number if own else None
            return f'"{self.name}" <{own_number or CALLERS_OWN_NUMBER}>'
        if self.kind == "anonymous":
            return ANONYMOUS
        return own or CALLERS_OWN


def parse_caller_id(text: str, *, for_user: bool = True) -> CallerId:
    """Read a caller ID the way wazo-agid does.

    `anonymous` and `default` are special only in a user's `outgoing_caller_id`
    (`for_user=True`); in a dial pattern they are just a name.
    """
    if for_user and text in _SPECIAL:
        return CallerId(text, "anonymous" if text == "anonymous" else "default")
    found = _CALLER_ID_RE.fullmatch(text)
    if found is None:
        only = _NUMBER_ONLY_RE.fullmatch(text)
        if only is not None:
            return CallerId(text, "number_only", number=only["number"])
        return CallerId(text, "invalid")
    name = found["quoted"] or found["word"]
    number = found["number"]
    if number is None and found["word"] and _BARE_NUMBER_RE.fullmatch(name):
        number = name
    return CallerId(text, "full" if number else "name_only", name=name, number=number)


def caller_id_problems(text: str, *, for_user: bool = True) -> list[tuple[Severity, str]]:
    """Lint findings for one caller-ID string: (severity, message) pairs, empty when fine.

    `for_user`: the value is a user's `outgoing_caller_id` (where `anonymous` and `default`
    are special) rather than a dial pattern's `caller_id`.
    """
    problems: list[tuple[Severity, str]] = []
    if len(text) > MAX_CALLER_ID_LENGTH:
        problems.append(
            ("error", f"caller ID is {len(text)} characters long; confd accepts at most 80")
        )
    cid = parse_caller_id(text, for_user=for_user)
    special = _special_word_problem(cid, for_user=for_user)
    problem = _KIND_PROBLEMS.get(cid.kind)
    if special is not None:
        problems.append(special)
    elif cid.kind == "invalid":
        problems.append(_invalid_problem(cid, for_user=for_user))
    elif problem is not None:
        problems.append(problem(cid))
    return problems


def _invalid_problem(cid: CallerId, *, for_user: bool) -> tuple[Severity, str]:
    special = " (or, for a user, anonymous or default)" if for_user else ""
    return (
        "error",
        f"{_quote(cid.text)} is not a caller ID Wazo can read (it would leave the caller ID "
        f"unchanged): {_invalid_hint(cid)}{special}",
    )


_SHAPE_RE = re.compile(r'(?:".*"|[^"<]*?)(?P<spaces> *)<(?P<number>[^>]*)>')


def _invalid_hint(cid: CallerId) -> str:
    text = cid.text
    shape = _SHAPE_RE.fullmatch(text)
    if not text:
        return "it is empty"
    if text != text.strip():
        return "remove the leading/trailing spaces"
    if text.count('"') % 2:
        return "a quote is not closed"
    if not text.startswith('"') and " " in text.split("<")[0].strip():
        hint = "quote the name: an unquoted name is a single word"
        if shape and _BARE_NUMBER_RE.fullmatch(shape["number"]):
            hint += f'; write "{text.split("<")[0].strip()}" <{shape["number"]}>'
        return hint
    if shape and len(shape["spaces"]) > 1:
        return "put at most one space between the name and <number>"
    if shape and not _BARE_NUMBER_RE.fullmatch(shape["number"]):
        return "the number part may only hold digits, *, # and a leading +"
    return 'write "Name" <number>, a one-word Name <number>, or a number'


def _number_only_problem(cid: CallerId) -> tuple[Severity, str]:
    return (
        "error",
        f"{_quote(cid.text)} has no name: Wazo cannot read it and leaves the caller ID "
        f'unchanged; write "{cid.number}" <{cid.number}> or just {cid.number}',
    )


def _name_only_problem(cid: CallerId) -> tuple[Severity, str]:
    return ("warning", f"{_quote(cid.text)} has no number part; {GUIDE_NO_NUMBER}")


_KIND_PROBLEMS = {
    "number_only": _number_only_problem,
    "name_only": _name_only_problem,
}


def _special_word_problem(cid: CallerId, *, for_user: bool) -> tuple[Severity, str] | None:
    word = cid.text.lower()
    if cid.kind != "name_only" or word not in _SPECIAL:
        return None
    if for_user:
        where = f"{_quote(cid.text)}: only the lower-case `{word}` is special"
    else:
        where = f"`{word}` is only special in a user's outgoing_caller_id"
    return (
        "warning",
        f"{where}; here it is sent as a caller ID name, with the dialplan's number",
    )


def _quote(text: str) -> str:
    return f"`{text}`"


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


def _tokenize(body: str) -> Iterable[_Token]:
    i = 0
    while i < len(body):
        c = body[i]
        i += 1
        if c == "-":
            continue
        if c == "[":
            token, i = _bracket(body, i)
            yield token
        else:
            yield _simple_token(c)


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


def _bracket(body: str, start: int) -> tuple[_Token, int]:
    end = body.find("]", start)
    if end < 0:
        return _Token("unclosed", score=_SCORE_UNCLOSED, raw="["), start
    content = body[start:end]
    raw = f"[{content}]"
    if not content:
        return _Token("empty", raw=raw), end + 1
    chars, lowest = _class_chars(content)
    score = (len(chars) << 8 | lowest) if chars else 0
    return _Token("chars", frozenset(chars), score, raw), end + 1


def _class_chars(content: str) -> tuple[set[str], int]:
    chars: set[str] = set()
    lowest = 0xFF
    i = 0
    while i < len(content):
        first = last = content[i]
        if i + 2 < len(content) and content[i + 1] == "-":
            last = content[i + 2]
            i += 2
        lowest = min(lowest, ord(first) & 0xFF)
        chars.update(chr(o) for o in range(ord(first), ord(last) + 1))
        i += 1
    return chars, lowest


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


# ------------------------------------------------------------------------ the views


@dataclass(frozen=True, slots=True)
class UserView:
    """What the precedence engine needs from a user: its handle and `outgoing_caller_id`."""

    name: str
    outgoing_caller_id: str = "default"

    def __post_init__(self) -> None:
        if not self.outgoing_caller_id:  # confd and the model read null and "" as default
            object.__setattr__(self, "outgoing_caller_id", "default")

    @classmethod
    def from_resource(cls, res: Resource) -> UserView:
        return cls(res.key.name, str(res.fields.get("outgoing_caller_id") or "default"))


@dataclass(frozen=True, slots=True)
class OutcallView:
    """What the precedence engine needs from an outcall (a route)."""

    name: str
    patterns: tuple[Pattern, ...] = ()
    trunks: tuple[str, ...] = ()
    internal_caller_id: bool = False
    enabled: bool = True

    @classmethod
    def from_resource(cls, res: Resource) -> OutcallView:
        return cls.from_fields(res.key.name, res.fields)

    @classmethod
    def from_fields(cls, name: str, fields: Mapping[str, Any]) -> OutcallView:
        """From a model outcall's fields (absent ones take confd's defaults)."""
        return cls(
            name=name,
            patterns=tuple(fields.get("patterns") or ()),
            trunks=tuple(fields.get("trunks") or ()),
            internal_caller_id=bool(fields.get("internal_caller_id", False)),
            enabled=bool(fields.get("enabled", True)),
        )


def route_name(pattern: Pattern) -> str:
    """How a dial pattern is named in messages and in `presented_by_route`: `exten@context`."""
    return f"{pattern.exten}@{pattern.context}" if pattern.context else pattern.exten


# ----------------------------------------------------------------- the precedence engine


@dataclass(frozen=True, slots=True)
class ChainStep:
    """One rule of the precedence, as examined for one call.

    `value` is what is configured (None: not set), `gives` what the network would see if this
    rule decided (None: the rule has nothing to give), `applied` whether it decided.
    """

    source: Source
    applied: bool
    value: str | None
    gives: str | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "applied": self.applied,
            "value": self.value,
            "gives": self.gives,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a call from a user through an outcall presents the caller ID it does.

    `routed` is False when the call does not leave through this outcall (no pattern matches,
    another route's pattern wins, the outcall is disabled or has no trunk); `caller_id` and
    `source` are then None and `notes` say why.
    """

    outcall: str
    number: str
    routed: bool
    caller_id: str | None
    source: Source | None
    pattern: str | None
    context: str | None
    dialed: str | None
    trunks: tuple[str, ...]
    chain: tuple[ChainStep, ...]
    notes: tuple[str, ...] = ()
    user: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The `--format json` document (`notes` added to the issue's six keys)."""
        return {
            "caller_id": self.caller_id,
            "source": self.source,
            "pattern": self.pattern,
            "dialed": self.dialed,
            "trunks": list(self.trunks),
            "chain": [step.to_dict() for step in self.chain],
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """The text rendering of `reconcile explain caller-id`."""
        return "\n".join(_text_lines(self))


def explain(
    *,
    user: UserView | None,
    outcall: OutcallView,
    number: str,
    default_caller_id: str | None = None,
    others: Sequence[OutcallView] = (),
) -> Explanation:
    """Explain the caller ID presented when `user` dials `number` through `outcall`.

    `default_caller_id` is the caller's own caller ID (rule 4, also what `internal_caller_id`
    forwards); without it the explanation says "the caller's own caller ID". `others` are the
    other outcalls, whose patterns in the same context may win over this outcall's.
    """
    route = _route(outcall, number, others)
    if route.pattern is None:
        return _unrouted(user, outcall, number, route.notes)
    chain = _chain(user, outcall, route.pattern, default_caller_id)
    refusals = _refusals(outcall)
    routed = route.routed and not refusals
    decided = _decided(chain)
    return Explanation(
        outcall=outcall.name,
        number=number,
        routed=routed,
        caller_id=decided.gives if routed else None,
        source=decided.source if routed else None,
        pattern=route.pattern.exten,
        context=route.pattern.context or None,
        dialed=dialed_number(route.pattern, number),
        trunks=outcall.trunks,
        chain=chain,
        notes=(*route.notes, *refusals, *_anonymous_notes(chain)),
        user=user.name if user else None,
    )


def _unrouted(
    user: UserView | None, outcall: OutcallView, number: str, notes: tuple[str, ...]
) -> Explanation:
    return Explanation(
        outcall=outcall.name,
        number=number,
        routed=False,
        caller_id=None,
        source=None,
        pattern=None,
        context=None,
        dialed=None,
        trunks=outcall.trunks,
        chain=(),
        notes=notes,
        user=user.name if user else None,
    )


@dataclass(frozen=True, slots=True)
class _Route:
    pattern: Pattern | None
    routed: bool
    notes: tuple[str, ...] = ()


def _route(outcall: OutcallView, number: str, others: Sequence[OutcallView]) -> _Route:
    own = [p for p in outcall.patterns if match(p.exten, number)]
    if not own:
        note = (
            f"no pattern of outcall {outcall.name} matches {number}: "
            "the call does not go through this outcall"
        )
        return _Route(None, False, (note,))
    rivals = [(o.name, p) for o in others if o.name != outcall.name for p in o.patterns]
    lost: list[str] = []
    for context in sorted({p.context for p in own}):
        owner, winner = _winner(outcall.name, own, rivals, context, number)
        if owner == outcall.name:
            return _Route(winner, True, tuple(lost))
        lost.append(
            f"in context {context or '(none)'}, {winner.exten} of outcall {owner} is more "
            f"specific than the patterns of {outcall.name} and takes the call"
        )
    return _Route(best_pattern(own, number), False, tuple(lost))


def _winner(
    name: str,
    own: list[Pattern],
    rivals: list[tuple[str, Pattern]],
    context: str,
    number: str,
) -> tuple[str, Pattern]:
    candidates = [(name, p) for p in own if p.context == context]
    candidates += [(n, p) for n, p in rivals if p.context == context and match(p.exten, number)]
    # Ties (the same extension to Asterisk): the lowest exten text, this outcall first.
    _, _, _, owner, winner = min(
        (specificity(p.exten), p.exten, i, n, p) for i, (n, p) in enumerate(candidates)
    )
    return owner, winner


def _decided(chain: Sequence[ChainStep]) -> ChainStep:
    return next(step for step in chain if step.applied)


def _chain(
    user: UserView | None, outcall: OutcallView, pattern: Pattern, own: str | None
) -> tuple[ChainStep, ...]:
    steps = [
        _internal_step(outcall, own),
        _user_step(user, own),
        _pattern_step(pattern, own),
        ChainStep("default", True, None, own or CALLERS_OWN, "nothing above applies"),
    ]
    decided = next(i for i, step in enumerate(steps) if step.applied)
    return tuple(_settle(step, i, decided, steps) for i, step in enumerate(steps))


def _settle(step: ChainStep, i: int, decided: int, steps: list[ChainStep]) -> ChainStep:
    if i <= decided:
        return step
    winner = steps[decided].source
    note = f"overridden by {winner}" if step.applied else step.note
    return ChainStep(step.source, False, step.value, step.gives, note)


def _internal_step(outcall: OutcallView, own: str | None) -> ChainStep:
    if outcall.internal_caller_id:
        return ChainStep(
            "internal_caller_id",
            True,
            "yes",
            own or CALLERS_OWN,
            "the outcall forwards the caller's own caller ID to the trunk",
        )
    return ChainStep("internal_caller_id", False, "no", None, "off")


def _user_step(user: UserView | None, own: str | None) -> ChainStep:
    if user is None:
        return ChainStep("user", False, None, None, "no user: skipped")
    value = user.outgoing_caller_id
    cid = parse_caller_id(value)
    if cid.kind == "default":
        return ChainStep("user", False, value, None, "`default`: falls through to the pattern")
    return ChainStep("user", True, value, cid.presented(own), _user_note(cid))


def _user_note(cid: CallerId) -> str:
    if cid.kind == "anonymous":
        return "the user withholds the caller ID"
    return _value_note(cid, "the user's outgoing_caller_id")


def _pattern_step(pattern: Pattern, own: str | None) -> ChainStep:
    if not pattern.caller_id:
        return ChainStep("pattern", False, None, None, "the pattern has no caller_id")
    cid = parse_caller_id(pattern.caller_id, for_user=False)
    return ChainStep(
        "pattern", True, pattern.caller_id, cid.presented(own), _value_note(cid, "the caller_id")
    )


def _value_note(cid: CallerId, what: str) -> str:
    if cid.kind == "name_only":
        return f"{what} has no number part: the dialplan's number (the caller's own) is kept"
    if not cid.is_valid:
        return f"Wazo cannot read {what}: the caller ID is left unchanged"
    return f"{what} is presented"


def _refusals(outcall: OutcallView) -> tuple[str, ...]:
    refusals: list[str] = []
    if not outcall.enabled:
        refusals.append(
            f"outcall {outcall.name} is disabled: its patterns still match, but Wazo "
            "refuses the call (no other route is tried)"
        )
    if not outcall.trunks:
        refusals.append(f"outcall {outcall.name} has no trunk: Wazo refuses the call")
    return tuple(refusals)


def _anonymous_notes(chain: Sequence[ChainStep]) -> tuple[str, ...]:
    internal, user, pattern = chain[0], chain[1], chain[2]
    if user.value != "anonymous":
        return ()
    if internal.applied:
        return ("internal_caller_id wins over `anonymous`: these calls are NOT anonymous",)
    return (_anonymous_note(pattern),)


def _anonymous_note(pattern: ChainStep) -> str:
    cid = parse_caller_id(pattern.value, for_user=False) if pattern.value else None
    pai = (
        f"the pattern caller ID's number {cid.number}"
        if cid and cid.has_number
        else "the trunk endpoint's callerid number, if any"
    )
    return (
        "anonymous: presentation is prohibited; on PJSIP trunks Wazo adds `Privacy: id` and a "
        f"P-Asserted-Identity with {pai}"
    )


def _text_lines(exp: Explanation) -> list[str]:
    who = f", user {exp.user}" if exp.user else ""
    lines = [f"Caller ID for {exp.number} through outcall {exp.outcall}{who}"]
    if exp.pattern is not None:
        context = f"@{exp.context}" if exp.context else ""
        lines.append(f"  pattern:   {exp.pattern}{context}")
        lines.append(f"  dialed:    {exp.dialed}")
    lines.append(f"  trunks:    {', '.join(exp.trunks) or '(none)'}")
    if exp.routed:
        lines.append(f"  caller ID: {exp.caller_id}  (source: {exp.source})")
    else:
        lines.append("  caller ID: (the call does not leave through this outcall)")
    if exp.chain:
        lines.append("  chain:")
        lines += [_step_line(i, step) for i, step in enumerate(exp.chain, 1)]
    lines += [f"  note: {note}" for note in exp.notes]
    return lines


def _step_line(i: int, step: ChainStep) -> str:
    mark = "APPLIES" if step.applied else "-"
    gives = f" -> {step.gives}" if step.gives is not None else ""
    value = f" = {step.value}" if step.value is not None else ""
    return f"    {i}. {step.source}{value}{gives}  [{mark}] {step.note}"


# --------------------------------------------------------------------- plan support


def presented_by_route(
    outcall: OutcallView, *, default_caller_id: str | None = None
) -> dict[str, str]:
    """Per pattern (`exten@context`), the caller ID the route presents when the user has no
    override (`default`): forwarded, the pattern's caller ID, or the default."""
    presented: dict[str, str] = {}
    for p in outcall.patterns:
        decided = _decided(_chain(None, outcall, p, default_caller_id))
        presented[route_name(p)] = decided.gives or CALLERS_OWN
    return presented


INTERNAL_ON_NOTE = (
    "internal_caller_id switched on: the caller's own caller ID is forwarded, users' "
    "outgoing_caller_id (anonymous included) no longer applies"
)
INTERNAL_OFF_NOTE = (
    "internal_caller_id switched off: users' outgoing_caller_id applies again, then the "
    "pattern's caller_id"
)
ROUTE_OR_OWN = "the route's caller ID (the pattern's caller_id, else the caller's own)"


@dataclass(frozen=True, slots=True)
class CallerIdChange:
    """A change of what a route presents to the network, for the plan's "Caller ID" section.

    `before`/`after` are what the pattern presents for a user on `default`; `note` says what
    else changes (an `internal_caller_id` switch also changes what users' overrides do, even
    when the default presentation stays the same).
    """

    outcall: str
    pattern: str
    before: str | None  # None: the pattern did not exist
    after: str | None  # None: the pattern is removed
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcall": self.outcall,
            "pattern": self.pattern,
            "before": self.before,
            "after": self.after,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class UserCallerIdChange:
    """A user's `outgoing_caller_id` changes: what the user's calls present, before and after,
    on the routes it applies to (every route but those with `internal_caller_id`)."""

    user: str
    before: str
    after: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "before": self.before, "after": self.after, "note": self.note}


def caller_id_changes(
    before: OutcallView | None, after: OutcallView | None
) -> list[CallerIdChange]:
    """The patterns of one outcall whose presented caller ID differs between two states, and
    all of them when `internal_caller_id` is switched (what users' overrides do changes)."""
    old = presented_by_route(before) if before else {}
    new = presented_by_route(after) if after else {}
    name = after.name if after else before.name if before else ""
    note = _switch_note(before, after)
    return [
        CallerIdChange(name, route, old.get(route), new.get(route), note)
        for route in sorted(old.keys() | new.keys())
        if old.get(route) != new.get(route) or (note and route in old and route in new)
    ]


def _switch_note(before: OutcallView | None, after: OutcallView | None) -> str:
    if before is None or after is None or before.internal_caller_id == after.internal_caller_id:
        return ""
    return INTERNAL_ON_NOTE if after.internal_caller_id else INTERNAL_OFF_NOTE


def user_presents(value: str | None) -> str:
    """What a user's `outgoing_caller_id` makes their calls present, on the routes it applies
    to (unset reads as `default`, as in `UserView`)."""
    cid = parse_caller_id(value or "default")
    if cid.kind == "default":
        return ROUTE_OR_OWN
    if not cid.is_valid:
        return f"{CALLERS_OWN} (Wazo cannot read {_quote(cid.text)})"
    return cid.presented()


def plan_caller_id_changes(
    changes: Iterable[Change],
) -> list[CallerIdChange | UserCallerIdChange]:
    """What a plan's changes alter in what routes present to the network (pure).

    Outcalls: each pattern whose presentation changes (`caller_id_changes`), an update's
    undeclared fields taken from the live outcall. Users: a changed `outgoing_caller_id`.
    """
    found: list[CallerIdChange | UserCallerIdChange] = []
    for change in changes:
        if change.key.kind == "outcalls":
            found += caller_id_changes(*_outcall_states(change))
        elif change.key.kind == "users":
            user = _user_change(change)
            if user is not None:
                found.append(user)
    return found


def _outcall_states(change: Change) -> tuple[OutcallView | None, OutcallView | None]:
    before = OutcallView.from_resource(change.before) if change.before else None
    if change.after is None:
        return before, None
    fields = {**(change.before.fields if change.before else {}), **change.after.fields}
    return before, OutcallView.from_fields(change.key.name, fields)


def _user_change(change: Change) -> UserCallerIdChange | None:
    if change.after is None or "outgoing_caller_id" not in change.after.fields:
        return None
    old = change.before.fields.get("outgoing_caller_id") if change.before else None
    new = change.after.fields["outgoing_caller_id"]
    before, after = user_presents(old), user_presents(new)
    if before == after:
        return None
    return UserCallerIdChange(change.key.name, before, after, _user_change_note(new))


def _user_change_note(value: str | None) -> str:
    routes = "routes with internal_caller_id forward the caller's own caller ID instead"
    kind = parse_caller_id(value or "default").kind
    if kind == "default":
        return f"the pattern caller IDs apply to this user's calls again; {routes}"
    return f"overrides the pattern caller IDs on every route of the tenant; {routes}"


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "exten": self.exten,
            "context": self.context,
            "field": self.field,
            "related": self.related,
        }


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
    findings: list[Finding] = []
    for context, group in _by_context(dict.fromkeys(patterns)).items():
        findings += _pair_findings(context, group)
    return findings


def _by_context(patterns: Iterable[Pattern]) -> dict[str, list[Pattern]]:
    groups: dict[str, list[Pattern]] = {}
    for p in patterns:
        groups.setdefault(p.context, []).append(p)
    return groups


def _finding(
    severity: Severity, code: str, message: str, p: Pattern, field: str = "exten", **kw: Any
) -> Finding:
    return Finding(severity, code, message, p.exten, p.context, field, **kw)


def exten_problems(p: Pattern) -> list[Finding]:
    """The findings about one pattern's extension on its own (syntax, never matching)."""
    compiled = compile_pattern(p.exten)
    findings: list[Finding] = []
    if not _CONFD_OUTCALL_EXTEN.fullmatch(p.exten):
        findings.append(
            _finding("error", "invalid-exten", f"confd refuses {p.exten} in an outcall context", p)
        )
    if not compiled.is_pattern:
        return findings + _literal_findings(p)
    findings += [_finding("warning", code, msg, p) for code, msg in _token_issues(compiled)]
    never = _never_reason(compiled)
    if never is not None:
        findings.append(
            _finding("warning", "never-matches", f"{p.exten} can never match: {never}", p)
        )
    return findings


def _literal_findings(p: Pattern) -> list[Finding]:
    if not re.search(r"[XxZzNn.!\[]", p.exten):
        return []
    message = (
        f"{p.exten} has no leading `_`: it is a literal extension that matches only the text "
        f"{p.exten}; write _{p.exten} for a pattern"
    )
    return [_finding("warning", "literal-not-pattern", message, p)]


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
            issues.append(("empty-class", _empty_class_message(tokens[i + 1])))
    return issues


def _empty_class_message(following: _Token) -> str:
    if following.kind == "bang":
        return "`[]!` behaves like `.`: Asterisk skips `[]` only when another digit follows"
    return "`[]` is ignored by Asterisk (it matches no digit)"


def _never_reason(compiled: CompiledPattern) -> str | None:
    if compiled.tail == "never":
        kinds = {t.kind for t in compiled.tokens}
        if "unclosed" in kinds:
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


def _pair_findings(context: str, group: list[Pattern]) -> list[Finding]:
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
            finding = _pair_finding(ordered[earlier], later)
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


def _pair_finding(earlier: Pattern, later: Pattern) -> Finding | None:
    first, second = compile_pattern(earlier.exten), compile_pattern(later.exten)
    if first.key == second.key:
        message = (
            f"{later.exten} and {earlier.exten} are the same extension to Asterisk: "
            f"only {earlier.exten} is loaded"
        )
        if later.exten == earlier.exten:
            message = f"{later.exten} is listed twice in context {later.context}"
        return _finding("error", "duplicate", message, later, related=earlier.exten)
    if _never_reason(second) is None and _covers(first, second):
        message = (
            f"{later.exten} never takes a call: every number it matches is matched by the "
            f"more specific {earlier.exten}, which Asterisk tries first"
        )
        return _finding("warning", "shadowed", message, later, related=earlier.exten)
    return None


def _lengths(c: CompiledPattern) -> tuple[int, float]:
    n = len(c.positions)
    if c.tail == "end":
        return n, n
    return (n + 1 if c.tail == "one_or_more" else n), float("inf")


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


def outcall_problems(outcall: OutcallView) -> list[Finding]:
    """Everything the caller-ID lint says about one outcall: its patterns, their caller IDs,
    `prefix`, `strip_digits`, trunks and what `internal_caller_id` makes irrelevant."""
    findings = pattern_problems(outcall.patterns)
    for p in outcall.patterns:
        findings += pattern_value_problems(outcall, p)
    if not outcall.trunks and outcall.patterns:
        message = f"outcall {outcall.name} has no trunk: Wazo refuses every call through it"
        findings.append(Finding("warning", "no-trunk", message, field="trunks"))
    return findings


def pattern_value_problems(outcall: OutcallView, p: Pattern) -> list[Finding]:
    """The findings about one pattern's values: caller_id, prefix, strip_digits."""
    findings: list[Finding] = []
    if p.caller_id:
        findings += [
            _finding(sev, "caller-id", msg, p, "caller_id")
            for sev, msg in caller_id_problems(p.caller_id, for_user=False)
        ]
        if outcall.internal_caller_id:
            message = (
                f"caller_id {p.caller_id} of {p.exten} is never used: internal_caller_id "
                "forwards the caller's own caller ID"
            )
            findings.append(_finding("info", "caller-id-unused", message, p, "caller_id"))
    if p.prefix:
        message = (
            f"prefix {p.prefix} is stored but Wazo does not use it when routing: the number "
            f"dialed must match {p.exten} itself (include the digits in exten, strip them "
            "with strip_digits)"
        )
        findings.append(_finding("info", "prefix-unused", message, p, "prefix"))
    findings += _strip_findings(p)
    return findings


def _strip_findings(p: Pattern) -> list[Finding]:
    compiled = compile_pattern(p.exten)
    if p.strip_digits <= 0 or p.strip_digits < compiled.min_length or compiled.tail == "never":
        return []
    message = (
        f"strip_digits {p.strip_digits} removes every digit of the shortest numbers "
        f"{p.exten} matches ({compiled.min_length} digits): the trunk gets "
        f"{_quote(p.external_prefix or '')} only"
    )
    return [_finding("warning", "strip-all", message, p, "strip_digits")]


def user_problems(user: UserView, outcalls: Iterable[OutcallView] = ()) -> list[Finding]:
    """Lint one user's `outgoing_caller_id`, and say which routes ignore it
    (`internal_caller_id`, info; for `anonymous` the message says the calls are NOT anonymous
    there)."""
    value = user.outgoing_caller_id
    findings = [
        Finding(sev, "caller-id", msg, field="outgoing_caller_id")
        for sev, msg in caller_id_problems(value)
    ]
    if value == "default":
        return findings
    for outcall in outcalls:
        if outcall.internal_caller_id:
            findings.append(_irrelevant_finding(user, outcall))
    return findings


def _irrelevant_finding(user: UserView, outcall: OutcallView) -> Finding:
    value = user.outgoing_caller_id
    if value == "anonymous":
        message = (
            f"calls of {user.name} through {outcall.name} are NOT anonymous: its "
            "internal_caller_id forwards the caller's own caller ID"
        )
        return Finding(  # info, as every user setting such a route makes irrelevant
            "info",
            "anonymous-forwarded",
            message,
            field="outgoing_caller_id",
            related=outcall.name,
        )
    message = (
        f"outgoing_caller_id {value} of {user.name} is not used through {outcall.name}: its "
        "internal_caller_id forwards the caller's own caller ID"
    )
    return Finding(
        "info", "caller-id-irrelevant", message, field="outgoing_caller_id", related=outcall.name
    )


def findings_by_severity(findings: Iterable[Finding]) -> Mapping[Severity, list[Finding]]:
    """Findings grouped by severity, errors first (for renderers)."""
    grouped: dict[Severity, list[Finding]] = {"error": [], "warning": [], "info": []}
    for finding in findings:
        grouped[finding.severity].append(finding)
    return grouped
