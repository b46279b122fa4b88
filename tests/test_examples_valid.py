from __future__ import annotations

import re
from pathlib import Path

import pytest

from wazo_reconcile.cli import main
from wazo_reconcile.stack import stack_files

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCHEMA_COMMENT = re.compile(r"# yaml-language-server: \$schema=(\S+)")


def readme_rows() -> dict[str, list[str]]:
    """Example directory -> environment variables, from the table of examples/README.md."""
    rows = {}
    for line in (EXAMPLES / "README.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| \[([\w-]+)/\]", line)
        if match:
            last_cell = line.rstrip("|").rsplit("|", 1)[-1]
            rows[match[1]] = re.findall(r"`([A-Z][A-Z0-9_]*)`", last_cell)
    return rows


EXAMPLE_DIRS = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name != "ci")


def test_readme_lists_every_example() -> None:
    assert sorted(readme_rows()) == EXAMPLE_DIRS
    assert len(EXAMPLE_DIRS) == 7


@pytest.mark.parametrize("name", EXAMPLE_DIRS)
def test_example_is_valid_without_warnings(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in readme_rows()[name]:
        monkeypatch.setenv(variable, f"test-value-of-{variable.lower()}")
    assert main(["validate", "--strict", str(EXAMPLES / name)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(f"{EXAMPLES / name}: 0 errors, 0 warnings")


@pytest.mark.parametrize("name", EXAMPLE_DIRS)
def test_example_needs_exactly_the_variables_the_readme_lists(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(EXAMPLES / name)]) == (1 if readme_rows()[name] else 0)
    err = capsys.readouterr().err
    missing = set(re.findall(r"environment variable ([A-Z0-9_]+) is not set", err))
    assert missing == set(readme_rows()[name])


@pytest.mark.parametrize(
    "path", [p for name in EXAMPLE_DIRS for p in stack_files(EXAMPLES / name)], ids=str
)
def test_example_file_points_editors_at_the_schema(path: Path) -> None:
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    match = SCHEMA_COMMENT.fullmatch(first_line)
    assert match is not None
    assert (path.parent / match[1]).resolve() == ROOT / "schemas" / "stack.schema.json"


def test_examples_write_no_literal_password() -> None:
    for name in EXAMPLE_DIRS:
        for path in stack_files(EXAMPLES / name):
            for line in path.read_text(encoding="utf-8").splitlines():
                if re.match(r"\s*(password|secret):", line):
                    assert "${env:" in line, f"{path}: {line}"
