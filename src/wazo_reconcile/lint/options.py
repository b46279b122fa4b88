"""Option sections: keys and values as confd validates them and Wazo renders them.

Keys come from the PJSIP doc (`pjsip.PjsipDoc.allowed`), values are checked against what the
doc tells of each option (`pjsip.ValueRule`: choices, booleans, whole numbers): a value Asterisk
would refuse at reload makes the whole section vanish from Asterisk, silently. A value holding a
secret reference is checked once resolved, and skipped when it cannot be resolved here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from wazo_reconcile.errors import Problem
from wazo_reconcile.lint.context import (
    WARNING,
    Context,
    DocumentContext,
    Option,
    YamlPath,
    data_of,
    options_of,
    sip_trunks,
    trunk_type,
)
from wazo_reconcile.model import SIP_SECTIONS
from wazo_reconcile.pjsip import ENDPOINT_SECTIONS, ValueRule
from wazo_reconcile.registers import register_problems
from wazo_reconcile.secrets import has_secret_refs, is_secret_key
from wazo_reconcile.stack import Declaration, option_text
from wazo_reconcile.suggest import suggest

TRANSPORT_TEXT = re.compile(r"[A-Za-z0-9\-_/.:,]+")
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


def check_sip_options(ctx: DocumentContext) -> Iterator[Problem]:
    """Option sections of templates and SIP trunks, as confd and Wazo's rendering see them."""
    for decl in [*ctx.declarations("sip_templates"), *sip_trunks(ctx)]:
        data = data_of(decl)
        for section in SIP_SECTIONS:
            value = data.get(section)
            if value is not None and not _plainly_valid(ctx, section, value):
                yield from _section(ctx, decl, section, options_of(value))


def _plainly_valid(ctx: DocumentContext, section: str, value: Any) -> bool:
    """True for the common section that has nothing to report: a fast path that skips the
    detailed checks (5,000 trunks are validated in a pre-commit hook)."""
    if not isinstance(value, dict) or len(value) > MAX_SECTION_PAIRS:
        return False
    allowed, generated = ctx.allowed(section), GENERATED_OPTIONS.get(section, ())
    rules = ctx.rules(section)
    for key, item in value.items():
        if key not in allowed or key in generated:  # allowed keys are short
            return False
        if item is None:  # removes the key
            continue
        rule = rules.get(key)
        items = item if type(item) is list else (item,)
        if len(items) > 1 and key not in ACCUMULATING_OPTIONS:
            return False
        for one in items:
            text = one if type(one) is str else option_text(one)
            if not text or len(text) > MAX_OPTION_TEXT:
                return False
            if rule is not None and not rule.accepts(text):
                return False
            if key == "match" and " " in text.strip():
                return False  # an identify match written with spaces
    return True


def _section(
    ctx: DocumentContext, decl: Declaration, section: str, options: list[Option]
) -> Iterator[Problem]:
    if len(options) > MAX_SECTION_PAIRS:
        message = f"{len(options)} options: confd accepts at most {MAX_SECTION_PAIRS} per section"
        yield ctx.problem(decl, (section,), message, key=True)
    allowed = ctx.allowed(section)
    for option in options:
        yield from _option_key(ctx, decl, section, option, allowed)
        yield from _option_value(ctx, decl, section, option)
    counts = Counter(option.key for option in options)
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
    if key.startswith("@"):
        if section not in AT_KEY_SECTIONS:
            message = f"'@' options are accepted in aor and endpoint only, not in {section}"
            yield ctx.problem(decl, path, message, key=on_key)
    elif refused := _refused_key(section, key, allowed):
        yield ctx.problem(decl, path, refused, key=on_key)
    elif key in GENERATED_OPTIONS.get(section, ()):
        message = f"'{key}' is generated by confd; setting it here overrides the generated value"
        yield ctx.problem(decl, path, message, WARNING, key=on_key)
    if len(key) > MAX_OPTION_TEXT:
        yield ctx.problem(
            decl, path, f"option key longer than {MAX_OPTION_TEXT} characters", key=on_key
        )


def doc_section(section: str) -> str:
    """The PJSIP doc section whose options a confd option section takes."""
    return ENDPOINT_SECTIONS.get(section) or section


def _refused_key(section: str, key: str, allowed: frozenset[str]) -> str | None:
    """Why confd refuses the option key ``key`` in ``section`` (of any kind), if it does."""
    if key == "type":
        return "'type' cannot be set: confd generates it"
    if key in allowed:
        return None
    if section in ("identify", "registration"):
        accepted = ", ".join(sorted(allowed))
        return f"'{key}' is not accepted in {section} (confd accepts only: {accepted})"
    message = f"unknown PJSIP {doc_section(section)} option '{key}'"
    close = suggest(key, sorted(allowed))
    return message + (f"; did you mean '{close}'?" if close else "")


def _option_value(
    ctx: DocumentContext, decl: Declaration, section: str, option: Option
) -> Iterator[Problem]:
    path = (section, *option.value_path)
    text = option_text(option.value)
    if text == "":
        yield ctx.problem(
            decl, path, "empty value: confd refuses empty option values; remove the option"
        )
    elif len(text) > MAX_OPTION_TEXT:
        yield ctx.problem(decl, path, f"value longer than {MAX_OPTION_TEXT} characters")
    elif section == "identify" and option.key == "match" and _spaced_item(text):
        items = ", ".join(item for item in re.split(r"[\s,]+", text) if item)
        message = (
            f"invalid match '{text}': one address, network or host name per item (Asterisk "
            f"reads no space inside one); write a list, [{items}], or separate them with commas"
        )
        yield ctx.problem(decl, path, message)
    else:
        yield from checked_value(ctx, decl, section, option.key, text, path)


def _spaced_item(text: str) -> bool:
    """A comma-separated list with an item holding a space (`identify.match`)."""
    return any(len(item.split()) > 1 for item in text.split(","))


def checked_value(
    ctx: Context, decl: Declaration, section: str, key: object, text: str, path: YamlPath
) -> Iterator[Problem]:
    """The value of an option against what the doc tells of it (references resolved first)."""
    rule = ctx.rules(section).get(key) if isinstance(key, str) else None
    if rule is None:
        return
    value = ctx.expanded(text, decl)
    if value is not None and not rule.accepts(value):
        yield ctx.problem(decl, path, value_message(section, str(key), text, rule))


def value_message(section: str, key: str, text: str, rule: ValueRule) -> str:
    """Says that ``text`` (as written: a reference is never shown resolved) is refused."""
    message = (
        f"invalid value '{text}' for PJSIP {doc_section(section)} option '{key}': {rule.expected()}"
    )
    refused = rule.refused(text) if rule.choices and "${" not in text else []
    close = suggest(refused[0], rule.choices) if refused else None
    return message + (f"; did you mean '{close}'?" if close else "")


def check_shortcuts(ctx: DocumentContext) -> Iterator[Problem]:
    """`headers` and `match_header`, which become endpoint and identify options."""
    for decl in sip_trunks(ctx):
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
            if refused := _refused_key("transport", option.key, allowed):
                yield ctx.problem(decl, option.key_path, refused, key=on_key)
            elif not TRANSPORT_TEXT.fullmatch(option.key):
                yield ctx.problem(decl, option.key_path, _charset("key", option.key), key=on_key)
            yield from _transport_value(ctx, decl, option)


def _transport_value(ctx: DocumentContext, decl: Declaration, option: Option) -> Iterator[Problem]:
    written = option_text(option.value)
    secret = is_secret_key(option.key) or has_secret_refs(written)
    text = ctx.expanded(written, decl)
    if text is None:
        return  # check_secret_references names it
    if text == "":
        yield ctx.problem(decl, option.value_path, "empty value: confd refuses empty option values")
    elif len(text) > MAX_OPTION_TEXT:
        yield ctx.problem(
            decl, option.value_path, f"value longer than {MAX_OPTION_TEXT} characters"
        )
    elif not TRANSPORT_TEXT.fullmatch(text):
        yield ctx.problem(decl, option.value_path, _charset("value", None if secret else text))
    else:
        yield from checked_value(ctx, decl, "transport", option.key, written, option.value_path)


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
            if refused := _refused_key(decl.name, key, allowed):
                yield ctx.problem(decl, (key,), refused, key=True)
            elif len(key) > 255:
                yield ctx.problem(decl, (key,), "option key longer than 255 characters", key=True)
            if value is None:
                continue
            text = option_text(value)
            if text == "":
                yield ctx.problem(decl, (key,), "empty value: remove the option instead")
            else:
                yield from checked_value(ctx, decl, decl.name, key, text, (key,))


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
    resolved (one that cannot be resolved here stands for a valid value; its own check names
    it)."""
    for decl in ctx.declarations("trunks"):
        register = data_of(decl).get("register")
        if trunk_type(decl) != "iax" or not isinstance(register, dict):
            continue
        sent = {}
        for key, value in register.items():
            text = ctx.expanded(option_text(value) if value is not None else "", decl)
            sent[str(key)] = "reference" if text is None else text
        for key, message in register_problems(sent):
            yield ctx.problem(decl, ("register", key) if key else ("register",), message)
