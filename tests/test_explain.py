"""`reconcile explain caller-id`: the guide's precedence through the CLI, every example's outcalls
explained from the YAML and from the sandbox after apply, errors as clear messages.

Expectations are computed here from the guide's rules and the YAML, never by callerid.py:
1. internal_caller_id: the caller's own caller ID; 2. the user's outgoing_caller_id
(`anonymous` withholds it, `default` or unset falls through); 3. the pattern's caller_id;
4. the caller's own caller ID. The number sent is the dialed number without its first
strip_digits digits, after external_prefix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from support import (
    EXAMPLE_NAMES,
    EXAMPLES,
    SECRETS,
    apply,
    client_for,
    plan,
    run_cli,
    served_sandbox,
)
from wazo_reconcile.cli import main
from wazo_reconcile.commands import explain as explain_command
from wazo_reconcile.sandbox import Sandbox
from wazo_reconcile.stack import load_stack
from wazo_reconcile.tenants import with_tenants

MASTER = "11111111-1111-4111-8111-111111111111"
SUB = "22222222-2222-4222-8222-222222222222"
OWN = "the caller's own caller ID"
OWN_NUMBER = "the caller's own number"
ANONYMOUS = "anonymous (presentation withheld)"
# The fresh sandbox's users (docs/architecture.md), first name and last name by email.
FRESH_USERS = {
    MASTER: {
        "alice@example.com": "Alice Anderson",
        "bob@example.com": "Bob Brown",
        "carol@example.com": "Carol Clark",
    },
    SUB: {"dave@sub.example.com": "Dave Davis"},
}


def explain_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main(["explain", "caller-id", *args, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return dict(json.loads(out))


def write_stack(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text("version: 1\n" + text, encoding="utf-8")
    return path


# ----------------------------------------------------- the guide's precedence, offline

ROUTES = """\
trunks:
  acme: {templates: [global]}
outcalls:
  national:
    trunks: [acme]
    patterns:
      - {exten: _0XXXXXXXXX, caller_id: '"ACME" <5551234>', strip_digits: 1, external_prefix: '+33'}
      - {exten: _00X., strip_digits: 2, external_prefix: '+'}
      - {exten: _08XXXXXXXX, caller_id: '"ACME"'}
  partner:
    trunks: [acme]
    internal_caller_id: true
    patterns:
      - {exten: _6XXXX, caller_id: '"ACME" <5551234>'}
  mobiles:
    trunks: [acme]
    patterns:
      - {exten: _06XXXXXXXX, caller_id: '"ACME mobiles" <5559999>'}
users:
  override@example.com: {outgoing_caller_id: '"Bob" <5550001>'}
  anon@example.com: {outgoing_caller_id: anonymous}
  deflt@example.com: {outgoing_caller_id: default}
  nameonly@example.com: {outgoing_caller_id: '"Bob"'}
  bare@example.com: {outgoing_caller_id: '5550002'}
  unset@example.com: {}
"""

# (user, outcall, number) -> (source, caller_id, pattern, dialed)
N, D = "_0XXXXXXXXX", "+33123456789"  # 0123456789 through national
E, E8 = "_08XXXXXXXX", "0812345678"
PRECEDENCE = [
    # 1. internal_caller_id wins over everything, anonymous included
    ("override@example.com", "partner", "61234", "internal_caller_id", OWN, "_6XXXX", "61234"),
    ("anon@example.com", "partner", "61234", "internal_caller_id", OWN, "_6XXXX", "61234"),
    ("deflt@example.com", "partner", "61234", "internal_caller_id", OWN, "_6XXXX", "61234"),
    # 2. the user's outgoing_caller_id over the pattern's
    ("override@example.com", "national", "0123456789", "user", '"Bob" <5550001>', N, D),
    ("anon@example.com", "national", "0123456789", "user", ANONYMOUS, N, D),
    ("bare@example.com", "national", "0123456789", "user", '"5550002" <5550002>', N, D),
    # a user value without a number part: the name, with the caller's own number
    ("nameonly@example.com", "national", "0123456789", "user", f'"Bob" <{OWN_NUMBER}>', N, D),
    # 3. `default` (or nothing declared) falls through to the pattern
    ("deflt@example.com", "national", "0123456789", "pattern", '"ACME" <5551234>', N, D),
    ("unset@example.com", "national", "0123456789", "pattern", '"ACME" <5551234>', N, D),
    # a pattern caller ID without a number part keeps the caller's own number
    ("deflt@example.com", "national", "0812345678", "pattern", f'"ACME" <{OWN_NUMBER}>', E, E8),
    # 4. no pattern caller ID: the default
    ("deflt@example.com", "national", "0044201234", "default", OWN, "_00X.", "+44201234"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("user", "outcall", "number", "source", "caller_id", "pattern", "dialed"), PRECEDENCE
)
def test_precedence_offline(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    user: str,
    outcall: str,
    number: str,
    source: str,
    caller_id: str,
    pattern: str,
    dialed: str,
) -> None:
    path = write_stack(tmp_path, ROUTES)
    args = ["--user", user, "--outcall", outcall, "--exten", number, str(path), "--offline"]
    data = explain_json(capsys, *args)
    assert (data["source"], data["caller_id"]) == (source, caller_id)
    assert (data["pattern"], data["dialed"]) == (pattern, dialed)
    assert data["trunks"] == ["acme"]
    assert data["routed"] is True and data["state"] == "stack"
    assert [step["source"] for step in data["chain"]] == [
        "internal_caller_id",
        "user",
        "pattern",
        "default",
    ]
    assert [step["applied"] for step in data["chain"]].count(True) == 1


def test_the_chain_says_what_each_lower_rule_would_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_stack(tmp_path, ROUTES)
    data = explain_json(
        capsys,
        *("--user", "override@example.com", "--outcall", "national", "--exten", "0123456789"),
        *(str(path), "--offline"),
    )
    assert [(s["source"], s["applied"], s["gives"]) for s in data["chain"]] == [
        ("internal_caller_id", False, None),
        ("user", True, '"Bob" <5550001>'),
        ("pattern", False, '"ACME" <5551234>'),
        ("default", False, OWN),
    ]
    assert data["dialed"] == "+33123456789"
    assert set(data) == {
        *("caller_id", "source", "pattern", "dialed", "trunks", "chain", "notes"),
        *("outcall", "user", "number", "context", "routed", "state"),
    }


# --------------------------------------------------------------- pattern corner cases

CORNERS = """\
trunks:
  acme: {templates: [global]}
outcalls:
  a:
    trunks: [acme]
    patterns:
      - {exten: '_1!', caller_id: '"bang" <1>'}
      - {exten: '_1', caller_id: '"one" <2>'}
      - {exten: '_2[1-35]X.', caller_id: '"class" <3>'}
      - {exten: '300', caller_id: '"literal" <4>'}
      - {exten: '_4-XX', caller_id: '"dash" <5>', strip_digits: 5}
      - {exten: '_+33ZN', caller_id: '"plus" <6>'}
  b:
    trunks: [acme]
    patterns:
      - {exten: '_23XX', caller_id: '"more specific" <7>'}
users:
  u@example.com: {outgoing_caller_id: default}
"""


@pytest.mark.parametrize(
    ("outcall", "number", "routed", "pattern", "caller_id", "dialed"),
    [
        ("a", "1", True, "_1!", '"bang" <1>', "1"),  # `!` sorts before the end: _1 never wins
        ("a", "1234", True, "_1!", '"bang" <1>', "1234"),
        ("a", "21999", True, "_2[1-35]X.", '"class" <3>', "21999"),
        ("a", "2399", False, "_2[1-35]X.", None, None),  # _23XX of outcall b takes it
        ("b", "2399", True, "_23XX", '"more specific" <7>', "2399"),
        ("a", "2699", False, None, None, None),  # 6 is not in [1-35]
        ("a", "300", True, "300", '"literal" <4>', "300"),  # no `_`: a literal extension
        ("a", "3001", False, None, None, None),  # matches only its own text
        ("a", "455", True, "_4-XX", '"dash" <5>', ""),  # `-` is decoration; strip all
        ("a", "+3329", True, "_+33ZN", '"plus" <6>', "+3329"),
        ("a", "+3301", False, None, None, None),  # Z is 1-9, N is 2-9
    ],
)
def test_pattern_corner_cases(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    outcall: str,
    number: str,
    routed: bool,
    pattern: str | None,
    caller_id: str | None,
    dialed: str | None,
) -> None:
    path = write_stack(tmp_path, CORNERS)
    args = ["--user", "u@example.com", "--outcall", outcall, "--exten", number]
    data = explain_json(capsys, *args, str(path), "--offline")
    assert data["routed"] is routed
    assert data["pattern"] == pattern
    assert data["caller_id"] == caller_id
    if routed:
        assert data["source"] == "pattern" and data["dialed"] == dialed
    else:
        assert data["source"] is None and data["notes"]


def test_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_stack(tmp_path, ROUTES)
    args = ["--user", "anon@example.com", "--outcall", "national", "--exten", "0123456789"]
    assert main(["explain", "caller-id", *args, str(path), "--offline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:5] == [
        "Caller ID for 0123456789 through outcall national, user anon@example.com",
        "  pattern:   _0XXXXXXXXX",
        "  dialed:    +33123456789",
        "  trunks:    acme",
        f"  caller ID: {ANONYMOUS}  (source: user)",
    ]
    assert "    2. user = anonymous -> " + ANONYMOUS + "  [APPLIES]" in "\n".join(lines)
    assert lines[-1] == f"  from:      {path} alone (--offline)"


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--user", "nobody@example.com", "--outcall", "national", "--exten", "0612345678"],
            "user 'nobody@example.com' is not declared in",
        ),
        (
            ["--user", "deflt@example.com", "--outcall", "nope", "--exten", "0612345678"],
            "no outcall named 'nope' in",
        ),
        (
            ["--user", "deflt@example.com", "--outcall", "national", "--exten", "06 12"],
            "--exten '06 12': a dialed number holds digits, *, # and +",
        ),
        (
            ["--user", "deflt@example.com", "--outcall", "national", "--exten", ""],
            "a dialed number holds digits",
        ),
    ],
)
def test_bad_input_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = write_stack(tmp_path, ROUTES)
    assert main(["explain", "caller-id", *args, str(path), "--offline"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and message in err and "Traceback" not in err


def test_offline_needs_a_stack(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--user", "u", "--outcall", "o", "--exten", "1", "--offline"]
    assert main(["explain", "caller-id", *args]) == 1
    assert "--offline reads the stack alone: give PATH (or --pbx) too" in capsys.readouterr().err


def test_a_stack_without_a_pbx_suggests_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WAZO_URL", raising=False)
    path = write_stack(tmp_path, ROUTES)
    args = ["--user", "deflt@example.com", "--outcall", "national", "--exten", "0612345678"]
    assert main(["explain", "caller-id", *args, str(path)]) == 1
    assert "add --offline to explain from the YAML alone" in capsys.readouterr().err


def test_an_unreachable_pbx_suggests_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_stack(tmp_path, ROUTES)
    args = ["--user", "deflt@example.com", "--outcall", "national", "--exten", "0612345678"]
    unreachable = ["--url", "https://127.0.0.1:9", "--token", "t", "--retries", "0"]
    assert main(["explain", "caller-id", *args, str(path), *unreachable]) == 1
    err = capsys.readouterr().err
    assert "no response" in err and "add --offline" in err and "Traceback" not in err


def test_an_invalid_stack_is_reported_not_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_stack(tmp_path, "outcalls:\n  o: {patterns: [{exten: _0X, caller_id: <1>}]}\n")
    args = ["--user", "u@example.com", "--outcall", "o", "--exten", "01"]
    assert main(["explain", "caller-id", *args, str(path), "--offline"]) == 1
    assert "has no name" in capsys.readouterr().err


def test_offline_does_not_need_the_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CID_PROVIDER_PASSWORD", raising=False)
    args = ["--user", "bob@example.com", "--outcall", "public-network", "--exten", "0612345678"]
    data = explain_json(capsys, *args, str(EXAMPLES / "caller-id-policy"), "--offline")
    assert (data["source"], data["caller_id"]) == ("user", ANONYMOUS)


def test_live_users_of_another_tenant_cannot_use_the_route(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    args = ["--user", "dave@sub.example.com", "--outcall", "master-national", "--exten", "01"]
    stack = str(EXAMPLES / "multi-tenant")
    assert main(["explain", "caller-id", *args, stack, "--sandbox"]) == 1
    assert "cannot call through outcall master-national" in capsys.readouterr().err


# ---------------------------------------------- every example, from YAML and after apply


def sample_number(exten: str) -> str:
    """A number the extension matches (the examples use digits, X, Z, N, `.` and `!`)."""
    body = exten[1:] if exten.startswith("_") else exten
    return "".join({"X": "5", "Z": "5", "N": "5", ".": "55", "!": ""}.get(c, c) for c in body)


def as_regex(exten: str) -> re.Pattern[str]:
    """The examples' extensions as regular expressions, to check the samples independently."""
    if not exten.startswith("_"):
        return re.compile(re.escape(exten))
    parts = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}
    return re.compile("".join(parts.get(c, re.escape(c)) for c in exten[1:]))


@dataclass(frozen=True)
class Case:
    outcall: str
    number: str
    user: str
    pattern: str
    dialed: str
    trunks: list[str]
    # (source, caller ID) for the YAML, with the caller's own caller ID as a placeholder
    source: str
    caller_id: str | None  # None: the caller's own caller ID


def expected(outcall: dict[str, Any], pattern: dict[str, Any], value: Any) -> tuple[str, Any]:
    if outcall.get("internal_caller_id") is True:
        return "internal_caller_id", None
    if value == "anonymous":
        return "user", ANONYMOUS
    if isinstance(value, str) and value != "default":
        return "user", value
    if pattern.get("caller_id"):
        return "pattern", pattern["caller_id"]
    return "default", None


# The examples name the fresh profile's tenants by slug.
SLUGS = {"master": MASTER, "sub": SUB}


def example_cases(name: str) -> Iterator[Case]:
    stack = load_stack(EXAMPLES / name)
    stack, _ = with_tenants(
        stack,
        {d.ordinal: SLUGS.get(d.tenant, d.tenant) for d in stack.documents if d.tenant},
    )
    declared = {
        d.name: (d.tenant or MASTER, (d.data or {}).get("outgoing_caller_id"))
        for d in stack.declarations("users")
    }
    contexts: dict[tuple[str, str], list[str]] = {}
    for decl in stack.declarations("outcalls"):
        for p in decl.data.get("patterns") or []:
            key = (decl.tenant or MASTER, str(p.get("context") or ""))
            contexts.setdefault(key, []).append(str(p["exten"]))
    for decl in stack.declarations("outcalls"):
        tenant = decl.tenant or MASTER
        undeclared = [u for u in FRESH_USERS[tenant] if u not in declared][:1]
        users = [u for u, (t, _) in declared.items() if t == tenant] + undeclared
        for p in decl.data.get("patterns") or []:
            exten = str(p["exten"])
            number = sample_number(exten)
            rivals = contexts[(tenant, str(p.get("context") or ""))]
            matching = [e for e in rivals if as_regex(e).fullmatch(number)]
            assert matching == [exten], f"{name}: {number} is not only {exten}'s: {matching}"
            strip = int(p.get("strip_digits") or 0)
            dialed = str(p.get("external_prefix") or "") + number[strip:]
            for user in users:
                value = declared.get(user, (tenant, None))[1]
                source, caller_id = expected(decl.data, p, value)
                yield Case(
                    decl.name, number, user, exten, dialed, list(decl.data["trunks"]), source,
                    caller_id,
                )  # fmt: skip


def own_of(user: str) -> str:
    names = {u: n for users in FRESH_USERS.values() for u, n in users.items()}
    return f'"{names[user]}" <{OWN_NUMBER}>'


def check(data: dict[str, Any], case: Case, *, own: str) -> None:
    where = f"{case.user} dialing {case.number} through {case.outcall}"
    assert data["routed"] is True, where
    assert data["pattern"] == case.pattern, where
    assert data["dialed"] == case.dialed, where
    assert data["trunks"] == case.trunks, where
    assert data["source"] == case.source, where
    assert data["caller_id"] == (case.caller_id or own), where


def case_args(case: Case) -> list[str]:
    return ["--user", case.user, "--outcall", case.outcall, "--exten", case.number]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_outcall_is_explained(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    cases = list(example_cases(name))
    assert cases, f"{name}: no outcall to explain"
    path = str(EXAMPLES / name)
    # From the YAML, as apply would leave a fresh PBX (undeclared users come from the PBX).
    for case in cases:
        data = explain_json(capsys, *case_args(case), path, "--sandbox")
        assert data["state"] == "desired"
        check(data, case, own=own_of(case.user))
    # From the YAML alone: the declared users.
    declared = {d.name for d in load_stack(EXAMPLES / name).declarations("users")}
    for case in (c for c in cases if c.user in declared):
        data = explain_json(capsys, *case_args(case), path, "--offline")
        check(data, case, own=OWN)
    # From the live sandbox after apply: a custom trunk has no name there but its interface.
    interfaces = {
        d.name: d.data["interface"]
        for d in load_stack(EXAMPLES / name).declarations("trunks")
        if d.data.get("type") == "custom"
    }
    sandbox = Sandbox(profile="fresh")
    _, report = apply(load_stack(EXAMPLES / name), client_for(sandbox))
    assert report.ok
    assert plan(load_stack(EXAMPLES / name), client_for(sandbox)).is_empty
    monkeypatch.setattr(explain_command, "open_client", lambda settings: client_for(sandbox))
    for case in cases:
        data = explain_json(capsys, *case_args(case), "--url", "https://pbx.test", "--token", "t")
        assert data["state"] == "live"
        live_trunks = [interfaces.get(t, t) for t in case.trunks]
        check(data, replace(case, trunks=live_trunks), own=own_of(case.user))


def test_every_example_has_its_outcalls_covered() -> None:
    for name in EXAMPLE_NAMES:
        stack = load_stack(EXAMPLES / name)
        explained = {(c.outcall, c.pattern) for c in example_cases(name)}
        declared = {
            (d.name, str(p["exten"]))
            for d in stack.declarations("outcalls")
            for p in d.data.get("patterns") or []
        }
        assert explained == declared, name


def test_through_the_cli_on_loopback() -> None:
    path = str(EXAMPLES / "caller-id-policy")
    with served_sandbox() as url:
        conn = ["--url", url, "--token", "example-token"]
        assert run_cli("apply", path, *conn, "--auto-approve").returncode == 0
        args = ["--user", "alice", "--outcall", "public-network", "--exten", "0612345678"]
        result = run_cli("explain", "caller-id", *args, *conn, "--format", "json")
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert (data["source"], data["caller_id"]) == ("user", '"Alice Martin" <+33123456701>')
        assert (data["pattern"], data["dialed"]) == ("_0XXXXXXXXX", "+33612345678")
        text = run_cli("explain", "caller-id", *args, *conn)
        assert text.returncode == 0 and "(source: user)" in text.stdout
        for output in (result.stdout, result.stderr, text.stdout, text.stderr):
            assert not any(secret in output for secret in SECRETS.values())


def test_routes_of_another_tenant_do_not_compete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub.yaml").write_text(
        f"version: 1\ntenant: {SUB}\n" + "trunks:\n  sub: {templates: [global]}\n"
        "outcalls:\n  sub-route:\n    trunks: [sub]\n    patterns: [{exten: '_01X'}]\n",
        encoding="utf-8",
    )
    (tmp_path / "master.yaml").write_text(
        "version: 1\n" + ROUTES.replace("_00X.", "_0X."), encoding="utf-8"
    )
    args = ["--user", "deflt@example.com", "--outcall", "national", "--exten", "011"]
    data = explain_json(capsys, *args, str(tmp_path), "--offline")
    assert (data["routed"], data["pattern"]) == (True, "_0X.")
