"""Stage 2b, lint: the semantic checks of a stack, offline, all at once, each problem located.

Each check is a small function ``check_*(ctx) -> Iterable[Problem]``. Two kinds:

- document checks (:data:`DOCUMENT_CHECKS`, over a :class:`DocumentContext`) look at the
  declarations of one document: option keys and values, names, patterns, caller IDs, secrets.
  They are the bulk of the work; :func:`analyse_document` runs them (with the schema) on one
  document;
- stack checks (:data:`STACK_CHECKS`, over a :class:`StackContext`) relate declarations to
  each other: references, cycles, namespaces, duplicate patterns, policy.

:func:`check_stack` gives every problem of a stack. A new check (say, a caller-ID policy) is
one more function in one of the tuples. Checks read only declarations that passed the schema
(``ctx.declarations``) and may rely on their shapes; name lookups use every declaration.

What the checks know about confd comes from its validators (names, option keys and values,
prefixes, extensions) and from how Wazo renders endpoints (repeated options, caller IDs).
References to objects not declared in the stack may exist on the PBX: offline, they are
warnings, except when the policy prunes their kind (then apply would delete them: errors).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from wazo_reconcile.callerid import (
    OutcallView,
    UserView,
    caller_id_problems,
    pattern_value_problems,
    user_problems,
)
from wazo_reconcile.dialpattern import Finding, context_problems, exten_problems
from wazo_reconcile.diff import matches
from wazo_reconcile.errors import Problem
from wazo_reconcile.model import (
    DEFAULT_TEMPLATES,
    SIP_SECTIONS,
    TEMPLATES_INHERITING_GLOBAL,
    Pattern,
    Resource,
)
from wazo_reconcile.pjsip import ENDPOINT_SECTIONS, PjsipDoc, load_pjsip_doc
from wazo_reconcile.registers import register_problems
from wazo_reconcile.schema import suggest, validate_document
from wazo_reconcile.secrets import (
    ENV_NAME,
    MIN_SCRUB_LENGTH,
    SecretError,
    SecretRegistry,
    SecretResolver,
    StringPath,
    find_refs,
    has_secret_refs,
    is_secret_key,
    scan_strings,
)
from wazo_reconcile.stack import (
    Declaration,
    Document,
    Stack,
    document_declarations,
    format_path,
    option_text,
)

ERROR, WARNING, INFO = "error", "warning", "info"


SIP_NAME = re.compile(r"[-_.a-zA-Z0-9]{1,79}")
IAX_NAME = re.compile(r"[a-zA-Z0-9_-]{1,40}")
RESERVED_SIP_NAMES = frozenset({"global", "system"})
TRANSPORT_TEXT = re.compile(r"[A-Za-z0-9\-_/.:,]+")
EXTEN = re.compile(r"_?\+?[*#0-9_XxZzNn\[\].!-]*")
PREFIX = re.compile(r"\+.*|\+?[0-9#*]+", re.S)
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
MATCH_HEADER = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+:\s*\S.*")

# Keys confd generates in the rendered endpoint; setting them overrides the generated value.
GENERATED_OPTIONS = {
    "endpoint": frozenset({"aors", "auth", "outbound_auth"}),
    "identify": frozenset({"endpoint"}),
}
# Wazo renders one value per key, except for these keys, which accumulate.
ACCUMULATING_OPTIONS = frozenset({"set_var", "match"})
AT_KEY_SECTIONS = frozenset({"aor", "endpoint"})
MAX_OPTION_TEXT = 4092
MAX_SECTION_PAIRS = 512
MAX_TRANSPORT_PAIRS = 128


@dataclass(frozen=True)
class LintOptions:
    """What lint checks against: the PJSIP option table, the environment for secrets and the
    PBX's variables (``None``: none defined)."""

    pjsip_doc: PjsipDoc | None = None  # None: the table shipped with the package
    env: Mapping[str, str] | None = None  # None: os.environ
    variables: Mapping[str, str] | None = None  # the values of ${var:…} references
    # False: check the syntax of ${env:…}/${file:…} references without resolving them (a
    # workstation or pre-commit hook without the production secrets).
    resolve_secrets: bool = True

    @cached_property
    def doc(self) -> PjsipDoc:
        return self.pjsip_doc or load_pjsip_doc()

    @cached_property
    def resolver(self) -> SecretResolver:
        """Shared by every document, so that each secret file is read once."""
        return SecretResolver(self.env, self.variables)

    @cached_property
    def _allowed(self) -> dict[str, frozenset[str]]:
        return {}

    def allowed(self, section: str) -> frozenset[str]:
        """Option keys confd accepts in a section (memoised: asked for every option)."""
        keys = self._allowed.get(section)
        if keys is None:
            keys = self._allowed[section] = self.doc.allowed(section)
        return keys


class _Context:
    """What every check shares: valid declarations, the PJSIP doc, secrets, problem building."""

    def __init__(self, declarations: Iterable[Declaration], options: LintOptions | None) -> None:
        self.options = options or LintOptions()
        self.doc = self.options.doc
        self.resolver = self.options.resolver
        self.allowed = self.options.allowed
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


class DocumentContext(_Context):
    """One document: its declarations that passed the schema."""

    def __init__(
        self,
        document: Document,
        options: LintOptions | None = None,
        invalid: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.document = document
        declarations = document_declarations(document)
        super().__init__((d for d in declarations if d.path not in invalid), options)


class StackContext(_Context):
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


@dataclass(frozen=True)
class DocumentReport:
    """Schema and document-check problems of one document."""

    problems: tuple[Problem, ...]
    invalid: frozenset[tuple[str, str]]  # (kind, name) of declarations with schema problems
    secrets: tuple[str, ...]  # secret values met, for scrubbing output


def analyse_document(document: Document, options: LintOptions | None = None) -> DocumentReport:
    """The schema, then the document checks on the declarations that passed it."""
    found = validate_document(document)
    invalid = frozenset(
        (str(path[0]), path[1]) for path, _ in found if len(path) >= 2 and isinstance(path[1], str)
    )
    ctx = DocumentContext(document, options, invalid)
    problems = [problem for _, problem in found]
    problems += [problem for check in DOCUMENT_CHECKS for problem in check(ctx)]
    return DocumentReport(tuple(problems), invalid, tuple(ctx.secrets))


def check_stack(
    stack: Stack, *, options: LintOptions | None = None, secrets: SecretRegistry | None = None
) -> list[Problem]:
    """Every schema and lint problem of a stack; secret values met go into ``secrets``.

    Stack checks need every file: they are skipped when one could not be read.
    """
    problems: list[Problem] = []
    invalid: set[tuple[int, str, str]] = set()
    for document in stack.documents:
        report = analyse_document(document, options)
        problems += report.problems
        invalid |= {(document.ordinal, kind, name) for kind, name in report.invalid}
        if secrets is not None:
            for value in report.secrets:
                secrets.add(value)
    if stack.readable:
        ctx = StackContext(stack, options, frozenset(invalid))
        problems += [problem for check in STACK_CHECKS for problem in check(ctx)]
    return problems


def data_of(decl: Declaration) -> dict[str, Any]:
    return decl.data if isinstance(decl.data, dict) else {}


def trunk_type(decl: Declaration) -> str:
    kind = data_of(decl).get("type", "sip")
    return kind if kind in ("sip", "iax", "custom") else "sip"


# ---------------------------------------------------------------------------------- names


def check_names(ctx: DocumentContext) -> Iterator[Problem]:
    """Names confd would refuse: patterns, lengths, reserved words."""
    for decl in ctx.declarations("transports"):
        yield from _sip_name(ctx, decl, "transport")
    for decl in ctx.declarations("sip_templates"):
        if decl.name != "global":
            yield from _sip_name(ctx, decl, "SIP template")
    for decl in ctx.declarations("trunks"):
        kind = trunk_type(decl)
        if kind == "sip":
            yield from _sip_name(ctx, decl, "SIP trunk")
        elif kind == "iax" and not IAX_NAME.fullmatch(decl.name):
            message = f"invalid IAX trunk name '{decl.name}': use 1 to 40 letters, digits, - or _"
            yield ctx.problem(decl, (), message, key=True)
    for decl in ctx.declarations("outcalls"):
        if not 1 <= len(decl.name) <= 128:
            yield ctx.problem(decl, (), "an outcall name has 1 to 128 characters", key=True)


def _sip_name(ctx: DocumentContext, decl: Declaration, what: str) -> Iterator[Problem]:
    if decl.name in RESERVED_SIP_NAMES:
        message = f"'{decl.name}' is reserved by PJSIP and cannot name a {what}"
        yield ctx.problem(decl, (), message, key=True)
    elif not SIP_NAME.fullmatch(decl.name):
        message = f"invalid {what} name '{decl.name}': use 1 to 79 letters, digits, -, _ or ."
        yield ctx.problem(decl, (), message, key=True)


def check_namespace(ctx: StackContext) -> Iterator[Problem]:
    """SIP transports, templates and trunks share one instance-wide namespace in confd."""
    owners: dict[str, Declaration] = {}
    sip_trunks = [d for d in ctx.stack.declarations("trunks") if trunk_type(d) == "sip"]
    templates = [d for d in ctx.stack.declarations("sip_templates") if d.name != "global"]
    for decl in [*ctx.stack.declarations("transports"), *templates, *sip_trunks]:
        first = owners.setdefault(decl.name, decl)
        if first is not decl and first.kind != decl.kind:
            message = (
                f"name '{decl.name}' is already used by {_what(first)} at {first.location}; "
                "SIP transports, templates and trunks share one namespace in confd"
            )
            yield ctx.problem(decl, (), message, key=True)
    interfaces: dict[str, Declaration] = {}
    for decl in ctx.declarations("trunks"):
        interface = data_of(decl).get("interface")
        if trunk_type(decl) != "custom" or not isinstance(interface, str):
            continue
        first = interfaces.setdefault(interface, decl)
        if first is not decl:
            message = (
                f"interface '{interface}' is already used by trunk '{first.name}' "
                f"at {first.location}"
            )
            yield ctx.problem(decl, ("interface",), message)


def _what(decl: Declaration) -> str:
    kinds = {"transports": "transport", "sip_templates": "SIP template", "trunks": "SIP trunk"}
    return f"{kinds.get(decl.kind, decl.kind)} '{decl.name}'"


# ----------------------------------------------------------------------------- references


def check_references(ctx: StackContext) -> Iterator[Problem]:
    """Templates, transports and trunks named by a declaration: declared, or on the PBX?"""
    for decl in [*ctx.declarations("sip_templates"), *_sip_trunks(ctx)]:
        data = data_of(decl)
        for index, name in enumerate(data.get("templates") or []):
            yield from _template_ref(ctx, decl, ("templates", index), name)
        if isinstance(data.get("transport"), str):
            yield from _transport_ref(ctx, decl, ("transport",), data["transport"])
        registration = data.get("registration")
        if isinstance(registration, dict) and "transport" not in registration:
            continue  # most registrations: no option to list (5,000 trunks: 0.03 s)
        for option in options_of(registration):
            if option.key == "transport" and isinstance(option.value, str):
                yield from _transport_ref(
                    ctx, decl, ("registration", *option.value_path), option.value
                )
    for decl in ctx.declarations("outcalls"):
        for index, name in enumerate(data_of(decl).get("trunks") or []):
            yield from _trunk_ref(ctx, decl, ("trunks", index), name)


def _sip_trunks(ctx: _Context) -> list[Declaration]:
    return [d for d in ctx.declarations("trunks") if trunk_type(d) == "sip"]


def _template_ref(
    ctx: StackContext, decl: Declaration, path: tuple[str | int, ...], name: str
) -> Iterator[Problem]:
    declared = ctx.names.get("sip_templates", {}).get(name, [])
    if any(_same_tenant(decl.tenant, t.tenant) for t in declared):
        return
    if declared:
        message = (
            f"SIP template '{name}' is declared for tenant {declared[0].tenant}, not for "
            f"tenant {decl.tenant}; confd refuses templates of another tenant"
        )
        yield ctx.problem(decl, path, message)
    elif name not in DEFAULT_TEMPLATES:
        yield _undeclared(ctx, decl, path, "sip_templates", name, "SIP template")


def _transport_ref(
    ctx: StackContext, decl: Declaration, path: tuple[str | int, ...], name: str
) -> Iterator[Problem]:
    if name not in ctx.names.get("transports", {}):
        yield _undeclared(ctx, decl, path, "transports", name, "transport")


def _trunk_ref(
    ctx: StackContext, decl: Declaration, path: tuple[str | int, ...], name: str
) -> Iterator[Problem]:
    declared = ctx.names.get("trunks", {}).get(name)
    if not declared:
        yield _undeclared(ctx, decl, path, "trunks", name, "trunk")
    elif not _same_tenant(decl.tenant, declared[0].tenant):
        message = (
            f"trunk '{name}' belongs to tenant {declared[0].tenant}, this outcall to tenant "
            f"{decl.tenant}; confd refuses trunks of another tenant"
        )
        yield ctx.problem(decl, path, message)


def _undeclared(
    ctx: StackContext,
    decl: Declaration,
    path: tuple[str | int, ...],
    kind: str,
    name: str,
    what: str,
) -> Problem:
    if ctx.pruned(kind, name):
        message = (
            f"{what} '{name}' is not declared, and the policy prunes {kind}: "
            "apply would delete it; declare or protect it"
        )
        return ctx.problem(decl, path, message)
    message = f"{what} '{name}' is not declared in this stack; it must exist on the PBX"
    return ctx.problem(decl, path, message, WARNING)


def _same_tenant(a: str | None, b: str | None) -> bool:
    # A document without `tenant:` goes to the token's tenant, unknown offline.
    return a is None or b is None or a == b


def check_template_cycles(ctx: StackContext) -> Iterator[Problem]:
    """Template inheritance must not loop (confd refuses it)."""
    graph = _template_graph(ctx)
    reported: set[frozenset[str]] = set()
    for decl in ctx.declarations("sip_templates"):
        cycle = _cycle_from(graph, _node(decl.name, decl.tenant))
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            shown = " -> ".join([*(n.split("@")[0] for n in cycle), cycle[0].split("@")[0]])
            if len(cycle) == 1:
                message = f"template '{decl.name}' inherits itself"
            else:
                message = f"template inheritance cycle: {shown}"
            yield ctx.problem(decl, ("templates",), message, key=True)


def _node(name: str, tenant: str | None) -> str:
    return f"global@{tenant or ''}" if name == "global" else name


def _template_graph(ctx: StackContext) -> dict[str, list[str]]:
    return {
        _node(d.name, d.tenant): [_node(n, d.tenant) for n in data_of(d).get("templates") or []]
        for d in ctx.declarations("sip_templates")
    }


def _cycle_from(graph: Mapping[str, list[str]], start: str) -> list[str]:
    """The cycle through ``start``, as a list of nodes starting with it, or []."""
    path: list[str] = []
    seen: set[str] = set()

    def walk(node: str) -> list[str]:
        for child in graph.get(node, ()):
            if child == start:
                return [*path, node]
            if child not in seen:
                seen.add(child)
                path.append(node)
                found = walk(child)
                path.pop()
                if found:
                    return found
        return []

    return walk(start)


def check_global_inheritance(ctx: StackContext) -> Iterator[Problem]:
    """A SIP trunk that does not inherit the `global` template misses tenant-wide settings."""
    templates = {  # templates that passed the schema: an invalid one hides the answer
        _node(d.name, d.tenant): data_of(d).get("templates") or []
        for d in ctx.declarations("sip_templates")
    }
    for decl in _sip_trunks(ctx):
        parents = data_of(decl).get("templates") or []
        if _inherits_global(templates, parents, decl.tenant) is False:
            message = (
                f"SIP trunk '{decl.name}' does not inherit the 'global' template, directly or "
                "through its templates: tenant-wide settings (NAT, codecs) will not apply"
            )
            yield ctx.problem(decl, ("templates",) if parents else (), message, WARNING, key=True)


def _inherits_global(
    templates: Mapping[str, list[str]], parents: list[str], tenant: str | None
) -> bool | None:
    """True/False when known; None when an undeclared template hides the answer."""
    unknown = False
    todo, seen = list(parents), set()
    while todo:
        name = todo.pop()
        if name in TEMPLATES_INHERITING_GLOBAL:
            return True
        node = _node(name, tenant)
        if node in seen:
            continue
        seen.add(node)
        if node in templates:
            todo += templates[node]
        elif name not in DEFAULT_TEMPLATES:
            unknown = True
    return None if unknown else False


# -------------------------------------------------------------------------------- options


class Option(NamedTuple):
    key: str
    value: Any
    key_path: tuple[str | int, ...]  # inside the section, where the key is written
    value_path: tuple[str | int, ...]


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


def check_sip_options(ctx: DocumentContext) -> Iterator[Problem]:
    """Option sections of templates and SIP trunks, as confd and Wazo's rendering see them."""
    for decl in [*ctx.declarations("sip_templates"), *_sip_trunks(ctx)]:
        data = data_of(decl)
        for section in SIP_SECTIONS:
            value = data.get(section)
            if value is not None and not _plainly_valid(ctx, section, value):
                yield from _section(ctx, decl, section, options_of(value))


def _plainly_valid(ctx: DocumentContext, section: str, value: Any) -> bool:
    """True for the common section that has nothing to report (skips the detailed checks)."""
    if not isinstance(value, dict) or len(value) > MAX_SECTION_PAIRS:
        return False
    allowed, generated = ctx.allowed(section), GENERATED_OPTIONS.get(section, ())
    for key, item in value.items():
        if key not in allowed or key in generated:  # allowed keys are short
            return False
        if item is None:  # removes the key
            continue
        if type(item) is str:  # the usual case, checked inline
            if not item or len(item) > MAX_OPTION_TEXT:
                return False
            continue
        items = item if type(item) is list else (item,)
        if len(items) > 1 and key not in ACCUMULATING_OPTIONS:
            return False
        for one in items:
            text = option_text(one)
            if not text or len(text) > MAX_OPTION_TEXT:
                return False
    return True


def _section(
    ctx: DocumentContext, decl: Declaration, section: str, options: list[Option]
) -> Iterator[Problem]:
    if len(options) > MAX_SECTION_PAIRS:
        message = f"{len(options)} options: confd accepts at most {MAX_SECTION_PAIRS} per section"
        yield ctx.problem(decl, (section,), message, key=True)
    allowed = ctx.allowed(section)
    counts: dict[str, int] = {}
    for option in options:
        counts[option.key] = counts.get(option.key, 0) + 1
        yield from _option_key(ctx, decl, section, option, allowed)
        yield from _option_value(ctx, decl, (section, *option.value_path), option.value)
    for key, count in counts.items():
        if count > 1 and key not in ACCUMULATING_OPTIONS and not key.startswith("@"):
            message = (
                f"option '{key}' is given {count} times: Wazo renders only the last one "
                "(only set_var and match accumulate); write one value, comma-separated "
                "if it is a list"
            )
            yield ctx.problem(decl, (section, key), message, WARNING, key=True)


def _option_key(
    ctx: DocumentContext,
    decl: Declaration,
    section: str,
    option: Option,
    allowed: frozenset[str],
) -> Iterator[Problem]:
    key, path = option.key, (section, *option.key_path)
    on_key = isinstance(path[-1], str)
    if key == "type":
        yield ctx.problem(decl, path, "'type' cannot be set: confd generates it", key=on_key)
    elif key.startswith("@"):
        if section not in AT_KEY_SECTIONS:
            message = f"'@' options are accepted in aor and endpoint only, not in {section}"
            yield ctx.problem(decl, path, message, key=on_key)
    elif key not in allowed:
        yield ctx.problem(decl, path, _unknown_option(section, key, allowed), key=on_key)
    elif key in GENERATED_OPTIONS.get(section, ()):
        message = f"'{key}' is generated by confd; setting it here overrides the generated value"
        yield ctx.problem(decl, path, message, WARNING, key=on_key)
    if len(key) > MAX_OPTION_TEXT:
        yield ctx.problem(
            decl, path, f"option key longer than {MAX_OPTION_TEXT} characters", key=on_key
        )


def _unknown_option(section: str, key: str, allowed: frozenset[str]) -> str:
    if section in ("identify", "registration"):
        accepted = ", ".join(sorted(allowed))
        return f"'{key}' is not accepted in {section} (confd accepts only: {accepted})"
    doc_section = ENDPOINT_SECTIONS.get(section) or section
    message = f"unknown PJSIP {doc_section} option '{key}'"
    close = suggest(key, sorted(allowed))
    return message + (f"; did you mean '{close}'?" if close else "")


def _option_value(
    ctx: DocumentContext, decl: Declaration, path: tuple[str | int, ...], value: Any
) -> Iterator[Problem]:
    text = option_text(value)
    if text == "":
        yield ctx.problem(
            decl, path, "empty value: confd refuses empty option values; remove the option"
        )
    elif len(text) > MAX_OPTION_TEXT:
        yield ctx.problem(decl, path, f"value longer than {MAX_OPTION_TEXT} characters")


def check_shortcuts(ctx: DocumentContext) -> Iterator[Problem]:
    """`headers` and `match_header`, which become endpoint and identify options."""
    for decl in _sip_trunks(ctx):
        data = data_of(decl)
        for name, value in (data.get("headers") or {}).items():
            if not HEADER_NAME.fullmatch(name):
                message = f"invalid SIP header name '{name}' (letters, digits and -.!%*_+`'~ only)"
                yield ctx.problem(decl, ("headers", name), message, key=True)
            if value is None:  # removes the header
                continue
            text = option_text(value)
            if not text.strip() or "\n" in text:
                yield ctx.problem(
                    decl, ("headers", name), "a header value must be one non-empty line"
                )
        match_header = data.get("match_header")
        if isinstance(match_header, str):
            if not MATCH_HEADER.fullmatch(match_header):
                message = "match_header must be 'Header-Name: value', e.g. 'X-Dest-User: abc123'"
                yield ctx.problem(decl, ("match_header",), message)
            if any(o.key == "match_header" for o in options_of(data.get("identify"))):
                message = (
                    "match_header is also set in identify; Wazo keeps only one: remove one of them"
                )
                yield ctx.problem(decl, ("match_header",), message)


def check_transports(ctx: DocumentContext) -> Iterator[Problem]:
    """Transport options: keys from the PJSIP doc and confd's strict character set."""
    allowed = ctx.allowed("transport")
    for decl in ctx.declarations("transports"):
        options = options_of(decl.data)
        if len(options) > MAX_TRANSPORT_PAIRS:
            message = (
                f"{len(options)} options: confd accepts at most {MAX_TRANSPORT_PAIRS} per transport"
            )
            yield ctx.problem(decl, (), message, key=True)
        for option in options:
            on_key = isinstance(option.key_path[-1], str)
            if option.key == "type":
                yield ctx.problem(
                    decl, option.key_path, "'type' cannot be set: confd generates it", key=on_key
                )
            elif option.key not in allowed:
                message = _unknown_option("transport", option.key, allowed)
                yield ctx.problem(decl, option.key_path, message, key=on_key)
            elif not TRANSPORT_TEXT.fullmatch(option.key):
                yield ctx.problem(decl, option.key_path, _charset("key", option.key), key=on_key)
            yield from _transport_value(ctx, decl, option)


def _transport_value(ctx: DocumentContext, decl: Declaration, option: Option) -> Iterator[Problem]:
    text = option_text(option.value)
    secret = is_secret_key(option.key) or has_secret_refs(text)
    if find_refs(text):
        try:
            text = ctx.resolver.expand(text, decl.document.base_dir)
        except SecretError:
            return  # check_secret_references names it
    if text == "":
        yield ctx.problem(decl, option.value_path, "empty value: confd refuses empty option values")
    elif len(text) > MAX_OPTION_TEXT:
        yield ctx.problem(
            decl, option.value_path, f"value longer than {MAX_OPTION_TEXT} characters"
        )
    elif not TRANSPORT_TEXT.fullmatch(text):
        yield ctx.problem(decl, option.value_path, _charset("value", None if secret else text))


def _charset(what: str, text: str | None) -> str:
    shown = f" '{text}'" if text is not None else ""
    return (
        f"transport option {what}{shown} has characters confd refuses "
        "(allowed: letters, digits and - _ / . : ,)"
    )


def check_pjsip_sections(ctx: DocumentContext) -> Iterator[Problem]:
    """PJSIP global/system keys from the doc's sections; values must not be empty."""
    for decl in ctx.declarations("pjsip"):
        allowed = ctx.allowed(decl.name)
        for key, value in data_of(decl).items():
            if key == "type":
                yield ctx.problem(
                    decl, (key,), "'type' cannot be set: confd generates it", key=True
                )
            elif key not in allowed:
                yield ctx.problem(decl, (key,), _unknown_option(decl.name, key, allowed), key=True)
            elif len(key) > 255:
                yield ctx.problem(decl, (key,), "option key longer than 255 characters", key=True)
            if value is not None and option_text(value) == "":
                yield ctx.problem(decl, (key,), "empty value: remove the option instead")


def check_iax_options(ctx: DocumentContext) -> Iterator[Problem]:
    """IAX options that confd stores as stray extras instead of doing what they say."""
    fields = {"context": "the trunk's `context`", "type": "`peer_type`"}
    for decl in ctx.declarations("trunks"):
        if trunk_type(decl) != "iax":
            continue
        for option in options_of(data_of(decl).get("options")):
            if option.key in fields:
                message = (
                    f"'{option.key}' in IAX options is ignored by confd; use {fields[option.key]}"
                )
                path = ("options", *option.key_path)
                yield ctx.problem(decl, path, message, WARNING, key=isinstance(path[-1], str))


def check_iax_registers(ctx: DocumentContext) -> Iterator[Problem]:
    """An IAX `register` confd would refuse (registers.py), on the values sent: references
    resolved (an unresolved one stands for a valid value; its own check reports it)."""
    for decl in ctx.declarations("trunks"):
        register = data_of(decl).get("register")
        if trunk_type(decl) != "iax" or not isinstance(register, dict):
            continue
        values = {}
        for key, value in register.items():
            text = option_text(value) if value is not None else ""
            if "${" in text:
                outcome = ctx.resolver.outcome(text, decl.document.base_dir)
                resolved = ctx.options.resolve_secrets and outcome.expanded is not None
                text = str(outcome.expanded) if resolved else "reference"
            values[str(key)] = text
        for key, message in register_problems(values):
            yield ctx.problem(decl, ("register", key) if key else ("register",), message)


# ------------------------------------------------------------------------------- outcalls


def check_outcalls(ctx: DocumentContext) -> Iterator[Problem]:
    """Dial patterns as confd validates them, and routes that cannot work."""
    for decl in ctx.declarations("outcalls"):
        data = data_of(decl)
        if data.get("trunks") == []:
            message = "no trunk: calls matching this outcall will fail"
            yield ctx.problem(decl, ("trunks",), message, WARNING, key=True)
        for index, pattern in enumerate(data.get("patterns") or []):
            yield from _pattern(ctx, decl, index, pattern)


def check_pattern_uniqueness(ctx: StackContext) -> Iterator[Problem]:
    """An extension belongs to one outcall: (context, exten) is unique in a tenant."""
    used: dict[tuple[str | None, str, str], tuple[Declaration, int]] = {}
    for decl in ctx.declarations("outcalls"):
        for index, pattern in enumerate(data_of(decl).get("patterns") or []):
            yield from _pattern_unique(ctx, decl, index, pattern, used)


def _pattern(
    ctx: DocumentContext, decl: Declaration, index: int, pattern: dict[str, Any]
) -> Iterator[Problem]:
    path: tuple[str | int, ...] = ("patterns", index)
    exten = option_text(pattern["exten"])
    if not exten:
        yield ctx.problem(decl, (*path, "exten"), "an extension pattern must not be empty")
    elif len(exten) > 40 or not EXTEN.fullmatch(exten):
        message = (
            f"invalid outcall extension '{exten}': at most 40 characters, an optional _ and +, "
            "then digits, * #, X Z N, [ ] . ! and -"
        )
        yield ctx.problem(decl, (*path, "exten"), message)
    for name, limit in (("prefix", 32), ("external_prefix", 64)):
        if pattern.get(name) is not None:
            yield from _prefix(ctx, decl, (*path, name), option_text(pattern[name]), limit)


def _prefix(
    ctx: DocumentContext, decl: Declaration, path: tuple[str | int, ...], text: str, limit: int
) -> Iterator[Problem]:
    name = str(path[-1])
    if text == "":
        yield ctx.problem(decl, path, f"empty {name}: confd refuses it; remove the key instead")
    elif len(text) > limit or not PREFIX.fullmatch(text):
        message = (
            f"invalid {name} '{text}': at most {limit} characters, starting with + "
            "or only digits, # and *"
        )
        yield ctx.problem(decl, path, message)


def _pattern_unique(
    ctx: StackContext,
    decl: Declaration,
    index: int,
    pattern: dict[str, Any],
    used: dict[tuple[str | None, str, str], tuple[Declaration, int]],
) -> Iterator[Problem]:
    context = pattern.get("context")
    key = (decl.tenant, str(context or ""), option_text(pattern["exten"]))
    first = used.setdefault(key, (decl, index))
    if first != (decl, index):
        other, other_index = first
        where = f"context '{context}'" if context else "the tenant's outcall context"
        message = (
            f"extension '{key[2]}' in {where} is already a pattern of outcall '{other.name}' "
            f"at {other.locate('patterns', other_index)}; confd allows one"
        )
        yield ctx.problem(decl, ("patterns", index, "exten"), message)


# ------------------------------------------------------------------------------ caller IDs
# What Wazo does with caller IDs and dial patterns is decided in one place, `callerid.py`;
# these checks only read the YAML into its types and locate its findings.


def yaml_pattern(pattern: Mapping[str, Any]) -> Pattern:
    """A dial pattern as written (context as written, "" for the tenant's outcall context)."""
    return Pattern(
        context=str(pattern.get("context") or ""),
        exten=option_text(pattern["exten"]),
        caller_id=pattern.get("caller_id") if isinstance(pattern.get("caller_id"), str) else None,
        strip_digits=int(pattern.get("strip_digits") or 0),
        prefix=_optional_text(pattern.get("prefix")),
        external_prefix=_optional_text(pattern.get("external_prefix")),
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None else option_text(value)


def yaml_outcall(decl: Declaration) -> OutcallView:
    """An outcall declaration as the caller-ID policy sees it (absent keys: confd's defaults)."""
    data = data_of(decl)
    return OutcallView(
        name=decl.name,
        patterns=tuple(yaml_pattern(p) for p in data.get("patterns") or []),
        trunks=tuple(str(t) for t in data.get("trunks") or []),
        internal_caller_id=data.get("internal_caller_id") is True,
        enabled=data.get("enabled") is not False,
    )


def _checkable_exten(exten: str) -> bool:
    """An extension `check_outcalls` accepts (the others are reported there, once)."""
    return bool(exten) and len(exten) <= 40 and EXTEN.fullmatch(exten) is not None


def _located(ctx: _Context, decl: Declaration, path: Sequence[str | int], f: Finding) -> Problem:
    return ctx.problem(decl, tuple(path), f.message, f.severity)


def check_caller_ids(ctx: DocumentContext) -> Iterator[Problem]:
    """Caller IDs as Wazo reads them (a missing number part is a warning), pattern values that
    do nothing (`prefix`, a `caller_id` behind `internal_caller_id`, `strip_digits` removing
    everything) and extensions that never match or that Asterisk reads differently."""
    for decl in ctx.declarations("outcalls"):
        outcall = yaml_outcall(decl)
        for index, pattern in enumerate(outcall.patterns):
            at = ("patterns", index)
            for f in pattern_value_problems(outcall, pattern):
                yield _located(ctx, decl, (*at, f.field or "exten"), f)
            if _checkable_exten(pattern.exten):
                for f in exten_problems(pattern):
                    if f.code != "invalid-exten":
                        yield _located(ctx, decl, (*at, "exten"), f)
    for decl in ctx.declarations("users"):
        value = data_of(decl).get("outgoing_caller_id")
        if isinstance(value, str):
            for severity, message in caller_id_problems(value, for_user=True):
                yield ctx.problem(decl, ("outgoing_caller_id",), message, severity)


class _Declared(NamedTuple):
    decl: Declaration
    at: int  # the pattern's index in the declaration's `patterns` list
    pattern: Pattern


def check_dial_patterns(ctx: StackContext) -> Iterator[Problem]:
    """Patterns of a context (one outcall's or several) that never take a call because a more
    specific one gets all their numbers, or that Asterisk loads as one extension. Contexts are
    compared as written (offline, a label and the name of one context look different)."""
    groups: dict[tuple[str | None, str], list[_Declared]] = {}
    for decl in ctx.declarations("outcalls"):
        for index, pattern in enumerate(yaml_outcall(decl).patterns):
            if _checkable_exten(pattern.exten):
                key = (decl.tenant, pattern.context)
                groups.setdefault(key, []).append(_Declared(decl, index, pattern))
    for declared in groups.values():
        if len(declared) > 1:
            yield from _clashes(ctx, declared)


def _clashes(ctx: StackContext, declared: list[_Declared]) -> Iterator[Problem]:
    by_exten: dict[str, list[_Declared]] = {}
    for item in declared:
        by_exten.setdefault(item.pattern.exten, []).append(item)
    for f in context_problems(item.pattern for item in declared):
        if f.exten is None or f.related is None or f.exten == f.related:
            continue  # the same text twice: check_pattern_uniqueness says it
        winner = by_exten[f.related][0]
        for item in by_exten[f.exten]:
            message = f.message
            if winner.decl is not item.decl:
                where = winner.decl.locate("patterns", winner.at)
                message += f" ({f.related} is a pattern of outcall '{winner.decl.name}' at {where})"
            yield ctx.problem(item.decl, ("patterns", item.at, "exten"), message, f.severity)


def check_forwarded_caller_ids(ctx: StackContext) -> Iterator[Problem]:
    """A user's `outgoing_caller_id` that routes with `internal_caller_id` ignore (info): the
    caller's own caller ID goes out there, `anonymous` included."""
    forwarding = [
        (decl.tenant, yaml_outcall(decl))
        for decl in ctx.declarations("outcalls")
        if data_of(decl).get("internal_caller_id") is True
    ]
    if not forwarding:
        return
    for decl in ctx.declarations("users"):
        value = data_of(decl).get("outgoing_caller_id")
        if not isinstance(value, str):
            continue
        # Tenants as written: a document without `tenant:` goes to the token's tenant, which
        # offline is only known to equal another document without `tenant:`.
        routes = [view for tenant, view in forwarding if tenant == decl.tenant]
        for f in user_problems(UserView(decl.name, value), routes):
            if f.code != "caller-id":  # check_caller_ids reads the value itself
                yield _located(ctx, decl, ("outgoing_caller_id",), f)


# -------------------------------------------------------------------------------- secrets


def check_secret_references(ctx: DocumentContext) -> Iterator[Problem]:
    """Every `${env:…}`/`${file:…}`/`${var:…}` must resolve; secret values are named, never
    shown (variables are not secrets, unless a secret key holds them)."""
    document = ctx.document
    for found in scan_strings(document.data):
        if found.refs:
            yield from _refs(ctx, found.path, found.text, slot=found.slot)
        else:
            ctx.secrets.append(found.text)
            yield from _literal_secret(document, found.path, found.text)


def _refs(ctx: DocumentContext, path: StringPath, text: str, *, slot: bool) -> Iterator[Problem]:
    document = ctx.document
    if not ctx.options.resolve_secrets:
        for ref in find_refs(text):
            if ref.scheme == "env" and not ENV_NAME.fullmatch(ref.target):
                yield _at(document, path, f"{ref}: not a valid environment variable name")
            elif ref.scheme == "file" and not ref.target:
                yield _at(document, path, f"{ref}: empty file path")
            elif ref.scheme == "var":  # variables come from the repository: always checked
                try:
                    ctx.resolver.resolve(ref, document.base_dir)
                except SecretError as undefined:
                    yield _at(document, path, str(undefined))
        return
    outcome = ctx.resolver.outcome(text, document.base_dir)
    ctx.secrets += [value for ref, value in outcome.values if ref.secret or slot]
    for error in outcome.errors:
        yield _at(document, path, str(error))
    if outcome.expanded == "":
        yield _at(document, path, f"{text} expands to an empty value")
    for ref, value in outcome.values:
        if (ref.secret or slot) and 0 < len(value) < MIN_SCRUB_LENGTH:
            message = (
                f"the value of {ref} is shorter than {MIN_SCRUB_LENGTH} characters: "
                "it cannot be masked in output"
            )
            yield _at(document, path, message, WARNING)


def _literal_secret(document: Document, path: StringPath, text: str) -> Iterator[Problem]:
    if len(text) < MIN_SCRUB_LENGTH:
        message = f"a secret shorter than {MIN_SCRUB_LENGTH} characters cannot be masked in output"
        yield _at(document, path, message, WARNING)
    message = "secret written in the YAML; prefer ${env:NAME} or ${file:path}"
    yield _at(document, path, message, INFO)


def _at(document: Document, path: StringPath, message: str, severity: str = ERROR) -> Problem:
    return Problem(document.locate(path), format_path(path), message, severity)


# --------------------------------------------------------------------------------- policy


def check_policy(ctx: StackContext) -> Iterator[Problem]:
    """`policy.ignore` rules must name declared objects, or they do nothing."""
    for document in ctx.stack.documents:
        policy = document.data.get("policy")
        ignore = policy.get("ignore") if isinstance(policy, dict) else None
        if not isinstance(ignore, dict):
            continue
        for ref in ignore:
            kind, _, name = str(ref).partition("/")
            declared = ctx.names.get(kind, {})
            if name and not any(matches(f"{kind}/{n}", [str(ref)]) for n in declared):
                message = f"{ref} is not declared in this stack: this ignore rule has no effect"
                path = ("policy", "ignore", ref)
                yield Problem(document.locate(path, key=True), format_path(path), message, WARNING)


DocumentCheck = Callable[[DocumentContext], Iterable[Problem]]
StackCheck = Callable[[StackContext], Iterable[Problem]]

DOCUMENT_CHECKS: tuple[DocumentCheck, ...] = (
    check_names,
    check_sip_options,
    check_shortcuts,
    check_transports,
    check_pjsip_sections,
    check_iax_options,
    check_iax_registers,
    check_outcalls,
    check_caller_ids,
    check_secret_references,
)

STACK_CHECKS: tuple[StackCheck, ...] = (
    check_namespace,
    check_references,
    check_template_cycles,
    check_global_inheritance,
    check_pattern_uniqueness,
    check_dial_patterns,
    check_forwarded_caller_ids,
    check_policy,
)


# ------------------------------------------------------------------ against the live PBX


def check_live(
    stack: Stack,
    desired: Sequence[Resource],
    live_resources: Sequence[Resource],
    *,
    pjsip_readable: bool,
    pjsip_doc: dict[str, dict[str, dict[str, Any]]] | None,
    names_taken: Mapping[str, str] | None = None,
) -> list[Problem]:
    """What only the live PBX can tell: missing defaults, tenants, names taken elsewhere,
    option keys this PBX's PJSIP (``pjsip_doc``, as confd serves it) does not know.
    ``names_taken``: SIP names the live resources do not show (a phone line's endpoint) and
    what holds them."""
    origins = {d.location: d for d in stack.all_declarations()}
    by_identity = {r.identity: r for r in live_resources}
    sip_names = dict(names_taken or {})
    sip_names |= {
        r.key.name: str(r.key)
        for r in live_resources
        if _sip_named(r) and r.key.name not in DEFAULT_TEMPLATES
    }
    problems: list[Problem] = []
    for want in desired:
        decl = origins.get(want.origin) if want.origin else None
        if decl is None:
            continue
        message = _live_problem(want, by_identity.get(want.identity), pjsip_readable, sip_names)
        if message:
            problems.append(Problem(decl.location, format_path(decl.path), message))
    if pjsip_doc:
        problems += _unknown_to_this_pbx(stack, PjsipDoc.from_confd(pjsip_doc))
    return problems


def _live_problem(
    want: Resource, have: Resource | None, pjsip_readable: bool, sip_names: Mapping[str, str]
) -> str | None:
    kind, name, tenant = want.key.kind, want.key.name, want.key.tenant
    if kind == "pjsip" and not pjsip_readable:
        return "PJSIP settings can only be managed with a master-tenant token"
    if kind == "sip_templates" and name in DEFAULT_TEMPLATES and have is None:
        return f"tenant {tenant} has no default '{name}' template"
    if have is not None and tenant and have.key.tenant != tenant:
        return (
            f"'{name}' already exists in tenant {have.key.tenant}; "
            "confd names are unique across tenants"
        )
    if have is None and _sip_named(want) and name in sip_names:
        return (
            f"the name '{name}' is already used by {sip_names[name]} on the PBX "
            "(SIP names share one namespace)"
        )
    return None


def _sip_named(resource: Resource) -> bool:
    kind = resource.key.kind
    return kind in ("transports", "sip_templates") or (kind == "trunks" and resource.type == "sip")


def _unknown_to_this_pbx(stack: Stack, doc: PjsipDoc) -> list[Problem]:
    """Option keys the live server's PJSIP doc does not know (it may differ from ours)."""
    problems = []
    for decl in stack.declarations("sip_templates") + stack.declarations("trunks"):
        data = data_of(decl)
        for section in SIP_SECTIONS:
            allowed = doc.allowed(section)
            unknown = {
                option.key_path: str(option.key)
                for option in options_of(data.get(section))
                if str(option.key) not in allowed
                and not (str(option.key).startswith("@") and section in AT_KEY_SECTIONS)
            }
            for path, key in unknown.items():
                problems.append(
                    Problem(
                        decl.locate(section, *path, key=len(path) == 1),
                        f"{decl.kind}.{decl.name}.{section}.{key}",
                        f"option '{key}' is not known to this PBX's PJSIP ({section} section)",
                    )
                )
    return problems
