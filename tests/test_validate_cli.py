from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wazo_reconcile.cli import main
from wazo_reconcile.secrets import MASK

INVALID = Path(__file__).resolve().parent / "fixtures" / "invalid"
CASES = sorted(p.name for p in INVALID.iterdir() if p.is_dir())


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def no_fixture_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RECONCILE_FIXTURE_UNSET", "RECONCILE_FIXTURE_USER", "RECONCILE_FIXTURE_HOST"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_fixture_env")
@pytest.mark.parametrize("case", CASES)
def test_validate_invalid_fixture(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(INVALID)
    args_file = INVALID / case / "args"
    args = args_file.read_text().split() if args_file.exists() else []
    code = main(["validate", *args, case])
    out, err = capsys.readouterr()
    expected = (INVALID / case / "expected.txt").read_text(encoding="utf-8")
    assert err == expected
    assert code == 1
    assert "Traceback" not in out + err
    errors = sum(1 for line in err.splitlines() if ": warning: " not in line)
    assert out.startswith(f"{case}: {errors} error")


def test_every_invalid_fixture_has_an_expectation() -> None:
    assert len(CASES) >= 25
    for case in CASES:
        assert (INVALID / case / "expected.txt").read_text(encoding="utf-8").strip(), case


def test_validate_summary_and_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "s.yaml", "version: 1\ntrunks:\n  acme: {templates: [global, carrier]}\n")
    assert main(["validate", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{tmp_path}: 0 errors, 1 warning (1 resource)\n"
    assert err == (
        f"{tmp_path}/s.yaml:3:30: trunks.acme.templates[1]: warning: SIP template 'carrier' is "
        "not declared in this stack; it must exist on the PBX\n"
    )


def test_validate_strict_turns_warnings_into_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "s.yaml", "version: 1\ntrunks:\n  acme: {templates: [global, carrier]}\n")
    assert main(["validate", "--strict", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{tmp_path}: 1 error, 0 warnings (1 resource)\n"
    assert ": warning: " not in err and "SIP template 'carrier'" in err


def test_validate_several_stacks_each_summarised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "good.yaml", "version: 1\ntrunks:\n  a: {templates: [global]}\n")
    bad = write(tmp_path, "bad.yaml", "version: 2\n")
    assert main(["validate", str(good), str(bad), str(tmp_path / "missing")]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{good}: 0 errors, 0 warnings (1 resource)",
        f"{bad}: 1 error, 0 warnings (0 resources)",
        f"{tmp_path / 'missing'}: 1 error, 0 warnings (0 resources)",
    ]
    assert f"{tmp_path / 'missing'}:1:1: $: cannot read file: No such file or directory" in err


def test_validate_notes_only_with_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path,
        "s.yaml",
        "version: 1\ntrunks:\n  acme:\n    templates: [global]\n"
        "outcalls:\n  o:\n    trunks: [acme]\n    patterns: [{exten: _0X., prefix: '9'}]\n",
    )
    assert main(["validate", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""
    assert main(["validate", "-v", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "outcalls.o.patterns[0].prefix: info: prefix 9 is stored" in err


def test_validate_warns_of_a_password_written_in_the_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path,
        "s.yaml",
        "version: 1\ntrunks:\n  acme:\n    templates: [global]\n    auth: {password: s3cret-pw}\n",
    )
    assert main(["validate", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "s.yaml:5:22: trunks.acme.auth.password: warning: secret written in the YAML" in err
    assert "s3cret-pw" not in err
    assert main(["validate", "--strict", str(tmp_path)]) == 1


def test_validate_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "s.yaml", "version: 1\ntrunks:\n  acme:\n    regstration: {}\n")
    assert main(["validate", "--format", "json", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    report = json.loads(out)
    assert report == {
        "format_version": 1,
        "valid": False,
        "stacks": [
            {
                "path": str(tmp_path),
                "valid": False,
                "resources": 1,
                "errors": 1,
                "warnings": 0,
                "problems": [
                    {
                        "file": str(tmp_path / "s.yaml"),
                        "line": 4,
                        "col": 5,
                        "path": "trunks.acme.regstration",
                        "severity": "error",
                        "message": "unknown key 'regstration'; did you mean 'registration'?",
                    }
                ],
            }
        ],
    }


def test_validate_with_a_pjsip_doc_from_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = write(
        tmp_path,
        "s.yaml",
        "version: 1\ntrunks:\n  a:\n    templates: [global]\n    aor: {contact: x}\n",
    )
    doc = write(tmp_path, "doc.json", json.dumps({"aor": {"max_contacts": {"default": "1"}}}))
    assert main(["validate", "--pjsip-doc", str(doc), str(stack)]) == 1
    assert "unknown PJSIP aor option 'contact'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--pjsip-doc {doc}: No such file or directory"),
        ("{not json", "--pjsip-doc {doc}: not a JSON file"),
        ('{"aor": ["contact"]}', "--pjsip-doc {doc}: expected the body of GET /asterisk/pjsip/doc"),
    ],
)
def test_validate_bad_pjsip_doc_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    doc = tmp_path / "doc.json"
    if content is not None:
        doc.write_text(content, encoding="utf-8")
    stack = write(tmp_path, "s.yaml", "version: 1\n")
    assert main(["validate", "--pjsip-doc", str(doc), str(stack)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: " + message.format(doc=doc))


@pytest.mark.parametrize(
    "argv", [["validate", "--format", "yaml", "x"], ["validate", "--nope", "x"]]
)
def test_validate_usage_errors_exit_1(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 1
    assert "usage: reconcile" in capsys.readouterr().err


def test_validate_needs_a_stack_or_pbxs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 1
    assert "give the stack PATHs (or, with an inventory, --pbx NAME or --all)" in (
        capsys.readouterr().err
    )


def test_validate_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["validate", "--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    for text in (
        "--strict",
        "--pjsip-doc FILE",
        "--format {text,json}",
        "examples:",
        "exit status",
    ):
        assert text in out


SECRETS = {
    "env": "EnvSecret-9f3a",
    "file": "FileSecret-77c1",
    "yaml": "YamlSecret-5d2e",
    "pair": "PairSecret-0b44",
    "iax": "IaxSecret-c0de",
}


def test_validate_never_prints_a_secret_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROVIDER_PASSWORD", SECRETS["env"])
    write(tmp_path, "secrets/provider", SECRETS["file"] + "\n")
    write(
        tmp_path,
        "stack.yaml",
        "version: 1\n"
        "transports:\n"
        "  tls:\n"
        "    protocol: tls\n"
        f"    password: 'x {SECRETS['env']}'\n"  # a secret in a refused value
        "    cert_file: ${env:PROVIDER_PASSWORD}@bad\n"
        "trunks:\n"
        "  acme:\n"
        "    templates: [global]\n"
        "    outbound_auth:\n"
        "      password: ${env:PROVIDER_PASSWORD}\n"
        "      username: ${file:secrets/provider}\n"
        "    auth:\n"
        f"      password: {SECRETS['yaml']}\n"
        "    registration_outbound_auth:\n"
        f"      - [password, {SECRETS['pair']}]\n"
        "      - [passwrd, x]\n"
        "    endpoint:\n"
        f"      from_user: 'u-${{file:secrets/provider}}'\n"
        f"      caller: {SECRETS['yaml']}\n"
        "    identify: {match_header: '${env:MISSING_FOR_TEST}'}\n"
        "  hq:\n"
        "    type: iax\n"
        f"    options: {{secret: {SECRETS['iax']}, context: x}}\n"
        "outcalls:\n"
        "  o:\n"
        f"    patterns: [{{exten: '{SECRETS['yaml']}', caller_id: '{SECRETS['file']}'}}]\n",
    )
    (tmp_path / "broken.yaml").write_text(f"version: 1\npassword: {SECRETS['yaml']}\n  x: [\n")
    outputs = []
    for args in ([], ["-v"], ["--strict"], ["--format", "json"]):
        for target in (tmp_path / "stack.yaml", tmp_path):
            code = main(["validate", *args, str(target)])
            out, err = capsys.readouterr()
            assert code == 1 and "Traceback" not in err
            outputs.append(out + err)
    text = "\n".join(outputs)
    assert MASK in text  # the safety net was needed: messages quote the values
    for value in SECRETS.values():
        assert value not in text
    assert "MISSING_FOR_TEST is not set" in text


def test_validate_runs_as_a_module_without_traceback(tmp_path: Path) -> None:
    write(
        tmp_path, "s.yaml", "version: 1\ntrunks: {a: {type: sip, endpoint: {x: !!binary aGk=}}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "wazo_reconcile", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "unsupported YAML tag 'tag:yaml.org,2002:binary'" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_resolve_secrets_checks_syntax_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    stack = tmp_path / "s.yaml"
    stack.write_text(
        "version: 1\n"
        "trunks:\n"
        "  a: {outbound_auth: {username: u, password: '${env:NOT_SET_ANYWHERE}'}}\n"
        "  b: {outbound_auth: {username: u, password: '${env:9BAD}'}}\n"
    )
    assert main(["validate", "--no-resolve-secrets", str(stack)]) == 1
    err = capsys.readouterr().err
    assert "${env:9BAD}: not a valid environment variable name" in err
    assert "NOT_SET_ANYWHERE" not in err
    stack.write_text(
        "version: 1\n"
        "trunks:\n"
        "  a: {outbound_auth: {username: u, password: '${env:NOT_SET_ANYWHERE}'}}\n"
    )
    assert main(["validate", "--no-resolve-secrets", str(stack)]) == 0
    assert main(["validate", str(stack)]) == 1


@pytest.mark.parametrize("value", ["5", "true", "1.5", "[[x]]", "[{a: 1}]", "abc", "{a: 1}"])
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_template_list_of_the_wrong_type_is_a_problem_not_a_crash(
    value: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The global-inheritance check walks only templates that passed the schema."""
    stack = write(
        tmp_path,
        "c.yaml",
        f"version: 1\nsip_templates:\n  base:\n    templates: {value}\n"
        "trunks:\n  t:\n    templates: [base]\n",
    )
    args = ["--sandbox"] if command == "plan" else []
    assert main([command, *args, str(stack)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "sip_templates.base.templates" in err
