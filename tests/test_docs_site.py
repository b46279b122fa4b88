"""The documentation site builds with `mkdocs build --strict` and no warning; broken internal
links fail it; the pages the project promises exist; command lines shown in them are valid."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wazo_reconcile.cli import COMMANDS, build_parser
from wazo_reconcile.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p.name for p in DOCS.glob("*.md"))


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    output = result.stdout + result.stderr
    return [line for line in output.splitlines() if re.match(r"(WARNING|ERROR)\b", line)]


def test_site_builds_without_warnings(tmp_path: Path) -> None:
    result = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0 and not problems(result), result.stdout + result.stderr
    for page in PAGES:  # every page of docs/ is published, in the nav or under "More"
        assert (tmp_path / "site" / page.removesuffix(".md") / "index.html").exists() or (
            page == "index.md" and (tmp_path / "site" / "index.html").exists()
        ), page
    assert (tmp_path / "site" / "examples" / "ci" / "github" / "reconcile-plan.yml").exists()
    assert "site_hooks" not in {p.stem for p in (tmp_path / "site").rglob("*.py")}


def _copy_project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(DOCS, copy / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "examples", copy / "examples")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    return copy


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("[gone](no-such-page.md)", "not found among documentation files"),
        ("[gone](ci.md#no-such-heading)", "no-such-heading"),
        ("[gone](../examples/no-such-stack/stack.yaml)", "not found among documentation files"),
    ],
)
def test_a_broken_internal_link_fails_the_build(tmp_path: Path, link: str, message: str) -> None:
    copy = _copy_project(tmp_path)
    faq = copy / "docs" / "faq.md"
    faq.write_text(faq.read_text(encoding="utf-8") + f"\nSee {link}.\n", encoding="utf-8")
    result = build(copy / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0 or problems(result)
    assert message in result.stdout + result.stderr


def test_a_page_missing_from_the_nav_is_still_published(tmp_path: Path) -> None:
    copy = _copy_project(tmp_path)
    (copy / "docs" / "new-page.md").write_text("# New page\n\nSee [the FAQ](faq.md).\n")
    result = build(copy / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0 and not problems(result), result.stdout + result.stderr
    assert (tmp_path / "site" / "new-page" / "index.html").exists()


def test_nav_names_existing_pages() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def paths(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, dict):
            return [p for value in nav.values() for p in paths(value)]
        if isinstance(nav, list):
            return [p for item in nav for p in paths(item)]
        return []

    listed = paths(config["nav"])
    for page in listed:
        assert (DOCS / page).exists() or (ROOT / page).exists(), page
    required = {
        "index.md",
        "getting-started.md",
        "format.md",
        "ownership.md",
        "asterisk-impact.md",
        "health.md",
        "caller-id.md",
        "ci.md",
        "exit-codes.md",
        "troubleshooting.md",
        "faq.md",
        "export.md",
        "connection.md",
        "sandbox.md",
    }
    assert required <= set(listed)


def test_exit_code_page_covers_every_exit_code() -> None:
    text = (DOCS / "exit-codes.md").read_text(encoding="utf-8")
    table = {int(m) for m in re.findall(r"^\| (\d+) \|", text, re.M)}
    assert table == {int(code) for code in ExitCode}


def _shell_commands(page: Path) -> list[str]:
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    lines = []
    for block in blocks:
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = re.split(r"\s+#\s", line)[0]
            for part in re.split(r"\s*(?:&&|\|\||;|\|)\s*", line):
                part = re.sub(r"\s\d*>>?\s*\S+", "", part).strip()
                part = re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", part)
                if part.startswith("reconcile "):
                    lines.append(part)
    return lines


REGISTERED = {
    name for name in COMMANDS if importlib.util.find_spec(f"wazo_reconcile.commands.{name}")
}


@pytest.mark.parametrize("page", PAGES)
def test_command_lines_in_the_docs_are_valid(page: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    for line in _shell_commands(DOCS / page):
        if "[-" in line or "..." in line:
            continue  # a usage synopsis, not a command line
        words = shlex.split(line)[1:]
        if words and words[0] not in REGISTERED:
            continue  # a command still being built
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"{page}: `{line}` is refused: {capsys.readouterr().err}")


def test_docs_command_lines_are_found() -> None:
    found = _shell_commands(DOCS / "getting-started.md")
    assert "reconcile export --output stacks/paris" in found
    assert "reconcile plan --detailed-exitcode stacks/paris" in found
