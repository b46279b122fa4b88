"""No secret value anywhere: every command, every format, -v and -vv, failures too (issue 8).

The stack holds secrets in the three ways a user can write them: `${env:…}`, `${file:…}` and
a literal password in the YAML. The connection's own secrets are a token (`--token`) and a
password (`--username/--password`, or WAZO_PASSWORD), against a sandbox on 127.0.0.1 that
only accepts the tokens it issued; every token it issues is recorded and scanned for too, and
so is a password set on the PBX by hand (which only the renderers' masking can hide: the CLI
never learnt it). validate, plan (--out), apply (--report), drift, export (to a directory and
to stdout, without --include-secrets) and explain run as subprocesses in every format they
have, with -v and with -vv; then commands fail on purpose: an API error that echoes a secret,
bad input quoting one, a wrong token, a wrong password. stdout, stderr and every file written
are scanned.

tests/test_validate_cli.py, tests/test_pipeline.py and tests/test_cli_e2e.py check parts of this
(validate alone, renderings in-process, one CLI cycle); this is the whole matrix.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from gen_stack import generate_stack  # noqa: E402
from support import SECRETS, run_cli
from wazo_reconcile.confd import RetryPolicy, connect
from wazo_reconcile.sandbox import FaultConfig, FaultRule, Sandbox
from wazo_reconcile.secrets import MASK
from wazo_reconcile.settings import ConnectionSettings

LITERAL = "Literal-Yaml-Secret-4c1e"  # written in the YAML as is
FILED = "File-Secret-8d2a"  # in a file, referenced with ${file:…}
PASSWORD = "Conn-Password-Secret-5b7d"  # the connection's --password
WRONG_TOKEN = "Wrong-Token-Secret-0a9f"
WRONG_PASSWORD = "Wrong-Password-Secret-2e6c"
HAND_SET = "HandSet-Secret-7f31"  # set on the PBX by hand: unknown to the CLI
FORMATS = ("text", "json", "markdown")
VERBOSITY = ("-v", "-vv")

STACK = f"""\
version: 1
sip_templates:
  carrier-base:
    templates: [global]
    outbound_auth: {{username: base, password: {LITERAL}}}
trunks:
  env-trunk:
    templates: [carrier-base]
    outbound_auth: {{username: u1, password: "${{env:ACME_PASSWORD}}"}}
    registration: {{client_uri: "sip:u1@sip.example.com", server_uri: "sip:sip.example.com"}}
    registration_outbound_auth: {{username: u1, password: "${{file:secrets/filed}}"}}
  file-trunk:
    templates: [global]
    auth: {{username: u2, password: "${{file:secrets/filed}}"}}
  literal-trunk:
    templates: [global]
    auth: [[username, u3], [password, {LITERAL}]]
  hq:
    type: iax
    host: hq.example.net
    options: {{secret: "${{env:HQ_IAX_SECRET}}", auth: md5}}
outcalls:
  out:
    trunks: [env-trunk, hq]
    patterns: [{{exten: _0XXXXXXXXX, caller_id: '"Out" <5550100>'}}]
users:
  alice@example.com: {{outgoing_caller_id: default}}
"""
# A 500 whose message echoes the value sent (confd's database error), and bad input.
API_ERROR_STACK = """\
version: 1
trunks:
  broken:
    type: iax
    host: broken.example.net
    options: {port: "${env:ACME_PASSWORD}", secret: "${env:HQ_IAX_SECRET}"}
"""
BAD_INPUT_STACK = f"""\
version: 1
trunks:
  bad:
    templates: [global]
    endpoint: {{from_user: "${{env:ACME_PASSWORD}}", nonsense_option: {LITERAL}}}
    outbound_auth: {{password: "${{file:secrets/filed}}", usrname: "${{env:ACME_PASSWORD}}"}}
    aor: {{qualify_frequency: [{LITERAL}]}}
"""


class PBX:
    """A strict sandbox on 127.0.0.1 that remembers every token it issues."""

    def __init__(self, sandbox: Sandbox, url: str) -> None:
        self.sandbox, self.url = sandbox, url
        self.tokens: list[str] = []
        issue = sandbox.tokens.issue

        def recording(*args: Any, **kwargs: Any) -> Any:
            token = issue(*args, **kwargs)
            self.tokens.append(token.token)
            return token

        sandbox.tokens.issue = recording  # type: ignore[method-assign]

    def by_token(self) -> list[str]:
        return ["--url", self.url, "--token", self.sandbox.issue_token()]

    def by_password(self) -> list[str]:
        return ["--url", self.url, "--username", "admin", "--password", PASSWORD]


@pytest.fixture
def pbx() -> Iterator[PBX]:
    sandbox = Sandbox(profile="fresh", require_auth=("admin", PASSWORD))
    with sandbox.serve() as url:
        yield PBX(sandbox, url)


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    root = tmp_path / "stack"
    (root / "secrets").mkdir(parents=True)
    (root / "secrets" / "filed").write_text(FILED + "\n")
    (root / "stack.yaml").write_text(STACK)
    return root


class Scan:
    """Everything the commands wrote, scanned for every secret known."""

    def __init__(self, pbx: PBX, tmp_path: Path) -> None:
        self.pbx, self.tmp_path = pbx, tmp_path
        self.runs = 0

    def secrets(self) -> dict[str, str]:
        found = {f"env {k}": v for k, v in SECRETS.items()}
        found |= {"file": FILED, "literal": LITERAL, "--password": PASSWORD}
        found |= {"wrong token": WRONG_TOKEN, "wrong password": WRONG_PASSWORD}
        found |= {"hand-set": HAND_SET}
        found |= {f"token {i}": t for i, t in enumerate(self.pbx.tokens)}
        return found

    def run(self, *args: str, codes: tuple[int, ...], env: dict[str, str] | None = None) -> str:
        result = run_cli(*args, env=env)
        what = " ".join(a for a in args if a not in (PASSWORD,) and not a.startswith(self.pbx.url))
        assert result.returncode in codes, f"{what}: exit {result.returncode}\n{result.stderr}"
        assert "Traceback" not in result.stderr, f"{what}\n{result.stderr}"
        self.check(what, result.stdout, result.stderr)
        self.runs += 1
        return result.stdout + result.stderr

    def check(self, what: str, *texts: str) -> None:
        stack = self.tmp_path / "stack"  # the input: it holds the literal password
        written = [
            p.read_text()
            for p in self.tmp_path.rglob("*")
            if p.is_file() and stack not in p.parents
        ]
        for name, value in self.secrets().items():
            for text in (*texts, *written):
                assert value not in text, f"{what}: the {name} secret leaked"


def _apply_in_process(pbx: PBX, stack: Path) -> None:
    result = run_cli("apply", str(stack), *pbx.by_token(), "--auto-approve")
    assert result.returncode == 0, result.stderr


def _hand_set_password(pbx: PBX) -> None:
    """An admin types a new password for env-trunk in the web UI."""
    settings = ConnectionSettings(url=pbx.url, token=pbx.sandbox.issue_token())
    with connect(settings, retry=RetryPolicy.no_wait()) as client:
        (endpoint,) = client.list("/endpoints/sip", params={"name": "env-trunk"})
        options = [p for p in endpoint["outbound_auth_section_options"] if p[0] != "password"]
        client.put(
            f"/endpoints/sip/{endpoint['uuid']}",
            {"outbound_auth_section_options": [*options, ["password", HAND_SET]]},
        )


def test_plan_in_every_format_with_saved_plans(pbx: PBX, stack: Path, tmp_path: Path) -> None:
    scan = Scan(pbx, tmp_path)
    for i, (fmt, verbose) in enumerate((f, v) for f in FORMATS for v in VERBOSITY):
        conn = pbx.by_password() if i % 2 else pbx.by_token()
        out = tmp_path / f"plan-{fmt}{verbose}.json"
        text = scan.run("plan", str(stack), *conn, "--format", fmt, verbose, "--out", str(out),
                        codes=(0,))  # fmt: skip
        assert "(sensitive)" in text
        assert "INFO wazo_reconcile.confd: GET /trunks" in text
        assert out.exists()
    assert scan.runs == 6


def test_apply_in_every_format_with_reports(pbx: PBX, stack: Path, tmp_path: Path) -> None:
    scan = Scan(pbx, tmp_path)
    for i, (fmt, verbose) in enumerate((f, v) for f in FORMATS for v in VERBOSITY):
        pbx.sandbox.reset_state()  # each apply has everything to do
        conn = pbx.by_password() if i % 2 else pbx.by_token()
        report = tmp_path / f"report-{fmt}{verbose}.json"
        text = scan.run("apply", str(stack), *conn, "--auto-approve", "--format", fmt, verbose,
                        "--report", str(report), codes=(0,))  # fmt: skip
        assert "POST /endpoints/sip" in text
        if verbose == "-vv":  # request bodies are logged, their secrets masked
            assert "body:" in text and MASK in text
        assert report.exists()
    assert scan.runs == 6


def test_drift_after_a_hand_set_password(pbx: PBX, stack: Path, tmp_path: Path) -> None:
    scan = Scan(pbx, tmp_path)
    _apply_in_process(pbx, stack)
    _hand_set_password(pbx)
    for i, (fmt, verbose) in enumerate((f, v) for f in FORMATS for v in VERBOSITY):
        conn = pbx.by_password() if i % 2 else pbx.by_token()
        text = scan.run("drift", str(stack), *conn, "--format", fmt, verbose, codes=(2,))
        assert "env-trunk" in text
    assert scan.runs == 6


def test_export_to_files_and_stdout(pbx: PBX, stack: Path, tmp_path: Path) -> None:
    scan = Scan(pbx, tmp_path)
    _apply_in_process(pbx, stack)
    _hand_set_password(pbx)
    exported = []
    for i, verbose in enumerate(VERBOSITY):
        conn = pbx.by_password() if i % 2 else pbx.by_token()
        target = tmp_path / "export" / verbose
        scan.run("export", *conn, verbose, "--output", str(target), codes=(0,))
        exported += [p.read_text() for p in target.iterdir()]
        exported.append(scan.run("export", *conn, verbose, "--output", "-", codes=(0,)))
    assert any("${env:" in text for text in exported)  # secrets became references
    scan.check("exported files", *exported)
    assert scan.runs == 4
    # The control: with --include-secrets the values are there, and the scan sees them.
    clear = run_cli("export", *pbx.by_token(), "--include-secrets", "--output", "-")
    assert clear.returncode == 0 and HAND_SET in clear.stdout and LITERAL in clear.stdout
    with pytest.raises(AssertionError, match="secret leaked"):
        scan.check("export --include-secrets", clear.stdout)


def test_validate_and_explain(pbx: PBX, stack: Path, tmp_path: Path) -> None:
    scan = Scan(pbx, tmp_path)
    for fmt in ("text", "json"):
        for verbose in VERBOSITY:
            text = scan.run("validate", str(stack), "--format", fmt, verbose, codes=(0,))
            assert "literal" in text.lower()  # the lint warns about the literal passwords
            scan.run("explain", "caller-id", str(stack), *pbx.by_token(), "--user", "alice",
                     "--outcall", "out", "--exten", "0612345678", "--format", fmt, verbose,
                     codes=(0,))  # fmt: skip
    assert scan.runs == 8


def test_failures_do_not_leak_either(pbx: PBX, stack: Path, tmp_path: Path) -> None:
    scan = Scan(pbx, tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text(API_ERROR_STACK)
    report = tmp_path / "report-broken.json"
    text = scan.run("apply", str(broken), *pbx.by_password(), "--auto-approve", "-vv",
                    "--report", str(report), codes=(4,))  # fmt: skip
    assert "invalid input syntax for type integer" in text  # confd echoed the value: masked
    bad = stack / "bad.yaml"
    bad.write_text(BAD_INPUT_STACK)
    for verbose in VERBOSITY:
        scan.run("plan", str(stack), *pbx.by_token(), verbose, codes=(1,))
        scan.run("validate", str(stack), verbose, "--format", "json", codes=(1,))
    bad.unlink()
    wrong = ["--url", pbx.url, "--token", WRONG_TOKEN]
    text = scan.run("plan", str(stack), *wrong, "-vv", codes=(1,))
    assert "error:" in text and "token" in text
    wrong = ["--url", pbx.url, "--username", "admin", "--password", WRONG_PASSWORD]
    text = scan.run("apply", str(stack), *wrong, "-vv", "--auto-approve", codes=(1,))
    assert "wazo-auth refused the username/password" in text
    env = {"WAZO_URL": pbx.url, "WAZO_USERNAME": "admin", "WAZO_PASSWORD": PASSWORD}
    pbx.sandbox.configure_faults(FaultConfig(rules=(FaultRule("error", rate=1.0, status=500),)))
    text = scan.run("drift", str(stack), "-vv", "--format", "json", codes=(1,), env=env)
    assert "HTTP 500" in text
    assert scan.runs == 8


def test_a_big_stack_is_checked_all_the_same(pbx: PBX, tmp_path: Path) -> None:
    """A stack of several big files: the secrets resolved in each are masked, and the problems
    of each stop the command, located, before any request."""
    root = generate_stack(1000, tmp_path / "big")  # two trunk files of 450 KB
    (root / "30-users.yaml").unlink()  # users the sandbox does not have
    filed = (root / "bench-password").read_text().strip()
    scan = Scan(pbx, tmp_path)
    for fmt, verbose in (("json", "-v"), ("text", "-vv")):
        text = scan.run("plan", str(root), *pbx.by_token(), "--format", fmt, verbose,
                        codes=(0,))  # fmt: skip
        assert "(sensitive)" in text and filed not in text
    halves = [root / "10-trunks-000.yaml", root / "10-trunks-001.yaml"]
    for path in halves:
        path.write_text(path.read_text().replace("direct_media: no", "direct_mediaa: no", 1))
    before = pbx.sandbox.stats()["total"]
    text = scan.run("plan", str(root), *pbx.by_token(), "-v", codes=(1,))
    for path in halves:
        assert f"{path}:" in text and "direct_mediaa" in text
    assert pbx.sandbox.stats()["total"] == before
    assert filed not in text
