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
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from wazo_reconcile.dialpattern import (
    Finding,
    Severity,
    best_pattern,
    compile_pattern,
    dialed_number,
    finding,
    match,
    specificity,
)
from wazo_reconcile.model import Pattern, Resource

if TYPE_CHECKING:
    from wazo_reconcile.diff import Change

Source = Literal["internal_caller_id", "user", "pattern", "default"]
Kind = Literal["full", "name_only", "number_only", "anonymous", "default", "invalid"]

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
    problem = _kind_problem(cid, for_user=for_user)
    if problem is not None:
        problems.append(problem)
    return problems


def _kind_problem(cid: CallerId, *, for_user: bool) -> tuple[Severity, str] | None:
    if cid.kind == "invalid":
        special = " (or, for a user, anonymous or default)" if for_user else ""
        return (
            "error",
            f"{_quote(cid.text)} is not a caller ID Wazo can read (it would leave the caller ID "
            f"unchanged): {_invalid_hint(cid)}{special}",
        )
    if cid.kind == "number_only":
        return (
            "error",
            f"{_quote(cid.text)} has no name: Wazo cannot read it and leaves the caller ID "
            f'unchanged; write "{cid.number}" <{cid.number}> or just {cid.number}',
        )
    if cid.kind != "name_only":
        return None
    word = cid.text.lower()
    if word not in _SPECIAL:
        return ("warning", f"{_quote(cid.text)} has no number part; {GUIDE_NO_NUMBER}")
    if for_user:
        where = f"{_quote(cid.text)}: only the lower-case `{word}` is special"
    else:
        where = f"`{word}` is only special in a user's outgoing_caller_id"
    return (
        "warning",
        f"{where}; here it is sent as a caller ID name, with the dialplan's number",
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


def _quote(text: str) -> str:
    return f"`{text}`"


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


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a call from a user through an outcall presents the caller ID it does.

    `routed` is False when the call does not leave through this outcall (no pattern matches,
    another route's pattern wins, the outcall is disabled or has no trunk); `caller_id` and
    `source` are then None and `notes` say why.
    """

    outcall: str
    number: str
    trunks: tuple[str, ...]
    routed: bool = False
    caller_id: str | None = None
    source: Source | None = None
    pattern: str | None = None
    context: str | None = None
    dialed: str | None = None
    chain: tuple[ChainStep, ...] = ()
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
            "chain": [asdict(step) for step in self.chain],
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """The text rendering of `reconcile explain caller-id`."""
        who = f", user {self.user}" if self.user else ""
        lines = [f"Caller ID for {self.number} through outcall {self.outcall}{who}"]
        if self.pattern is not None:
            context = f"@{self.context}" if self.context else ""
            lines.append(f"  pattern:   {self.pattern}{context}")
            lines.append(f"  dialed:    {self.dialed}")
        lines.append(f"  trunks:    {', '.join(self.trunks) or '(none)'}")
        if self.routed:
            lines.append(f"  caller ID: {self.caller_id}  (source: {self.source})")
        else:
            lines.append("  caller ID: (the call does not leave through this outcall)")
        if self.chain:
            lines.append("  chain:")
            lines += [_step_line(i, step) for i, step in enumerate(self.chain, 1)]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


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
    who = user.name if user else None
    if route.pattern is None:
        return Explanation(outcall.name, number, outcall.trunks, notes=route.notes, user=who)
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
        user=who,
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
    note = f"overridden by {steps[decided].source}"
    later = [replace(s, applied=False, note=note) if s.applied else s for s in steps[decided + 1 :]]
    return (*steps[: decided + 1], *later)


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
    return ChainStep(
        "user", True, value, cid.presented(own), _value_note(cid, "the user's outgoing_caller_id")
    )


def _pattern_step(pattern: Pattern, own: str | None) -> ChainStep:
    if not pattern.caller_id:
        return ChainStep("pattern", False, None, None, "the pattern has no caller_id")
    cid = parse_caller_id(pattern.caller_id, for_user=False)
    return ChainStep(
        "pattern", True, pattern.caller_id, cid.presented(own), _value_note(cid, "the caller_id")
    )


def _value_note(cid: CallerId, what: str) -> str:
    if cid.kind == "anonymous":  # a user's value only
        return "the user withholds the caller ID"
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
    cid = parse_caller_id(pattern.value, for_user=False) if pattern.value else None
    pai = (
        f"the pattern caller ID's number {cid.number}"
        if cid and cid.has_number
        else "the trunk endpoint's callerid number, if any"
    )
    return (
        "anonymous: presentation is prohibited; on PJSIP trunks Wazo adds `Privacy: id` and a "
        f"P-Asserted-Identity with {pai}",
    )


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
    return {
        route_name(p): _decided(_chain(None, outcall, p, default_caller_id)).gives or CALLERS_OWN
        for p in outcall.patterns
    }


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


@dataclass(frozen=True, slots=True)
class UserCallerIdChange:
    """A user's `outgoing_caller_id` changes: what the user's calls present, before and after,
    on the routes it applies to (every route but those with `internal_caller_id`)."""

    user: str
    before: str
    after: str
    note: str


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


def pattern_value_problems(outcall: OutcallView, p: Pattern) -> list[Finding]:
    """The findings about one pattern's values: caller_id, prefix, strip_digits."""
    findings: list[Finding] = []
    if p.caller_id:
        findings += [
            finding(sev, "caller-id", msg, p, "caller_id")
            for sev, msg in caller_id_problems(p.caller_id, for_user=False)
        ]
        if outcall.internal_caller_id:
            message = (
                f"caller_id {p.caller_id} of {p.exten} is never used: internal_caller_id "
                "forwards the caller's own caller ID"
            )
            findings.append(finding("info", "caller-id-unused", message, p, "caller_id"))
    if p.prefix:
        message = (
            f"prefix {p.prefix} is stored but Wazo does not use it when routing: the number "
            f"dialed must match {p.exten} itself (include the digits in exten, strip them "
            "with strip_digits)"
        )
        findings.append(finding("info", "prefix-unused", message, p, "prefix"))
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
    return [finding("warning", "strip-all", message, p, "strip_digits")]


def user_problems(user: UserView, outcalls: Iterable[OutcallView] = ()) -> list[Finding]:
    """Lint one user's `outgoing_caller_id`, and say which routes ignore it
    (`internal_caller_id`, info; for `anonymous` the message says the calls are NOT anonymous
    there)."""
    value = user.outgoing_caller_id
    findings = [
        Finding(sev, "caller-id", msg, field="outgoing_caller_id")
        for sev, msg in caller_id_problems(value)
    ]
    if value != "default":
        findings += [_irrelevantfinding(user, o) for o in outcalls if o.internal_caller_id]
    return findings


def _irrelevantfinding(user: UserView, outcall: OutcallView) -> Finding:
    value = user.outgoing_caller_id
    forwards = "internal_caller_id forwards the caller's own caller ID"
    if value == "anonymous":
        code = "anonymous-forwarded"
        message = f"calls of {user.name} through {outcall.name} are NOT anonymous: its {forwards}"
    else:
        code = "caller-id-irrelevant"
        message = (
            f"outgoing_caller_id {value} of {user.name} is not used through {outcall.name}: "
            f"its {forwards}"
        )
    # info, as every user setting such a route makes irrelevant
    return Finding("info", code, message, field="outgoing_caller_id", related=outcall.name)
