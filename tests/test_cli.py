from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

import pytest

from wazo_reconcile import cli


def registered_summaries() -> dict[str, str]:
    parser = cli.build_parser()  # without argv: every command module registers itself
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {choice.dest: str(choice.help) for choice in action._choices_actions}


def test_summaries_are_what_the_command_modules_register() -> None:
    registered = registered_summaries()
    assert {name: registered[name] for name in cli.SUMMARIES} == cli.SUMMARIES


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name, summary in registered_summaries().items():
        assert f"{name}  " in out and summary in out


def imported_modules(*argv: str) -> list[str]:
    """The modules imported once the parser of ``reconcile ARGV`` is built."""
    code = (
        "import sys; from wazo_reconcile import cli; cli.build_parser(sys.argv[1:]); "
        "print(' '.join(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def imported_commands(*argv: str) -> list[str]:
    return [m for m in imported_modules(*argv) if m.startswith("wazo_reconcile.comm")]


def test_only_the_chosen_command_is_imported() -> None:
    assert "wazo_reconcile.commands.sandbox" not in imported_commands("validate", "x")
    found = imported_commands("plan", "--url", "u", "x")
    assert "wazo_reconcile.commands.plan" in found
    assert "wazo_reconcile.commands.export" not in found
    assert "wazo_reconcile.commands.sandbox" not in found
    assert not any(m.endswith((".plan", ".apply", ".sandbox")) for m in imported_commands("--help"))


@pytest.mark.parametrize("command", ["plan", "apply", "drift"])
def test_commands_that_read_a_stack_first_import_the_client_later(command: str) -> None:
    """httpx (most of the client's 0.1 s import) is imported when the client is needed, after
    the stack is read and checked (a bad stack never pays for it)."""
    found = imported_modules(command, "--url", "u", "x")
    assert f"wazo_reconcile.commands.{command}" in found
    assert "wazo_reconcile.confd" not in found and "httpx" not in found


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["nope"])
    assert exit_info.value.code == 1
    assert "invalid choice: 'nope'" in capsys.readouterr().err


PROTECTED = "version: 1\npjsip:\n  global: {user_agent: ACME}\npolicy: {protect: [pjsip/global]}\n"


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_safety_guard_refuses_with_exit_3_and_force_overrides_it(
    command: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(PROTECTED)
    extra = ["--auto-approve"] if command == "apply" else []
    assert cli.main([command, "--sandbox", *extra, str(stack)]) == 3
    out, err = capsys.readouterr()
    assert "Refused: pjsip/global is protected by policy" in out
    assert "refused by safety guards" in err
    assert cli.main([command, "--sandbox", "--force", *extra, str(stack)]) == 0
    out, err = capsys.readouterr()
    assert "Refused" not in out + err
    assert "Overridden by --force: pjsip/global is protected by policy" in out
