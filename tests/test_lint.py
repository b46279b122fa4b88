from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from test_schema import mutated_documents
from wazo_reconcile.lint import (
    LintOptions,
    check_stack,
    options_of,
)
from wazo_reconcile.pjsip import PjsipDoc, load_pjsip_doc
from wazo_reconcile.secrets import SecretRegistry
from wazo_reconcile.stack import read_stack

SUB = "22222222-2222-4222-8222-222222222222"
ENV = {"ACME_PASSWORD": "acme-s3cret", "SHORT": "ab", "EMPTY": "", "TLS_KEY": "with space"}


def lint(
    tmp_path: Path, *texts: str, options: LintOptions | None = None, severity: str | None = None
) -> list[str]:
    for index, text in enumerate(texts):
        (tmp_path / f"{index}.yaml").write_text("version: 1\n" + text, encoding="utf-8")
    stack, problems = read_stack(tmp_path)
    assert problems == []
    found = check_stack(stack, options=options or LintOptions(env=ENV))
    return [
        f"{p.location.file.rsplit('/', 1)[-1]}:{p.location.line}:{p.location.col}: "
        f"{p.path}: {p.severity}: {p.message}"
        for p in sorted(found, key=lambda p: p.sort_key())
        if severity is None or p.severity == severity
    ]


CASES = [
    pytest.param(
        "transports:\n  t1: {protocol: udp}\ntrunks:\n  t1:\n    templates: [global]\n",
        [
            "0.yaml:5:3: trunks.t1: error: name 't1' is already used by transport 't1' at "
            "{dir}/0.yaml:3:3; SIP transports, templates and trunks share one namespace in confd"
        ],
        id="namespace",
    ),
    pytest.param(
        "trunks:\n  acme:\n    templates: [global, webrtc, carrier]\n    transport: tls\n"
        "    registration: {transport: tcp}\n",
        [
            "0.yaml:4:33: trunks.acme.templates[2]: warning: SIP template 'carrier' is not "
            "declared in this stack; it must exist on the PBX",
            "0.yaml:5:16: trunks.acme.transport: warning: transport 'tls' is not declared in "
            "this stack; it must exist on the PBX",
            "0.yaml:6:31: trunks.acme.registration.transport: warning: transport 'tcp' is not "
            "declared in this stack; it must exist on the PBX",
        ],
        id="undeclared-references-are-warnings",
    ),
    pytest.param(
        "trunks:\n  acme:\n    templates: [global]\n"
        "    registration: [[expiration, '60'], [transport, tcp]]\n"
        "  other:\n    templates: [global]\n    registration: {expiration: 60}\n",
        [
            "0.yaml:5:52: trunks.acme.registration[1][1]: warning: transport 'tcp' is not "
            "declared in this stack; it must exist on the PBX",
        ],
        id="a-registration-transport-written-as-pairs",
    ),
    pytest.param(
        "policy: {prune: [trunks], protect: [trunks/kept]}\n"
        "outcalls:\n  o: {trunks: [gone, kept]}\n",
        [
            "0.yaml:4:16: outcalls.o.trunks[0]: error: trunk 'gone' is not declared, and the "
            "policy prunes trunks: apply would delete it; declare or protect it",
            "0.yaml:4:22: outcalls.o.trunks[1]: warning: trunk 'kept' is not declared in this "
            "stack; it must exist on the PBX",
        ],
        id="pruned-references-are-errors",
    ),
    pytest.param(
        f"tenant: {SUB}\nsip_templates:\n  sub-base: {{templates: [global]}}\n"
        "trunks:\n  sub-trunk: {templates: [sub-base]}\n"
        "---\nversion: 1\ntenant: 11111111-1111-4111-8111-111111111111\n"
        "trunks:\n  master: {templates: [global, sub-base]}\n"
        "outcalls:\n  o: {trunks: [sub-trunk]}\n",
        [
            "0.yaml:11:32: trunks.master.templates[1]: error: SIP template 'sub-base' is "
            f"declared for tenant {SUB}, not for tenant 11111111-1111-4111-8111-111111111111; "
            "confd refuses templates of another tenant",
            "0.yaml:13:16: outcalls.o.trunks[0]: error: trunk 'sub-trunk' belongs to tenant "
            f"{SUB}, this outcall to tenant 11111111-1111-4111-8111-111111111111; confd refuses "
            "trunks of another tenant",
        ],
        id="tenants",
    ),
    pytest.param(
        "sip_templates:\n  a: {templates: [global, b]}\n  b: {templates: [a]}\n"
        "  c: {templates: [a]}\n",
        [
            "0.yaml:3:7: sip_templates.a.templates: error: template inheritance cycle: a -> b -> a",
        ],
        id="cycle",
    ),
    pytest.param(
        "sip_templates:\n  base: {}\n  nat: {templates: [base, global]}\n"
        "trunks:\n  a: {templates: [base]}\n  b: {templates: [nat]}\n  c: {}\n"
        "  d: {templates: [registration_trunk]}\n  e: {templates: [elsewhere]}\n",
        [
            "0.yaml:6:7: trunks.a.templates: warning: SIP trunk 'a' does not inherit the "
            "'global' template, directly or through its templates: tenant-wide settings (NAT, "
            "codecs) will not apply",
            "0.yaml:8:3: trunks.c: warning: SIP trunk 'c' does not inherit the 'global' "
            "template, directly or through its templates: tenant-wide settings (NAT, codecs) "
            "will not apply",
            "0.yaml:10:19: trunks.e.templates[0]: warning: SIP template 'elsewhere' is not "
            "declared in this stack; it must exist on the PBX",
        ],
        id="global-inheritance",
    ),
    pytest.param(
        "trunks:\n  acme:\n    templates: [global]\n    endpoint:\n      allow: [ulaw, alaw]\n"
        "      set_var: [A=1, B=2]\n      aors: acme\n      '@tag': x\n      rtp_symetric: yes\n"
        "    identify: [[match, 10.0.0.1], [match, 10.0.0.2], [endpoint, acme]]\n",
        [
            "0.yaml:6:7: trunks.acme.endpoint.allow: warning: option 'allow' is given 2 times: "
            "Wazo renders only the last one (only set_var and match accumulate); write one "
            "value, comma-separated if it is a list",
            "0.yaml:8:7: trunks.acme.endpoint.aors: warning: 'aors' is generated by confd; "
            "setting it here overrides the generated value",
            "0.yaml:10:7: trunks.acme.endpoint.rtp_symetric: error: unknown PJSIP endpoint "
            "option 'rtp_symetric'; did you mean 'rtp_symmetric'?",
            "0.yaml:11:55: trunks.acme.identify[2][0]: warning: 'endpoint' is generated by "
            "confd; setting it here overrides the generated value",
        ],
        id="sip-options",
    ),
    pytest.param(
        "transports:\n  tls:\n    password: ${env:TLS_KEY}\n    protocol: tls\n"
        "    cert_file: /etc/pki/cert file.pem\n",
        [
            "0.yaml:4:15: transports.tls.password: error: transport option value has "
            "characters confd refuses (allowed: letters, digits and - _ / . : ,)",
            "0.yaml:6:16: transports.tls.cert_file: error: transport option value "
            "'/etc/pki/cert file.pem' has characters confd refuses (allowed: letters, digits "
            "and - _ / . : ,)",
        ],
        id="transport-secret-value-not-shown",
    ),
    pytest.param(
        "trunks:\n  hq:\n    type: iax\n    options: [[context, x], [trunk, yes]]\n",
        [
            "0.yaml:5:16: trunks.hq.options[0][0]: warning: 'context' in IAX options is "
            "ignored by confd; use the trunk's `context`",
        ],
        id="iax-options",
    ),
    pytest.param(
        "outcalls:\n  o:\n    trunks: []\n    patterns:\n      - {exten: '_+33.', prefix: 0}\n"
        "      - {exten: 112, external_prefix: +33}\n"
        "      - {exten: '_X#*[1-5]!-', prefix: '*9'}\n",
        [
            "0.yaml:4:5: outcalls.o.trunks: warning: no trunk: calls matching this outcall "
            "will fail",
            "0.yaml:6:34: outcalls.o.patterns[0].prefix: info: prefix 0 is stored but Wazo does "
            "not use it when routing: the number dialed must match _+33. itself (include the "
            "digits in exten, strip them with strip_digits)",
            "0.yaml:8:40: outcalls.o.patterns[2].prefix: info: prefix *9 is stored but Wazo "
            "does not use it when routing: the number dialed must match _X#*[1-5]!- itself "
            "(include the digits in exten, strip them with strip_digits)",
        ],
        id="outcall-patterns-valid",
    ),
    pytest.param(
        "outcalls:\n  o:\n    patterns:\n      - {exten: _0X, context: to-extern}\n"
        f"---\nversion: 1\ntenant: {SUB}\noutcalls:\n  p:\n    patterns:\n"
        "      - {exten: _0X, context: to-extern}\n",
        [],
        id="same-pattern-other-tenant",
    ),
    pytest.param(
        "users:\n  alice@example.com: {outgoing_caller_id: 'Alice Martin <5550001>'}\n"
        "  bob@example.com: {outgoing_caller_id: null}\n",
        [
            "0.yaml:3:43: users.alice@example.com.outgoing_caller_id: error: `Alice Martin "
            "<5550001>` is not a caller ID Wazo can read (it would leave the caller ID "
            'unchanged): quote the name: an unquoted name is a single word; write "Alice '
            'Martin" <5550001> (or, for a user, anonymous or default)',
        ],
        id="caller-id",
    ),
    pytest.param(
        "outcalls:\n  o:\n    internal_caller_id: true\n    patterns:\n"
        "      - {exten: _0X, caller_id: '\"A\" <1>'}\n",
        [
            '0.yaml:6:33: outcalls.o.patterns[0].caller_id: info: caller_id "A" <1> of _0X '
            "is never used: internal_caller_id forwards the caller's own caller ID",
        ],
        id="caller-id-shadowed",
    ),
    pytest.param(
        "trunks:\n  acme:\n    templates: [global]\n    outbound_auth:\n"
        "      password: ${env:SHORT}\n      username: ${env:EMPTY}\n"
        "    auth: {password: abc}\n",
        [
            "0.yaml:6:17: trunks.acme.outbound_auth.password: warning: the value of "
            "${env:SHORT} is shorter than 4 characters: it cannot be masked in output",
            "0.yaml:7:17: trunks.acme.outbound_auth.username: error: ${env:EMPTY} expands to "
            "an empty value",
            "0.yaml:8:22: trunks.acme.auth.password: warning: a secret shorter than 4 "
            "characters cannot be masked in output",
            "0.yaml:8:22: trunks.acme.auth.password: warning: secret written in the YAML (it "
            "ends up in Git); use ${env:NAME} or ${file:path}",
        ],
        id="secrets",
    ),
    pytest.param(
        "trunks:\n  acme: {templates: [global]}\n"
        "policy:\n  ignore: {trunks/acme: [label], trunks/gone: [label]}\n",
        [
            "0.yaml:5:34: policy.ignore.trunks/gone: warning: trunks/gone is not declared in "
            "this stack: this ignore rule has no effect",
        ],
        id="policy-ignore",
    ),
    pytest.param(
        "trunks:\n  acme:\n    templates: [global]\n    endpoint: {nonsense_option: 1}\n"
        "    label: [not, a, string]\n",
        ["0.yaml:6:5: trunks.acme.label: error: expected a string, got a list"],
        id="schema-invalid-declarations-are-not-linted",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_check_stack(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert lint(tmp_path, text) == [e.replace("{dir}", str(tmp_path)) for e in expected]


def test_duplicate_patterns_across_files(tmp_path: Path) -> None:
    found = lint(
        tmp_path,
        "outcalls:\n  a:\n    patterns: [{exten: _0X}, {exten: _1X, context: Outcalls}]\n",
        "outcalls:\n  b:\n    patterns: [{exten: _1X, context: Outcalls}, {exten: _0X}]\n",
    )
    assert found == [
        "1.yaml:4:24: outcalls.b.patterns[0].exten: error: extension '_1X' in context "
        f"'Outcalls' is already a pattern of outcall 'a' at {tmp_path}/0.yaml:4:30; confd "
        "allows one",
        "1.yaml:4:57: outcalls.b.patterns[1].exten: error: extension '_0X' in the tenant's "
        f"outcall context is already a pattern of outcall 'a' at {tmp_path}/0.yaml:4:16; "
        "confd allows one",
    ]


def test_a_server_pjsip_doc_replaces_the_shipped_table(tmp_path: Path) -> None:
    text = "trunks:\n  acme:\n    templates: [global]\n    endpoint: {brand_new_option: yes}\n"
    assert len(lint(tmp_path, text, severity="error")) == 1
    body = {section: dict(options) for section, options in load_pjsip_doc().sections.items()}
    body["endpoint"]["brand_new_option"] = {"default": "no", "choices": []}
    options = LintOptions(pjsip_doc=PjsipDoc.from_confd(body), env=ENV)
    assert lint(tmp_path, text, options=options, severity="error") == []


def test_stack_checks_wait_for_every_file_but_document_checks_do_not(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("version: 1\noutcalls: {o: {trunks: [x]}}\n")
    (tmp_path / "b.yaml").write_text(
        "version: 1\ntrunks:\n  acme:\n    endpoint: {type: friend}\n    templates: [global]\n"
    )
    (tmp_path / "c.yaml").write_text("version: [\n")
    stack, _ = read_stack(tmp_path)
    found = check_stack(stack, options=LintOptions(env=ENV))
    assert [(p.path, p.message) for p in found] == [
        ("trunks.acme.endpoint.type", "'type' cannot be set: confd generates it")
    ]


def test_check_stack_collects_secret_values(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file-1\n")
    (tmp_path / "s.yaml").write_text(
        "version: 1\ntrunks:\n  acme:\n    templates: [global]\n"
        "    outbound_auth: {password: '${env:ACME_PASSWORD}', username: u}\n"
        "    auth: {password: '${file:pw}'}\n"
        "  hq: {type: iax, options: {secret: iax-literal}}\n"
    )
    stack, _ = read_stack(tmp_path)
    secrets = SecretRegistry()
    check_stack(stack, options=LintOptions(env=ENV), secrets=secrets)
    assert {v for v in ("acme-s3cret", "from-file-1", "iax-literal") if v in secrets} == {
        "acme-s3cret",
        "from-file-1",
        "iax-literal",
    }


@pytest.mark.parametrize(
    ("section", "pairs"),
    [
        (
            {"a": 1, "b": [2, 3]},
            [("a", 1, ("a",), ("a",)), ("b", 2, ("b",), ("b", 0)), ("b", 3, ("b",), ("b", 1))],
        ),
        ([["a", 1], ["a", 2]], [("a", 1, (0, 0), (0, 1)), ("a", 2, (1, 0), (1, 1))]),
        (None, []),
    ],
)
def test_options_of(section: object, pairs: list[tuple[object, ...]]) -> None:
    assert [tuple(option) for option in options_of(section)] == pairs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_check_stack_never_raises_on_mutated_documents(document: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "s.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        stack, _ = read_stack(path)
        for problem in check_stack(stack, options=LintOptions(env=ENV)):
            assert problem.location.file == str(path)
            assert problem.severity in ("error", "warning", "info")
