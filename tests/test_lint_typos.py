"""Typos that must never reach confd: malformed secret references, in any field, and
references that are typos of a declared name."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_lint import lint
from wazo_reconcile.lint import LintOptions
from wazo_reconcile.secrets import REF_SCHEMES, Scheme, malformed_refs

TRUNK = "trunks:\n  acme:\n    templates: [global]\n"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "${ENV:ACME_PASSWORD}",
            "is not a reference (schemes are lower case): write ${env:ACME_PASSWORD}",
        ),
        ("$env:ACME_PASSWORD", "is not a reference (a missing brace): write ${env:ACME_PASSWORD}"),
        ("${env:ACME_PASSWORD", "is not closed: write ${env:ACME_PASSWORD}"),
        (
            "${vault:acme/password}",
            "unknown reference scheme 'vault' in '${vault:acme/password}': "
            "the references are ${env:NAME}, ${file:path} and ${var:NAME}",
        ),
        ("{env:ACME_PASSWORD}", "is not a reference (a missing $): write ${env:ACME_PASSWORD}"),
        ("$(env:ACME_PASSWORD)", "(parentheses instead of braces): write ${env:ACME_PASSWORD}"),
        ("${ env:ACME_PASSWORD }", "is not a reference (spaces): write ${env:ACME_PASSWORD}"),
        ("${file:}", "${file:}: empty file path (the form is ${file:path})"),
    ],
)
def test_a_malformed_secret_reference_is_an_error(tmp_path: Path, value: str, message: str) -> None:
    text = TRUNK + f"    outbound_auth: {{username: u1, password: '{value}'}}\n"
    found = lint(tmp_path, text)
    assert len(found) == 1, found
    assert found[0].startswith("0.yaml:5:45: trunks.acme.outbound_auth.password: error: ")
    assert message in found[0]


@pytest.mark.parametrize("no_resolve", [False, True])
def test_malformed_references_are_found_in_any_field(tmp_path: Path, no_resolve: bool) -> None:
    text = (
        "trunks:\n"
        "  hq: {type: iax, host: '${Env:HQ_HOST}', options: {secret: '$env:HQ_IAX_SECRET'}}\n"
        "  acme:\n    templates: [global]\n"
        "    registration: {client_uri: 'sip:u1@${ENV:ACME_HOST}'}\n"
        "    endpoint: {from_domain: '{env:ACME_DOMAIN}'}\n"
        "outcalls:\n  o: {description: '${vault:x}', trunks: [acme]}\n"
    )
    options = LintOptions(env={}, resolve_secrets=not no_resolve)
    found = lint(tmp_path, text, options=options, severity="error")
    assert [line.split(": error: ")[0] for line in found] == [
        "0.yaml:3:25: trunks.hq.host",
        "0.yaml:3:61: trunks.hq.options.secret",
        "0.yaml:6:32: trunks.acme.registration.client_uri",
        "0.yaml:7:29: trunks.acme.endpoint.from_domain",
        "0.yaml:9:20: outcalls.o.description",
    ]


def test_a_malformed_literal_secret_is_not_masked_nor_a_literal(tmp_path: Path) -> None:
    text = TRUNK + "    outbound_auth: {username: u1, password: '$env:ACME_PASSWORD'}\n"
    found = lint(tmp_path, text)
    assert len(found) == 1
    assert "write ${env:ACME_PASSWORD}" in found[0]


def test_asterisk_variables_are_not_references(tmp_path: Path) -> None:
    text = TRUNK + (
        "    endpoint:\n      set_var:\n"
        "        - 'PJSIP_HEADER(add,X-Caller)=${CALLERID(num)}'\n"
        "        - '__DIALED=${EXTEN:1}'\n"
        "        - '__TAIL=${EXTEN:-4:4}'\n"
        "        - 'CUT=${CUT(VAR,:,2)}'\n"
        "        - 'HOME=${ENV(HOME)}'\n"
    )
    assert lint(tmp_path, text) == []


def test_a_new_scheme_is_one_more_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [m.message for m in malformed_refs("${vault:acme}")] == [
        "unknown reference scheme 'vault' in '${vault:acme}': the references are "
        "${env:NAME}, ${file:path} and ${var:NAME}"
    ]
    monkeypatch.setitem(REF_SCHEMES, "vault", Scheme("${vault:path}", secret=True))
    assert malformed_refs("${vault:acme}") == []
    assert [m.written for m in malformed_refs("${VAULT:acme} $vault:X")] == [
        "${VAULT:acme}",
        "$vault:X",
    ]


def test_variables_are_a_scheme_of_their_own() -> None:
    assert malformed_refs("${var:PBX_DOMAIN}") == []
    assert [m.written for m in malformed_refs("${VAR:PBX_DOMAIN} $var:X")] == [
        "${VAR:PBX_DOMAIN}",
        "$var:X",
    ]


def test_a_secret_written_in_the_yaml_is_a_warning(tmp_path: Path) -> None:
    text = "trunks:\n  hq: {type: iax, options: {secret: hq-iax-s3cret}}\n"
    assert lint(tmp_path, text) == [
        "0.yaml:3:37: trunks.hq.options.secret: warning: secret written in the YAML (it ends "
        "up in Git); use ${env:NAME} or ${file:path}"
    ]


# ------------------------------------------------------------------------------ references


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sip_templates:\n  carrier: {templates: [global]}\n"
            "trunks:\n  acme: {templates: [carier]}\n",
            "0.yaml:5:22: trunks.acme.templates[0]: error: SIP template 'carier' is not "
            "declared in this stack; did you mean 'carrier'?",
        ),
        (
            "trunks:\n  acme: {templates: [globl]}\n",
            "0.yaml:3:22: trunks.acme.templates[0]: error: SIP template 'globl' is not "
            "declared in this stack; did you mean 'global'?",
        ),
        (
            "trunks:\n  sipco: {templates: [global]}\noutcalls:\n  o: {trunks: [sipc0]}\n",
            "0.yaml:5:16: outcalls.o.trunks[0]: error: trunk 'sipc0' is not declared in this "
            "stack; did you mean 'sipco'?",
        ),
        (
            "transports:\n  transport-tls: {protocol: tls}\n"
            "trunks:\n  acme: {templates: [global], transport: transport-tsl}\n",
            "0.yaml:5:42: trunks.acme.transport: error: transport 'transport-tsl' is not "
            "declared in this stack; did you mean 'transport-tls'?",
        ),
    ],
)
def test_a_reference_one_typo_away_from_a_declared_name_is_an_error(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert lint(tmp_path, text) == [expected]


def test_the_transports_every_wazo_has_are_typo_targets(tmp_path: Path) -> None:
    text = "trunks:\n  acme: {templates: [global], transport: transprot-udp}\n"
    assert lint(tmp_path, text) == [
        "0.yaml:3:42: trunks.acme.transport: error: transport 'transprot-udp' is not declared "
        "in this stack; did you mean 'transport-udp'?"
    ]


def test_other_undeclared_references_stay_warnings(tmp_path: Path) -> None:
    text = (
        "transports:\n  transport-tcp: {protocol: tcp}\n"
        "trunks:\n  trunk-1: {templates: [global], transport: transport-udp}\n"
        "outcalls:\n  o: {trunks: [trunk-1, trunk-2]}\n"
    )
    assert [line.split(": ", 3)[2] for line in lint(tmp_path, text)] == ["warning", "warning"]
