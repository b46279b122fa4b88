"""Every command's --help is complete: a description, examples naming the command, exit status."""

from __future__ import annotations

import importlib.util
import re
import shlex

import pytest

from wazo_reconcile.cli import COMMANDS, build_parser, main

# `explain` has subcommands: its help is checked for `explain caller-id`.
HELP_COMMANDS: list[tuple[str, ...]] = [
    (name,)
    for name in COMMANDS
    if name != "explain" and importlib.util.find_spec(f"wazo_reconcile.commands.{name}")
]
if importlib.util.find_spec("wazo_reconcile.commands.explain"):
    HELP_COMMANDS.append(("explain", "caller-id"))


def help_text(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_every_core_command_is_registered() -> None:
    names = {command[0] for command in HELP_COMMANDS}
    assert names >= {"validate", "plan", "apply", "drift", "export", "sandbox"}


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
def test_help_is_complete(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(command, capsys)
    name = " ".join(command)
    usage, _, rest = text.partition("\n\n")
    assert usage.startswith(f"usage: reconcile {name}")
    description = rest.split("\n\n")[0].strip()
    assert len(description) > 40 and not description.startswith(("positional", "options")), text
    assert "\nexamples:\n" in text, f"{name}: no examples section"
    examples = text.split("\nexamples:\n", 1)[1]
    lines = [line.strip() for line in examples.splitlines()]
    assert sum(line.startswith(f"reconcile {name}") for line in lines) >= 2, examples
    assert re.search(r"^exit status: 0 ", text, re.M), f"{name}: exit status not documented"


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
def test_help_examples_are_valid_command_lines(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_text(command, capsys)
    examples = text.split("\nexamples:\n", 1)[1]
    parser = build_parser()
    checked = 0
    for line in examples.splitlines():
        line = re.split(r"\s+#\s", line.strip())[0]  # drop a trailing comment
        line = re.split(r"\s[|>&]", line)[0]  # and a pipe or redirection
        if not line.startswith("reconcile "):
            continue
        try:
            args = parser.parse_args(shlex.split(line)[1:])
        except SystemExit:
            pytest.fail(f"example refused by the parser: {line}\n{capsys.readouterr().err}")
        checked += args.command == command[0]  # a help may show the next steps' commands too
    assert checked >= 2


def test_top_level_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in HELP_COMMANDS:
        assert command[0] in text
