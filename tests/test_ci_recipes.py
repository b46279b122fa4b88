"""The CI recipes of examples/ci and the pre-commit hooks: they parse, every `reconcile` command
line in them exists with those flags (the CLI's own parser decides), credentials come only from
the CI's secret store, and the recipes' command lines do what the workflows expect of them."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from support import SECRETS, served_sandbox, url_client
from wazo_reconcile.cli import build_parser, main
from wazo_reconcile.settings import ENV_VARS

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "examples" / "ci"
GITHUB = sorted((CI / "github").glob("*.yml"))
GITLAB = CI / "gitlab" / ".gitlab-ci.yml"
GITLAB_JOBS = CI / "gitlab" / "reconcile-jobs.yml"
CRONJOB = CI / "kubernetes" / "reconcile-drift-cronjob.yaml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
DEV_HOOKS = ROOT / ".pre-commit-config.yaml"
HOOK_EXAMPLE = CI / "pre-commit-config.yaml"
MATCHER = CI / "github" / "reconcile-problem-matcher.json"
HELPER = CI / "gitlab" / "reconcile_gitlab.py"
ALL_FILES = [
    *GITHUB,
    GITLAB,
    GITLAB_JOBS,
    CRONJOB,
    HOOKS,
    DEV_HOOKS,
    HOOK_EXAMPLE,
    MATCHER,
    HELPER,
    CI / "README.md",
]
# How the recipes install wazo-reconcile: from its repository at a pinned commit.
PINNED = re.compile(
    r"wazo-reconcile @ git\+https://github\.com/[\w.-]+/wazo-reconcile@([0-9a-f]{40})"
)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ shell command lines

_OPERATORS = {";", "&&", "||", "|", "&", "(", ")", "!", "{", "}", "$"}
_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "time", "exec"}
# Redirections are not arguments: `> plan.md`, `2> /dev/null`, `2>&1`, `>> "$GITHUB_OUTPUT"`.
_REDIRECT = re.compile(r"\s\d*(?:>>?|<)(?:&\d+|\s*(?:\"[^\"]*\"|'[^']*'|[^\s;|&]+))")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def reconcile_commands(script: str) -> list[list[str]]:
    """The arguments of every `reconcile` command of a shell script, `\\` continuations joined."""
    found: list[list[str]] = []
    for line in re.sub(r"\\\n\s*", " ", script).splitlines():
        if "reconcile" not in line:
            continue
        lexer = shlex.shlex(_REDIRECT.sub(" ", line), posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split = True
        command: list[str] | None = None
        at_command = True
        for token in lexer:
            if command is not None:
                if token in _OPERATORS:
                    found.append(command)
                    command, at_command = None, True
                else:
                    command.append(token)
            elif token in _OPERATORS or token in _KEYWORDS:
                at_command = True
            elif at_command and _ASSIGNMENT.match(token):
                continue  # VAR=value before a command
            elif at_command and token == "reconcile":
                command = []
            else:
                at_command = False
        if command is not None:
            found.append(command)
    return found


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("reconcile validate stacks/a", [["validate", "stacks/a"]]),
        (
            'rc=0\nreconcile plan "stacks/$STACK" --out plan.json \\\n  > plan.md || rc=$?',
            [["plan", "stacks/$STACK", "--out", "plan.json"]],
        ),
        ("X=1 reconcile drift s 2>&1 | tee log; echo reconcile plan", [["drift", "s"]]),
        (
            "if reconcile apply s --auto-approve > /dev/null; then :; fi",
            [["apply", "s", "--auto-approve"]],
        ),
        ('echo "run reconcile plan later" # reconcile apply', []),
        ("out=$(reconcile plan s --format json)", [["plan", "s", "--format", "json"]]),
    ],
)
def test_reconcile_commands_are_found_in_shell(script: str, expected: list[list[str]]) -> None:
    assert reconcile_commands(script) == expected


def github_steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


def github_scripts(path: Path) -> list[str]:
    return [step["run"] for _, step in github_steps(load(path)) if "run" in step]


_GITLAB_RESERVED = {"workflow", "stages", "default", "variables", "include", "image", "services"}


def gitlab_jobs(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: job
        for name, job in document.items()
        if name not in _GITLAB_RESERVED and isinstance(job, dict)
    }


def gitlab_scripts(document: dict[str, Any]) -> list[str]:
    scripts = []
    for job in [document.get("default", {}), *gitlab_jobs(document).values()]:
        for key in ("before_script", "script", "after_script"):
            value = job.get(key, [])
            scripts += [value] if isinstance(value, str) else list(value)
    return scripts


def cronjob_scripts() -> list[str]:
    spec = load(CRONJOB)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return [arg for container in spec["containers"] for arg in container.get("args", [])]


def all_scripts() -> dict[str, list[str]]:
    scripts = {path.name: github_scripts(path) for path in GITHUB}
    scripts[GITLAB.name] = gitlab_scripts(load(GITLAB))
    scripts[GITLAB_JOBS.name] = gitlab_scripts(load(GITLAB_JOBS))
    scripts[CRONJOB.name] = [
        s.replace("/tmp/venv/bin/reconcile", "reconcile") for s in cronjob_scripts()
    ]
    return scripts


def parse(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:  # argparse exits 1 (cli._Parser) on an unknown flag or value
        pytest.fail(
            f"`reconcile {shlex.join(arguments)}` is refused ({exc.code}): "
            f"{capsys.readouterr().err.strip()}"
        )
    assert args.command is not None, arguments
    return args


# ------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    "path", [*GITHUB, GITLAB, GITLAB_JOBS, CRONJOB, HOOKS, DEV_HOOKS, HOOK_EXAMPLE], ids=str
)
def test_ci_file_is_valid_yaml(path: Path) -> None:
    assert isinstance(load(path), dict | list)


def test_the_recipes_exist() -> None:
    assert {p.name for p in GITHUB} == {
        "reconcile-plan.yml",
        "reconcile-apply.yml",
        "reconcile-drift.yml",
    }
    assert set(gitlab_jobs(load(GITLAB))) >= {"fleet", "pbxs"}
    assert set(gitlab_jobs(load(GITLAB_JOBS))) >= {".plan", ".apply", ".drift"}
    assert load(CRONJOB)["kind"] == "CronJob"
    json.loads(MATCHER.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(all_scripts()))
def test_every_reconcile_command_line_exists_with_its_flags(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = [c for script in all_scripts()[name] for c in reconcile_commands(script)]
    used = {parse(arguments, capsys).command for arguments in commands}
    expected = {
        "reconcile-plan.yml": {"fleet", "validate", "plan"},
        "reconcile-apply.yml": {"fleet", "apply"},
        "reconcile-drift.yml": {"fleet", "drift"},
        ".gitlab-ci.yml": {"fleet"},
        "reconcile-jobs.yml": {"validate", "plan", "apply", "drift"},
        "reconcile-drift-cronjob.yaml": {"drift"},
    }
    assert used == expected[name]


def test_a_wrong_flag_in_a_recipe_would_be_caught(capsys: pytest.CaptureFixture[str]) -> None:
    (command,) = reconcile_commands('reconcile plan "stacks/$STACK" --outfile plan.json')
    with pytest.raises(pytest.fail.Exception, match="--outfile"):
        parse(command, capsys)


def test_recipes_pass_credentials_only_through_the_environment() -> None:
    for name, scripts in all_scripts().items():
        for script in scripts:
            for arguments in reconcile_commands(script):
                flags = {a.split("=")[0] for a in arguments}
                assert not flags & {"--token", "--password", "--username", "--insecure"}, name
            assert not re.search(r"\bWAZO_[A-Z_]+=", script), (name, script)


def _github_envs(workflow: dict[str, Any]) -> Iterator[dict[str, str]]:
    yield workflow.get("env", {})
    for job in workflow["jobs"].values():
        yield job.get("env", {})
        for step in job.get("steps", []):
            yield step.get("env", {})


_SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET")


@pytest.mark.parametrize("path", GITHUB, ids=lambda p: p.name)
def test_github_credentials_come_from_the_secret_store(path: Path) -> None:
    workflow = load(path)
    known = set(ENV_VARS.values())
    for env in _github_envs(workflow):
        for key, value in env.items():
            if key.startswith("WAZO_"):
                assert key in known, f"{key}: not a variable of reconcile"
                assert value == f"${{{{ secrets.{key} }}}}", (key, value)
            elif _SECRET_NAME.search(key):
                allowed = (f"${{{{ secrets.{key} }}}}", "${{ github.token }}", ALL_SECRETS)
                assert value in allowed, key
    for job in workflow["jobs"].values():
        if "secrets.WAZO_" in json.dumps(job) or ALL_SECRETS in json.dumps(job):
            assert "environment" in job, "per-instance secrets come from an environment"


# The secrets of the job's environment, from which a step passes on those the PBX needs
# (`reconcile fleet env`): the workflows never name a secret.
ALL_SECRETS = "${{ toJSON(secrets) }}"


@pytest.mark.parametrize("path", GITHUB, ids=lambda p: p.name)
def test_github_scripts_do_not_interpolate_event_data(path: Path) -> None:
    # `${{ github.event.… }}` in a script is a script injection (titles, branch names): pass
    # such values through `env:` instead.
    for script in github_scripts(path):
        assert "${{" not in script, script


def test_gitlab_sets_no_credential() -> None:
    document = load(GITLAB)
    for scope in [document, *gitlab_jobs(document).values()]:
        for key in scope.get("variables", {}) or {}:
            assert not key.startswith("WAZO_") and not _SECRET_NAME.search(key), key


_URL = re.compile(r"https?://([^/\s\"'`)>]+)")
_ALLOWED_HOST = re.compile(r"(^|\.)example(\.com|\.net|\.org)?$|^github\.com$|^pre-commit\.com$")


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_no_secret_value_and_no_package_index_in_ci_files(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for value in SECRETS.values():
        assert value not in text
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text)
    assert not re.search(r"index-url|find-links|trusted-host|extra-index", text)
    for host in _URL.findall(text):
        assert _ALLOWED_HOST.search(host.rsplit(":", 1)[0]), f"{path.name}: {host}"


def test_pip_installs_only_wazo_reconcile_at_one_pinned_commit() -> None:
    installs = 0
    for scripts in all_scripts().values():
        for script in scripts:
            for match in re.finditer(r"pip install ([^\n#;&|]*)", script):
                installs += 1
                for word in shlex.split(match[1]):
                    assert word in ("-q", "--quiet", "$RECONCILE") or PINNED.fullmatch(word), word
    assert installs >= 6
    commits = set()
    for path in [*GITHUB, GITLAB, GITLAB_JOBS, CRONJOB]:
        found = PINNED.findall(path.read_text(encoding="utf-8"))
        assert found, f"{path.name} installs no pinned commit"
        commits.update(found)
    (rev,) = {load(HOOK_EXAMPLE)["repos"][0]["rev"]}
    assert commits == {rev}, "the recipes and the pre-commit example pin one commit"


def test_the_pinned_commit_exists_in_this_repository() -> None:
    (rev,) = {load(HOOK_EXAMPLE)["repos"][0]["rev"]}
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    found = subprocess.run(
        [git, "-C", str(ROOT), "cat-file", "-e", f"{rev}:.pre-commit-hooks.yaml"],
        capture_output=True,
        check=False,
    )
    if (
        found.returncode != 0
        and subprocess.run(
            [git, "-C", str(ROOT), "rev-parse", "--is-shallow-repository"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        == "true"
    ):
        pytest.skip("a shallow clone: older commits are not here")
    assert found.returncode == 0, f"{rev} is not a commit of this repository with the hooks"


def test_the_saved_plan_travels_under_one_artifact_name() -> None:
    plan = load(CI / "github" / "reconcile-plan.yml")
    uploads = [
        s["with"]["name"]
        for _, s in github_steps(plan)
        if str(s.get("uses", "")).startswith("actions/upload-artifact")
    ]
    assert uploads == ["plan-${{ matrix.pbx }}"]
    apply_scripts = "\n".join(github_scripts(CI / "github" / "reconcile-apply.yml"))
    assert 'gh run download "$run" --name "plan-$PBX" --dir plan' in apply_scripts
    assert "actions/workflows/reconcile-plan.yml/runs" in apply_scripts
    assert "--plan plan/plan.json" in apply_scripts


def test_github_triggers() -> None:
    def triggers(name: str) -> dict[str, Any]:
        document = load(CI / "github" / name)
        return dict(document.get("on", document.get(True)))  # YAML 1.1 reads `on` as true

    assert "pull_request" in triggers("reconcile-plan.yml")
    assert triggers("reconcile-apply.yml")["push"]["branches"] == ["main"]
    assert "schedule" in triggers("reconcile-drift.yml")


def test_the_problem_matcher_reads_validate_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "version: 1\ntrunks:\n  acme:\n    context: from-extern\n    bogus: 1\n"
        "  other:\n    templates: [missing]\n",
        encoding="utf-8",
    )
    assert main(["validate", str(stack)]) == 1
    lines = capsys.readouterr().err.splitlines()
    pattern = json.loads(MATCHER.read_text(encoding="utf-8"))["problemMatcher"][0]["pattern"][0]
    regexp = re.compile(pattern["regexp"])
    severities = set()
    for line in lines:
        match = regexp.match(line)
        assert match, line
        assert match[pattern["file"]] == str(stack)
        severities.add(match[pattern["severity"]] or "error")
    assert severities == {"error", "warning"}


# ----------------------------------------------------------------------- pre-commit hooks


def test_pre_commit_hooks_run_reconcile_validate(capsys: pytest.CaptureFixture[str]) -> None:
    hooks = {hook["id"]: hook for hook in load(HOOKS)}
    assert set(hooks) == {"reconcile-validate", "reconcile-validate-files"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert {"name", "entry", "files"} <= set(hook)
        files = re.compile(hook["files"])
        assert files.search("stacks/paris/trunks.yaml") and files.search("pbx.yml")
        assert not files.search("README.md")
        entry = shlex.split(hook["entry"])
        assert entry[0] == "reconcile"
        extra = ["stacks/paris/trunks.yaml"] if hook["pass_filenames"] else ["stacks/paris"]
        assert parse([*entry[1:], *hook.get("args", []), *extra], capsys).command == "validate"
    assert hooks["reconcile-validate"]["pass_filenames"] is False


def test_pre_commit_example_uses_the_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    manifest = {hook["id"]: hook for hook in load(HOOKS)}
    (repo,) = load(HOOK_EXAMPLE)["repos"]
    for hook in repo["hooks"]:
        entry = shlex.split(manifest[hook["id"]]["entry"])
        assert parse([*entry[1:], *hook["args"]], capsys).command == "validate"


def test_dev_hooks_follow_the_style_guide() -> None:
    ids = {hook["id"] for repo in load(DEV_HOOKS)["repos"] for hook in repo["hooks"]}
    assert ids >= {
        "trailing-whitespace",
        "end-of-file-fixer",
        "check-yaml",
        "check-json",
        "check-toml",
        "ruff-check",
        "ruff-format",
        "mypy",
    }


def test_the_mypy_hook_installs_every_dependency_the_checked_code_imports() -> None:
    """The hook runs mypy in an environment of its own: a runtime dependency, or a test
    dependency that tests import, missing there is an import error under --strict."""

    def names(specs: list[str]) -> set[str]:  # "orjson>=3.9" -> "orjson"
        return {re.split(r"[<>=!~\[ ]", spec)[0].lower() for spec in specs}

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project, checked = pyproject["project"], pyproject["tool"]["mypy"]["files"]
    (mypy,) = [h for repo in load(DEV_HOOKS)["repos"] for h in repo["hooks"] if h["id"] == "mypy"]
    imported = {
        match.group(1).lower()
        for path in (ROOT / "tests").rglob("*.py")
        for match in re.finditer(r"^(?:import|from) (\w+)", path.read_text(), re.MULTILINE)
    }
    wanted = names(project["dependencies"])
    wanted |= names(project["optional-dependencies"]["test"]) & imported
    given = names(mypy["additional_dependencies"])
    assert "tests" in checked and wanted >= {"pytest", "hypothesis"}
    assert wanted <= given, f"add to the mypy hook: {sorted(wanted - given)}"


# ---------------------------------------------------------------- the GitLab API helper


def _helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reconcile_gitlab", HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reconcile_gitlab", module)
    spec.loader.exec_module(module)
    return module


class FakeGitLab:
    """The few GitLab API answers the helper reads, and the writes it makes."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.writes: list[tuple[str, str, Any]] = []

    def get(self, path: str, **params: Any) -> Any:
        return self.data[path]

    def pages(self, path: str, **params: Any) -> Iterator[Any]:
        yield from self.data.get(path, [])

    def post(self, path: str, data: Any) -> Any:
        self.writes.append(("POST", path, data))
        return {"id": 99, "iid": 7}

    def put(self, path: str, data: Any) -> Any:
        self.writes.append(("PUT", path, data))

    def download(self, path: str) -> bytes:
        body: bytes = self.data[path]
        return body


def test_mr_note_is_updated_in_place() -> None:
    helper = _helper()
    api = FakeGitLab(
        {
            "merge_requests/5/notes": [
                {"id": 1, "body": "LGTM"},
                {"id": 2, "body": helper.marker("lyon") + "\nold"},
                {"id": 3, "body": helper.marker("paris") + "\nold"},
            ]
        }
    )
    body = helper.note_body("paris", "### plan", commit="0123456789abcdef")
    assert helper.upsert_note(api, "5", "paris", body) == "updated note 3"
    assert api.writes == [("PUT", "merge_requests/5/notes/3", {"body": body})]


def test_mr_note_is_posted_once() -> None:
    helper = _helper()
    api = FakeGitLab({"merge_requests/5/notes": [{"id": 2, "body": helper.marker("lyon")}]})
    assert helper.upsert_note(api, "5", "paris", "x") == "posted note 99"
    assert api.writes == [("POST", "merge_requests/5/notes", {"body": "x"})]


def test_long_plans_are_truncated_in_notes() -> None:
    helper = _helper()
    body = helper.note_body("paris", "x" * 100_000, commit="abc")
    assert body.startswith(helper.marker("paris")) and len(body) < 61_000
    assert "truncated" in body


def test_fetch_plan_takes_the_newest_plan_job_of_the_merged_request() -> None:
    helper = _helper()
    api = FakeGitLab(
        {
            "repository/commits/abc/merge_requests": [
                {"iid": 4, "state": "closed"},
                {"iid": 5, "state": "merged", "sha": "head"},
            ],
            "merge_requests/5/pipelines": [{"id": 20}, {"id": 10}],
            "pipelines/20/jobs": [
                {"id": 201, "name": "plan: [lyon]", "artifacts_file": {"filename": "a.zip"}},
                {"id": 202, "name": "plan: [paris]"},  # skipped: no artifacts
            ],
            "pipelines/10/jobs": [
                {"id": 101, "name": "plan: [paris]", "artifacts_file": {"filename": "a.zip"}}
            ],
            "jobs/101/artifacts/plan.json": b"{}",
        }
    )
    assert helper.fetch_plan(api, "abc", "plan: [paris]") == (b"{}", "the plan of !5, job 101")
    with pytest.raises(SystemExit, match="no 'plan: \\[nice\\]' job"):
        helper.fetch_plan(api, "abc", "plan: [nice]")
    api.data["repository/commits/abc/merge_requests"] = []
    with pytest.raises(SystemExit, match="not merged from a merge request"):
        helper.fetch_plan(api, "abc", "plan: [paris]")


@pytest.mark.parametrize(
    ("exit_code", "open_issues", "result", "writes"),
    [
        (2, [], "opened issue #7", [("POST", "issues")]),
        (
            2,
            [{"iid": 3, "title": "Drift on stacks/paris"}],
            "updated issue #3",
            [("PUT", "issues/3")],
        ),
        (
            2,
            [{"iid": 3, "title": "Drift on stacks/parisx"}],
            "opened issue #7",
            [("POST", "issues")],
        ),
        (
            0,
            [{"iid": 3, "title": "Drift on stacks/paris"}],
            "closed issue #3",
            [("POST", "issues/3/notes"), ("PUT", "issues/3")],
        ),
        (0, [], "nothing to do", []),
    ],
)
def test_drift_issue(
    exit_code: int, open_issues: list[Any], result: str, writes: list[tuple[str, str]]
) -> None:
    helper = _helper()
    api = FakeGitLab({"issues": open_issues})
    assert helper.drift_issue(api, "paris", exit_code, "### drift", run_url="u") == result
    assert [(method, path) for method, path, _ in api.writes] == writes


def test_helper_cli_needs_its_token(tmp_path: Path) -> None:
    helper = _helper()
    with pytest.raises(SystemExit, match="RECONCILE_GITLAB_TOKEN"):
        helper.main(["drift-issue", "--stack", "p", "--exit-code", "0", "--body-file", "x"], {})


# ------------------------------------------------- the recipes' commands, end to end


def _commands(path: Path, job: str) -> list[list[str]]:
    workflow = load(path)
    scripts = [step["run"] for step in workflow["jobs"][job]["steps"] if "run" in step]
    return [c for script in scripts for c in reconcile_commands(script)]


def _run(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([a.replace("$PBX", "paris") for a in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_github_recipes_plan_apply_and_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plan job's commands on a pull request, the apply job's on the merge, then drift:
    with the exit codes and files the workflows rely on, against a sandbox on 127.0.0.1."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    pr, merged = tmp_path / "pr", tmp_path / "main"

    def without_fleet(commands: list[list[str]]) -> list[list[str]]:
        env = [c for c in commands if c[0] == "fleet"]  # the secrets step: names only
        assert all(c[:2] == ["fleet", "env"] for c in env)
        return [c for c in commands if c[0] != "fleet"]

    plan_jobs = without_fleet(_commands(CI / "github" / "reconcile-plan.yml", "plan"))
    apply_jobs = without_fleet(_commands(CI / "github" / "reconcile-apply.yml", "apply"))
    drift_jobs = without_fleet(_commands(CI / "github" / "reconcile-drift.yml", "drift"))
    with served_sandbox() as url:
        for checkout in (pr, merged):
            shutil.copytree(ROOT / "examples" / "nat-provider", checkout / "stacks" / "paris")
            (checkout / "inventory.yaml").write_text(
                f"version: 1\npbxs:\n  paris: {{url: '{url}', stacks: [stacks/paris]}}\n",
                encoding="utf-8",
            )
        monkeypatch.setenv("WAZO_TOKEN", "ci-token")  # the inventory's default credentials
        monkeypatch.chdir(pr)
        validate, plan = plan_jobs
        assert _run(validate, capsys)[0] == 0
        code, markdown, _ = _run(plan, capsys)
        assert code == 2  # --detailed-exitcode: changes pending
        assert markdown.startswith("### wazo-reconcile plan")
        assert "Asterisk restart required" in markdown
        (merged / "plan").mkdir()
        shutil.copy(pr / "plan.json", merged / "plan" / "plan.json")  # the artifact
        assert SECRETS["ACME_PASSWORD"] not in (pr / "plan.json").read_text(encoding="utf-8")

        monkeypatch.chdir(merged)
        (apply,) = apply_jobs
        assert _run(apply, capsys)[0] == 0
        report = json.loads((merged / "report.json").read_text(encoding="utf-8"))
        assert report["summary"]["failed"] == 0 and report["restart_required"] is True

        (drift,) = drift_jobs
        code, markdown, _ = _run(drift, capsys)
        assert code == 0 and "No drift" in markdown
        with url_client(url) as client:  # a hand edit on the PBX
            trunk = client.get("/endpoints/sip", params={"name": "acme"})["items"][0]
            client.put(f"/endpoints/sip/{trunk['uuid']}", {"label": "edited by hand"})
        code, markdown, _ = _run(drift, capsys)
        assert code == 2 and markdown.startswith("### wazo-reconcile drift")
        # The reviewed plan is stale now: apply refuses it and writes nothing.
        code, _, err = _run(apply, capsys)
        assert code == 1 and "the saved plan is stale" in err
        assert "update trunks/acme is now needed" in err


# ------------------------------------------------------------------- trunk health (issue 27)


def test_the_apply_recipe_waits_for_the_trunks_and_drift_checks_them() -> None:
    (apply_job,) = [
        c for c in _commands(CI / "github" / "reconcile-apply.yml", "apply") if "apply" in c
    ]
    assert "--wait-healthy" in apply_job and "--report" in apply_job
    (drift_job,) = [
        c for c in _commands(CI / "github" / "reconcile-drift.yml", "drift") if "drift" in c
    ]
    assert "--health" in drift_job
    apply_scripts = "\n".join(github_scripts(CI / "github" / "reconcile-apply.yml"))
    assert "5) echo" in apply_scripts


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("bash") is None, reason="no jq")
def test_an_unhealthy_trunk_of_the_report_becomes_an_annotation(tmp_path: Path) -> None:
    import subprocess

    (script,) = [
        step["run"]
        for _, step in github_steps(load(CI / "github" / "reconcile-apply.yml"))
        if step.get("name") == "Trunks not up after the apply?"
    ]
    trunk = {
        "name": "hq-iax",
        "tenant": "t",
        "id": 2,
        "technology": "iax",
        "registration_expected": True,
        "registered": False,
        "current_call_count": 0,
        "state": "not registered",
        "healthy": False,
    }
    healthy = {**trunk, "name": "acme", "registered": True, "state": "registered", "healthy": True}
    health = {"healthy": False, "summary": {}, "unhealthy": ["hq-iax"], "trunks": [healthy, trunk]}

    def annotations(report: dict[str, object]) -> str:
        (tmp_path / "report.json").write_text(json.dumps(report))
        env = {"PATH": os.environ["PATH"], "PBX": "paris"}
        run = subprocess.run(
            ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    assert annotations({"health": health}).splitlines() == [
        "::error::paris: trunk hq-iax (iax) is not registered after the apply: check its "
        "registration (credentials, NAT, the provider)"
    ]
    assert annotations({"health_error": "HTTP 502"}) == (
        "::warning::paris: the trunks health could not be read: HTTP 502\n"
    )
