"""The PJSIP option table: which option keys each section accepts, and the values they take.

The data (``data/pjsip_options.json``) holds facts only: section -> option -> default and
choices, as confd serves them at ``GET /asterisk/pjsip/doc``, plus confd's fixed key lists for
the ``identify`` and ``registration`` sections.

The doc does not type its options; :meth:`PjsipDoc.rules` reads a type where it shows: an
option with ``choices`` takes one of them, an option whose default is ``yes``/``no`` a boolean,
an option whose default is a whole number a whole number (of 0 or more when the default is:
Asterisk's unsigned options), a decimal default a number. Every other option takes any text.
Where Asterisk's parsers accept more than its documentation says, `MORE_CHOICES` and
`NOT_BOOLEAN` say so: a value Asterisk loads must never be refused. `UNDOCUMENTED_TYPES` types
the few options the doc gives no default for although Asterisk registers them as booleans or
unsigned numbers (`rewrite_contact` first), `FIXED_SECTION_TYPES` the options of confd's fixed
``identify``/``registration`` lists, which the doc does not hold, and `RANGES` the bounds
Asterisk sets on a few numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

from wazo_reconcile.model import SIP_SECTIONS

# The PJSIP doc section whose keys each option section of a SIP endpoint/template accepts
# (`model.SIP_SECTIONS`; None = confd's fixed list).
ENDPOINT_SECTIONS: dict[str, str | None] = {
    "aor": "aor",
    "auth": "auth",
    "endpoint": "endpoint",
    "identify": None,
    "registration": None,
    "registration_outbound_auth": "auth",
    "outbound_auth": "auth",
}
assert tuple(ENDPOINT_SECTIONS) == SIP_SECTIONS


# What Asterisk reads as true and as false, in any case (`ast_true`/`ast_false`, main/utils.c).
TRUE_WORDS = ("yes", "true", "y", "t", "1", "on")
FALSE_WORDS = ("no", "false", "n", "f", "0", "off")
BOOLEAN_WORDS = frozenset(TRUE_WORDS + FALSE_WORDS)
# Values Asterisk's parsers accept beyond the doc's `choices` ((doc section, option) -> values):
# `dtmf_mode=none` (ast_sip_str_to_dtmf), `100rel=peer_supported`, `identify_by=request_uri`,
# `auth_type=digest`/`google_oauth` in the Asterisk versions Wazo ships.
MORE_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("endpoint", "dtmf_mode"): ("none",),
    ("endpoint", "100rel"): ("peer_supported",),
    ("endpoint", "identify_by"): ("request_uri",),
    ("auth", "auth_type"): ("digest", "google_oauth"),
}
# Options whose default is yes/no but that take more than a boolean: `debug` also takes the
# address of the one host to log SIP traffic for.
NOT_BOOLEAN = frozenset({("global", "debug")})
# Options the doc gives no default (so no type) for, as Asterisk registers them (res_pjsip's
# `ast_sorcery_object_field_register` calls: OPT_BOOL_T/OPT_YESNO_T, OPT_UINT_T).
UNDOCUMENTED_TYPES: dict[tuple[str, str], str] = {
    **{
        ("endpoint", key): "boolean"
        for key in (
            "rewrite_contact",
            "bind_rtp_to_media_address",
            "trust_connected_line",
            "send_connected_line",
            "mwi_subscribe_replaces_unsolicited",
            "follow_early_media_fork",
            "srtp_tag_32",
        )
    },
    **{
        ("endpoint", key): "unsigned"
        for key in ("rtp_keepalive", "fax_detect_timeout", "cos_audio", "cos_video")
    },
    ("aor", "authenticate_qualify"): "boolean",
    ("aor", "support_path"): "boolean",
    ("global", "ignore_uri_user_options"): "boolean",
    ("system", "accept_multiple_sdp_answers"): "boolean",
    ("system", "follow_early_media_fork"): "boolean",
}
# The options of confd's fixed sections, as res_pjsip_outbound_registration and
# res_pjsip_endpoint_identifier_ip register them.
FIXED_SECTION_TYPES: dict[str, dict[str, str]] = {
    "registration": {
        **{
            key: "unsigned"
            for key in (
                "expiration",
                "retry_interval",
                "forbidden_retry_interval",
                "fatal_retry_interval",
                "max_retries",
            )
        },
        **{key: "boolean" for key in ("auth_rejection_permanent", "support_path", "line")},
    },
    "identify": {"srv_lookups": "boolean"},
}
# Bounds Asterisk sets on a number (PARSE_IN_RANGE); an unsigned option stops at 2^32 - 1.
RANGES: dict[tuple[str, str], tuple[int, int]] = {
    ("aor", "qualify_frequency"): (0, 86400),
    ("contact", "qualify_frequency"): (0, 86400),
    ("transport", "external_signaling_port"): (0, 65535),
}
_BOUNDS = {"unsigned": (0, 2**32 - 1), "integer": (-(2**31), 2**31 - 1)}
# Options taking a comma-separated list of their choices.
LIST_OPTIONS = frozenset({("endpoint", "identify_by")})

_UNSIGNED = r"\+?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)"  # strtoul(…, 0): hex, octal, decimal
_FORMS = {
    "unsigned": re.compile(_UNSIGNED),
    "integer": re.compile(r"[-+]?" + _UNSIGNED.removeprefix(r"\+?")),
    "number": re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"),
}
_WHOLE_DEFAULT = re.compile(r"-?[0-9]+")
_DECIMAL_DEFAULT = re.compile(r"-?[0-9]+\.[0-9]+")


class ValueRule(NamedTuple):
    """The values an option takes: ``kind`` is choice, boolean, unsigned, integer or number."""

    kind: str
    choices: tuple[str, ...] = ()  # a choice option's values, as the doc spells them
    booleans: bool = False  # also takes Asterisk's booleans (a choice option with yes and no)
    several: bool = False  # a comma-separated list of choices
    bounds: tuple[int, int] | None = None  # a whole number's lowest and highest values

    def accepts(self, text: str) -> bool:
        """Does Asterisk load this value (surrounding blanks aside, as its config reader)?"""
        value = text.strip()
        if self.kind == "boolean":
            return value.lower() in BOOLEAN_WORDS
        if self.kind == "choice":
            return not self.refused(value)
        if _FORMS[self.kind].fullmatch(value) is None:
            return False
        if self.kind == "number":
            return True
        low, high = self.bounds or _BOUNDS[self.kind]
        return low <= _whole(value) <= high

    def refused(self, text: str) -> list[str]:
        """The items of a choice option's value that are not choices."""
        items = text.split(",") if self.several else [text]
        return [item.strip() for item in items if not self._choice(item.strip())]

    def _choice(self, value: str) -> bool:
        lowered = value.lower()
        return any(lowered == c.lower() for c in self.choices) or (
            self.booleans and lowered in BOOLEAN_WORDS
        )

    def expected(self) -> str:
        """The allowed values, for a message."""
        if self.kind == "boolean":
            return "yes or no (Asterisk also reads true/false, on/off, y/n, t/f, 1/0)"
        if self.kind == "choice":
            listed = ", ".join(sorted(self.choices))
            several = "one or more of" if self.several else "one of"
            return f"{several} {listed}" + (" (or yes/no)" if self.booleans else "")
        if self.bounds:
            return f"a whole number from {self.bounds[0]} to {self.bounds[1]}"
        return {
            "unsigned": "a whole number, 0 or more",
            "integer": "a whole number",
            "number": "a number",
        }[self.kind]


def _whole(text: str) -> int:
    """A whole number as C's strtol(…, 0) reads it: 0x… hexadecimal, 0… octal."""
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    base = 16 if digits[:2].lower() == "0x" else 8 if digits.startswith("0") else 10
    return sign * int(digits, base)


def value_rule(section: str, key: str, spec: Mapping[str, Any]) -> ValueRule | None:
    """What the doc's entry of an option tells of its values (None: nothing)."""
    choices = _choices(spec.get("choices"))
    if choices:
        lowered = {c.lower() for c in choices}
        return ValueRule(
            "choice",
            tuple(choices) + MORE_CHOICES.get((section, key), ()),
            booleans={"yes", "no"} <= lowered,
            several=(section, key) in LIST_OPTIONS,
        )
    kind = _kind(section, key, spec.get("default"))
    if kind is None:
        return None
    return ValueRule(kind, bounds=RANGES.get((section, key)))


def _kind(section: str, key: str, default: object) -> str | None:
    if default is None or default == "":
        return UNDOCUMENTED_TYPES.get((section, key))
    if isinstance(default, bool) or not isinstance(default, str | int | float):
        return None
    text = str(default).strip().lower()
    if text in ("yes", "no"):
        return None if (section, key) in NOT_BOOLEAN else "boolean"
    if _WHOLE_DEFAULT.fullmatch(text):
        return "integer" if text.startswith("-") else "unsigned"
    if _DECIMAL_DEFAULT.fullmatch(text):
        return "number"
    return None


def _choices(raw: object) -> list[str]:
    """The doc's choices: a list in the shipped table, a mapping (choice -> text) from confd."""
    if isinstance(raw, Mapping | list | tuple):
        return [str(choice) for choice in raw if str(choice)]
    return []


@dataclass(frozen=True)
class PjsipDoc:
    sections: dict[str, dict[str, dict[str, Any]]]
    identify: frozenset[str]
    registration: frozenset[str]
    # Memos: lint asks for every option of every section.
    _allowed: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, repr=False)
    _rules: dict[str, Mapping[str, ValueRule]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def allowed(self, section: str) -> frozenset[str]:
        """Keys accepted in a confd option section (``type`` is never accepted; memoised)."""
        keys = self._allowed.get(section)
        if keys is None:
            doc_section = ENDPOINT_SECTIONS.get(section, section)
            if doc_section is None:  # identify, registration: confd's fixed lists
                keys = getattr(self, section)
            else:
                keys = frozenset(k for k in self.sections.get(doc_section, {}) if k != "type")
            self._allowed[section] = keys
        return keys

    def rules(self, section: str) -> Mapping[str, ValueRule]:
        """The options of a confd option section whose values the doc types (memoised)."""
        found = self._rules.get(section)
        if found is None:
            doc_section = ENDPOINT_SECTIONS.get(section, section)
            if doc_section is None:  # identify, registration: confd's fixed lists
                fixed = FIXED_SECTION_TYPES.get(section, {})
                found = {key: ValueRule(kind) for key, kind in fixed.items()}
            else:
                found = {
                    key: rule
                    for key, spec in self.sections.get(doc_section, {}).items()
                    if isinstance(spec, Mapping)
                    and (rule := value_rule(doc_section, key, spec)) is not None
                }
            self._rules[section] = found
        return found

    def default(self, section: str, key: str) -> str | None:
        value = self.sections.get(section, {}).get(key, {}).get("default")
        return None if value is None else str(value)

    @classmethod
    def from_confd(cls, body: dict[str, dict[str, dict[str, Any]]]) -> PjsipDoc:
        """Build from a live ``GET /asterisk/pjsip/doc`` body (identify/registration stay fixed)."""
        base = load_pjsip_doc()
        sections = {s: {k: dict(v) for k, v in opts.items()} for s, opts in body.items()}
        return cls(sections, base.identify, base.registration)


@cache
def load_pjsip_doc() -> PjsipDoc:
    raw = json.loads(
        resources.files("wazo_reconcile").joinpath("data/pjsip_options.json").read_text("utf-8")
    )
    return PjsipDoc(
        sections=raw["sections"],
        identify=frozenset(raw["identify"]),
        registration=frozenset(raw["registration"]),
    )
