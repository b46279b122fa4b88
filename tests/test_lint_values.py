"""Option values checked against the PJSIP doc: choices, Asterisk's booleans, whole numbers.

The false-positive count of these checks on every example, golden file and export of the
sandbox's seeds is measured here and must be 0.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from support import EXAMPLE_NAMES, EXAMPLES, SECRETS, client_for
from wazo_reconcile.cli import main
from wazo_reconcile.errors import ConfigError, Problem
from wazo_reconcile.lint import LintOptions, check_stack
from wazo_reconcile.live import fetch_live
from wazo_reconcile.pipeline import compare
from wazo_reconcile.pjsip import (
    BOOLEAN_WORDS,
    PjsipDoc,
    ValueRule,
    load_pjsip_doc,
    value_rule,
)
from wazo_reconcile.sandbox import Sandbox
from wazo_reconcile.secrets import SecretResolver
from wazo_reconcile.stack import read_stack

GOLDEN = Path(__file__).resolve().parent / "golden"
ENV = {**SECRETS, "DTMF": "rfc4733", "BAD_DTMF": "rfc2833"}


def problems_of(tmp_path: Path, text: str, options: LintOptions | None = None) -> list[str]:
    (tmp_path / "s.yaml").write_text("version: 1\n" + text, encoding="utf-8")
    stack, problems = read_stack(tmp_path)
    assert problems == []
    found = check_stack(stack, options=options or LintOptions(env=ENV))
    return [
        f"{p.location.line}:{p.location.col}: {p.path}: {p.severity}: {p.message}"
        for p in sorted(found, key=Problem.sort_key)
    ]


def trunk(section: str, options: str) -> str:
    return f"trunks:\n  acme:\n    templates: [global]\n    {section}: {{{options}}}\n"


@pytest.mark.parametrize(
    ("section", "options", "expected"),
    [
        (
            "endpoint",
            "rewrite_contact: maybe",
            "5:33: trunks.acme.endpoint.rewrite_contact: error: invalid value 'maybe' for PJSIP "
            "endpoint option 'rewrite_contact': yes or no (Asterisk also reads true/false, "
            "on/off, y/n, t/f, 1/0)",
        ),
        (
            "aor",
            "qualify_frequency: sixty",
            "5:30: trunks.acme.aor.qualify_frequency: error: invalid value 'sixty' for PJSIP aor "
            "option 'qualify_frequency': a whole number from 0 to 86400",
        ),
        (
            "aor",
            "max_contacts: -1",
            "5:25: trunks.acme.aor.max_contacts: error: invalid value '-1' for PJSIP aor option "
            "'max_contacts': a whole number, 0 or more",
        ),
        (
            "endpoint",
            "dtmf_mode: rfc2833",
            "5:27: trunks.acme.endpoint.dtmf_mode: error: invalid value 'rfc2833' for PJSIP "
            "endpoint option 'dtmf_mode': one of auto, auto_info, inband, info, none, rfc4733; "
            "did you mean 'rfc4733'?",
        ),
        (
            "endpoint",
            "identify_by: 'ip,headers'",
            "5:29: trunks.acme.endpoint.identify_by: error: invalid value 'ip,headers' for PJSIP "
            "endpoint option 'identify_by': one or more of auth_username, header, ip, "
            "request_uri, username; did you mean 'header'?",
        ),
        (
            "endpoint",
            "timers: sometimes",
            "5:24: trunks.acme.endpoint.timers: error: invalid value 'sometimes' for PJSIP "
            "endpoint option 'timers': one of always, forced, no, required, yes (or yes/no)",
        ),
        (
            "outbound_auth",
            "auth_type: plain",
            "5:32: trunks.acme.outbound_auth.auth_type: error: invalid value 'plain' for PJSIP "
            "auth option 'auth_type': one of digest, google_oauth, md5, userpass",
        ),
        (
            "aor",
            "qualify_frequency: 86401",
            "5:30: trunks.acme.aor.qualify_frequency: error: invalid value '86401' for PJSIP aor "
            "option 'qualify_frequency': a whole number from 0 to 86400",
        ),
        (
            "endpoint",
            "rtp_timeout: 4294967296",
            "5:29: trunks.acme.endpoint.rtp_timeout: error: invalid value '4294967296' for PJSIP "
            "endpoint option 'rtp_timeout': a whole number, 0 or more",
        ),
        (
            "registration",
            "max_retries: unlimited",
            "5:33: trunks.acme.registration.max_retries: error: invalid value 'unlimited' for "
            "PJSIP registration option 'max_retries': a whole number, 0 or more",
        ),
        (
            "identify",
            "srv_lookups: perhaps",
            "5:29: trunks.acme.identify.srv_lookups: error: invalid value 'perhaps' for PJSIP "
            "identify option 'srv_lookups': yes or no (Asterisk also reads true/false, on/off, "
            "y/n, t/f, 1/0)",
        ),
        (
            "aor",
            "qualify_timeout: 3s",
            "5:28: trunks.acme.aor.qualify_timeout: error: invalid value '3s' for PJSIP aor "
            "option 'qualify_timeout': a number",
        ),
    ],
)
def test_a_value_outside_the_doc_is_an_error(
    tmp_path: Path, section: str, options: str, expected: str
) -> None:
    assert problems_of(tmp_path, trunk(section, options)) == [expected]


@pytest.mark.parametrize(
    "options",
    [
        # every spelling of ast_true/ast_false, in any case, YAML booleans and numbers
        *(f"rtp_symmetric: '{word}'" for word in sorted(BOOLEAN_WORDS)),
        "rtp_symmetric: 'YES'",
        "rtp_symmetric: On",
        "rtp_symmetric: true",
        "rtp_symmetric: 1",
        "dtmf_mode: RFC4733",
        "dtmf_mode: none",  # Asterisk's parser takes it, its doc does not list it
        "identify_by: 'header, ip,username'",
        "timers: 'true'",  # a choice option with yes/no takes every boolean
        "100rel: peer_supported",
        "rtp_timeout: 0x1E",  # strtoul(…, 0): hexadecimal
        "rtp_timeout: ' 60'",
        "moh_suggest: anything",  # untyped: any text
        "callerid: wazo",
        "set_var: [A=1, B=2]",
        "allow: '!all,ulaw'",
    ],
)
def test_values_asterisk_accepts_pass(tmp_path: Path, options: str) -> None:
    assert problems_of(tmp_path, trunk("endpoint", options)) == []


def test_transport_and_pjsip_values_are_checked(tmp_path: Path) -> None:
    text = (
        "transports:\n  transport-udp: {protocol: udp, bind: '0.0.0.0:5060', "
        "external_signaling_port: 5060/udp, allow_reload: no}\n"
        "pjsip:\n  global: {keep_alive_interval: 30s, debug: 192.0.2.1, mwi_tps_queue_low: -1}\n"
        "  system: {timer_t1: 500, compact_headers: sure}\n"
    )
    assert [p.split(": error: ")[0] for p in problems_of(tmp_path, text)] == [
        "3:81: transports.transport-udp.external_signaling_port",
        "5:33: pjsip.global.keep_alive_interval",
        "6:44: pjsip.system.compact_headers",
    ]


def test_an_identify_match_with_spaces(tmp_path: Path) -> None:
    found = problems_of(tmp_path, trunk("identify", "match: '198.51.100.10 198.51.100.0/24'"))
    assert found == [
        "5:23: trunks.acme.identify.match: error: invalid match '198.51.100.10 "
        "198.51.100.0/24': one address, network or host name per item (Asterisk reads no "
        "space inside one); write a list, [198.51.100.10, 198.51.100.0/24], or separate them "
        "with commas"
    ]
    commas = trunk("identify", "match: '198.51.100.10, 198.51.100.0/24,sip.example.com'")
    assert problems_of(tmp_path, commas) == []


def test_pairs_and_lists_are_checked_one_by_one(tmp_path: Path) -> None:
    text = (
        "sip_templates:\n  carrier:\n"
        "    endpoint: [[rtp_symmetric, yes], [direct_media, nope]]\n"
        "    aor: {qualify_frequency: [60, 'x']}\n"
    )
    found = problems_of(tmp_path, text)
    assert [line.split(": error")[0] for line in found if ": error" in line] == [
        "4:53: sip_templates.carrier.endpoint[1][1]",
        "5:35: sip_templates.carrier.aor.qualify_frequency[1]",
    ]


def test_a_reference_is_checked_resolved_and_never_shown_resolved(tmp_path: Path) -> None:
    ok = trunk("endpoint", "dtmf_mode: '${env:DTMF}'")
    bad = trunk("endpoint", "dtmf_mode: '${env:BAD_DTMF}'")
    unset = trunk("endpoint", "dtmf_mode: '${env:UNSET_DTMF}'")
    assert problems_of(tmp_path, ok) == []
    assert problems_of(tmp_path, bad) == [
        "5:27: trunks.acme.endpoint.dtmf_mode: error: invalid value '${env:BAD_DTMF}' for "
        "PJSIP endpoint option 'dtmf_mode': one of auto, auto_info, inband, info, none, rfc4733"
    ]
    # unresolvable here: the secret check says so, the value check skips it
    assert [p.split(": error: ")[1] for p in problems_of(tmp_path, unset)] == [
        "${env:UNSET_DTMF}: environment variable UNSET_DTMF is not set"
    ]
    no_resolve = LintOptions(env={}, resolve_secrets=False)
    assert problems_of(tmp_path, bad, options=no_resolve) == []


def test_a_server_doc_decides_the_values(tmp_path: Path) -> None:
    """--pjsip-doc (or the live doc at plan time) replaces the shipped table: its choices and
    defaults type the options, as a mapping of choices (confd's form)."""
    text = trunk("endpoint", "dtmf_mode: rfc2833")
    body = {section: dict(options) for section, options in load_pjsip_doc().sections.items()}
    body["endpoint"]["dtmf_mode"] = {"default": "rfc4733", "choices": {"rfc2833": "", "info": ""}}
    options = LintOptions(pjsip_doc=PjsipDoc.from_confd(body), env=ENV)
    assert problems_of(tmp_path, text, options=options) == []
    body["endpoint"]["dtmf_mode"] = {"default": None, "choices": {}}  # untyped: anything goes
    options = LintOptions(pjsip_doc=PjsipDoc.from_confd(body), env=ENV)
    assert problems_of(tmp_path, text, options=options) == []


def test_the_live_doc_is_checked_at_plan_time(tmp_path: Path) -> None:
    client = client_for(Sandbox(profile="fresh"))
    (tmp_path / "s.yaml").write_text("version: 1\n" + trunk("endpoint", "dtmf_mode: info"))
    stack, _ = read_stack(tmp_path)
    live = fetch_live(client)
    assert live.pjsip_doc is not None
    doc = {section: dict(options) for section, options in live.pjsip_doc.items()}
    doc["endpoint"]["dtmf_mode"] = {"default": "rfc4733", "choices": {"rfc4733": ""}}
    live = replace(live, pjsip_doc=doc)  # this PBX's Asterisk knows one DTMF mode
    with pytest.raises(ConfigError) as caught:
        compare(stack, live, resolver=SecretResolver(ENV))
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path}/s.yaml:5:27: trunks.acme.endpoint.dtmf_mode: invalid value 'info' for "
        "PJSIP endpoint option 'dtmf_mode': one of none, rfc4733"
    ]


@pytest.mark.parametrize(
    ("section", "key", "spec", "rule"),
    [
        ("endpoint", "direct_media", {"default": "yes", "choices": []}, ValueRule("boolean")),
        ("global", "debug", {"default": "no", "choices": []}, None),  # or a host address
        ("transport", "tos", {"default": "false", "choices": []}, None),
        ("aor", "max_contacts", {"default": "0", "choices": []}, ValueRule("unsigned")),
        ("global", "mwi_tps_queue_low", {"default": "-1"}, ValueRule("integer")),
        ("aor", "qualify_timeout", {"default": "3.0"}, ValueRule("number")),
        ("endpoint", "rewrite_contact", {"default": None}, ValueRule("boolean")),
        ("endpoint", "language", {"default": None}, None),
        ("endpoint", "moh_suggest", {"default": "default"}, None),
        ("endpoint", "brand_new", {"default": 5}, ValueRule("unsigned")),
    ],
)
def test_what_the_doc_tells_of_an_option(
    section: str, key: str, spec: dict[str, object], rule: ValueRule | None
) -> None:
    assert value_rule(section, key, spec) == rule


# --------------------------------------------------------------------- false positives


def exported(tmp_path: Path, profile: str) -> Path:
    """The sandbox seed `profile` as `reconcile export --all` writes it."""
    out = tmp_path / f"export-{profile}"
    if profile == "fresh":
        assert main(["export", "--sandbox", "--all", "--output", str(out)]) == 0
    else:
        with Sandbox(profile=profile).serve() as url:
            connection = ["--url", url, "--token", "t"]
            assert main(["export", *connection, "--all", "--output", str(out)]) == 0
    return out


def value_problems(path: Path, options: LintOptions) -> tuple[list[Problem], int]:
    """The value-check problems of a stack, and how many option values were checked."""
    stack, problems = read_stack(path)
    assert [p for p in problems if p.severity == "error"] == []
    found = [
        p for p in check_stack(stack, options=options) if p.message.startswith("invalid value")
    ]
    return found, _checked(stack, options.doc)


def _checked(stack: object, doc: PjsipDoc) -> int:
    from wazo_reconcile.lint.context import data_of, options_of
    from wazo_reconcile.model import SIP_SECTIONS

    assert hasattr(stack, "all_declarations")
    count = 0
    for decl in stack.all_declarations():
        data = data_of(decl)
        if decl.kind in ("sip_templates", "trunks"):
            sections = [(s, data.get(s)) for s in SIP_SECTIONS]
        elif decl.kind == "transports":
            sections = [("transport", data)]
        elif decl.kind == "pjsip":
            sections = [(decl.name, data)]
        else:
            continue
        for section, value in sections:
            rules = doc.rules(section)
            count += sum(1 for option in options_of(value) if option.key in rules)
    return count


def test_no_false_positive_on_examples_golden_files_and_sandbox_exports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stacks = [EXAMPLES / name for name in EXAMPLE_NAMES]
    stacks += sorted(p for p in GOLDEN.iterdir() if p.is_dir())
    stacks += [exported(tmp_path, "fresh"), exported(tmp_path, "recordings")]
    capsys.readouterr()
    served = Sandbox(profile="fresh")
    live_doc = PjsipDoc.from_confd(client_for(served).get("/asterisk/pjsip/doc"))
    false_positives: list[Problem] = []
    checked = 0
    for doc in (load_pjsip_doc(), live_doc):
        for path in stacks:
            found, count = value_problems(path, LintOptions(pjsip_doc=doc, env=ENV))
            false_positives += found
            checked += count
    print(f"value checks: {len(false_positives)} false positives out of {checked} values")
    assert false_positives == []
    assert checked > 200  # the count means something: the stacks set typed options
